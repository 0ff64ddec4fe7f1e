"""Fetched sources: download, verify and unpack into the content-addressed cache.

Each source is pinned (sha256 for archives and PyPI sdists, the full commit id for git)
and lands in ``<cache>/fetch/<kind>-<pin>/``; the pin *is* the cache key, so a cached
tree is reused without any network access and a changed pin fetches anew. Downloads are
verified before anything is unpacked, and unpacking refuses members that would escape
the tree (tarfile's ``data`` filter; the same checks for zip).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.parse
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from crossjit.compile import cache
from crossjit.errors import CrossjitError, Progress, quiet
from crossjit.project.profile import ArchiveSource, FetchSpec, GitSource, PypiSource

PYPI_INDEX = "https://pypi.org/simple/"
TIMEOUT = 60.0


class FetchError(CrossjitError):
    """A pinned source could not be downloaded or did not match its pin."""


def fetch(name: str, spec: FetchSpec, progress: Progress | None = None) -> Path:
    """The directory of fetched source ``name`` (its ``subpath`` applied), fetching if needed."""
    kind = {GitSource: "git", ArchiveSource: "archive", PypiSource: "pypi"}[type(spec)]
    entry = cache.subdir("fetch") / f"{kind}-{spec.pin}"
    tree = entry / "tree"
    if not tree.is_dir():
        say = progress or quiet
        with _staging(entry.parent) as tmp:
            if isinstance(spec, GitSource):
                say(f"fetching {name}: git {spec.git} @ {spec.commit[:12]}")
                _git(spec, tmp / "tree")
            else:
                url = _pypi_url(spec) if isinstance(spec, PypiSource) else spec.url
                say(f"fetching {name}: {url}")
                archive = tmp / _filename(url)
                _download(url, archive, spec.sha256)
                _unpack(archive, tmp / "tree")
                archive.unlink()
            with contextlib.suppress(OSError):  # a concurrent run may have won the race
                os.replace(tmp, entry)
    root = tree / spec.subpath if spec.subpath else tree
    if not root.is_dir():
        raise FetchError(
            f"fetched source {name!r} has no directory {spec.subpath!r}",
            why=f"unpacked into {tree}",
            hint="fix 'subpath' (it is relative to the archive's top directory)",
        )
    return root


@contextlib.contextmanager
def _staging(parent: Path) -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=".tmp-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _filename(url: str) -> str:
    name = os.path.basename(urllib.parse.urlparse(url).path)
    return name or "download"


def _download(url: str, dest: Path, sha256: str) -> None:
    import urllib.error
    import urllib.request  # here: ~50 ms of imports that a cached fetch never needs

    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as resp, dest.open("wb") as out:
            while chunk := resp.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError) as exc:
        raise FetchError(
            f"cannot download {url}",
            why=str(getattr(exc, "reason", exc)),
            hint="check the URL and your network access; a fetched tree is cached once it "
            "has been downloaded",
        ) from None
    if digest.hexdigest() != sha256:
        raise FetchError(
            f"{url} does not match its pinned sha256",
            why=f"expected {sha256}\ngot      {digest.hexdigest()}",
            hint="if the new content is trusted, update 'sha256' in the profile",
        )


class _Links(HTMLParser):
    """Anchors of a PEP 503 simple index page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def _pypi_url(spec: PypiSource) -> str:
    """The sdist URL of ``name==version`` whose index-published sha256 is the pinned one."""
    import urllib.error
    import urllib.request  # see _download

    index = os.environ.get("CROSSJIT_PYPI_INDEX", PYPI_INDEX).rstrip("/") + "/"
    project = re.sub(r"[-_.]+", "-", spec.project).lower()  # PEP 503 normalisation
    page = urllib.parse.urljoin(index, f"{project}/")
    try:
        with urllib.request.urlopen(page, timeout=TIMEOUT) as resp:
            html = resp.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        raise FetchError(
            f"cannot reach the package index for {spec.pypi}",
            why=f"{page}: {getattr(exc, 'reason', exc)}",
            hint="set CROSSJIT_PYPI_INDEX to a reachable simple index",
        ) from None
    parser = _Links()
    parser.feed(html)
    # PEP 625 sdists normalise the name to underscores; older ones keep the project's spelling.
    stem = re.compile(
        rf"{re.sub(r'[-_.]+', '[-_.]', project)}-{re.escape(spec.version)}"
        r"\.(tar\.gz|zip)",
        re.I,
    )
    sdists: dict[str, str] = {}
    for href in parser.hrefs:
        url, _, frag = urllib.parse.urljoin(page, href).partition("#")
        if stem.fullmatch(_filename(url)):
            sdists[url] = frag.removeprefix("sha256=") if frag.startswith("sha256=") else ""
    for url, published in sdists.items():
        if published in (spec.sha256, ""):
            return url
    if not sdists:
        raise FetchError(
            f"PyPI has no source distribution for {spec.pypi}",
            why=f"no {spec.project}-{spec.version}.tar.gz or .zip on {page}",
            hint="check the name and version (crossjit needs the sdist, not a wheel)",
        )
    found = "\n".join(f"{_filename(u)}  sha256={h}" for u, h in sdists.items())
    raise FetchError(
        f"the sdist of {spec.pypi} does not match the pinned sha256",
        why=f"the profile pins {spec.sha256}; the index has\n{found}",
        hint="if the index's file is trusted, copy its sha256 into the profile",
    )


def _unpack(archive: Path, dest: Path) -> None:
    """Unpack, then drop a single top-level directory (``pkg-1.0/``) so subpaths are stable."""
    raw = dest.with_name("raw")
    raw.mkdir()
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    target = (raw / member).resolve()
                    if not target.is_relative_to(raw.resolve()):
                        raise FetchError(f"{archive.name}: member {member!r} escapes the archive")
                zf.extractall(raw)
        else:
            with tarfile.open(archive) as tf:
                tf.extractall(raw, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise FetchError(f"cannot unpack {archive.name}", why=str(exc)) from None
    entries = list(raw.iterdir())
    top = entries[0] if len(entries) == 1 and entries[0].is_dir() else raw
    os.replace(top, dest)
    shutil.rmtree(raw, ignore_errors=True)


def _git(spec: GitSource, dest: Path) -> None:
    def git(*args: str, cwd: Path | None = None) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=True
            )
        except FileNotFoundError:
            raise FetchError("git is not installed", hint="apt-get install git") from None
        except subprocess.CalledProcessError as exc:
            raise FetchError(
                f"git {args[0]} failed for {spec.git}", why=(exc.stderr or "").strip()
            ) from None
        except subprocess.TimeoutExpired:
            raise FetchError(f"git {args[0]} of {spec.git} timed out") from None
        return done.stdout.strip()

    git("clone", "--quiet", "--no-checkout", spec.git, str(dest))
    git("-c", "advice.detachedHead=false", "checkout", "--quiet", spec.commit, cwd=dest)
    head = git("rev-parse", "HEAD", cwd=dest)
    if head != spec.commit:
        raise FetchError(f"{spec.git}: commit {spec.commit} not found (HEAD is {head})")
    if spec.tag is not None:
        tagged = git("rev-parse", f"{spec.tag}^{{commit}}", cwd=dest)
        if tagged != spec.commit:
            raise FetchError(
                f"{spec.git}: tag {spec.tag} is {tagged}, not the pinned {spec.commit}",
                hint="a moved tag is suspicious; check upstream before updating the pin",
            )
    shutil.rmtree(dest / ".git")

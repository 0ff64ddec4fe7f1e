"""Fetched sources: git and archive pins against local repositories and files."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from crossjit.project.fetch import FetchError, fetch
from crossjit.project.profile import ArchiveSource, GitSource


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "crossjit"


def make_tarball(path: Path, files: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_archive_is_verified_unpacked_and_cached(tmp_path: Path, cache: Path) -> None:
    tgz = tmp_path / "lib-1.0.tar.gz"
    sha = make_tarball(tgz, {"lib-1.0/src/lib.c": b"int f(void){return 1;}\n"})
    spec = ArchiveSource(url=tgz.as_uri(), sha256=sha, subpath="src")
    root = fetch("lib", spec)
    assert root == cache / "fetch" / f"archive-{sha}" / "tree" / "src"
    assert (root / "lib.c").read_bytes().startswith(b"int f")
    tgz.unlink()  # cached: no download the second time
    assert fetch("lib", spec) == root


def test_archive_sha256_mismatch(tmp_path: Path) -> None:
    tgz = tmp_path / "lib.tar.gz"
    sha = make_tarball(tgz, {"a.c": b""})
    wrong = "0" * 64
    with pytest.raises(FetchError) as info:
        fetch("lib", ArchiveSource(url=tgz.as_uri(), sha256=wrong))
    assert info.value.what == f"{tgz.as_uri()} does not match its pinned sha256"
    assert info.value.why == f"expected {wrong}\ngot      {sha}"


def test_archive_member_escaping_is_refused(tmp_path: Path) -> None:
    tgz = tmp_path / "evil.tar.gz"
    sha = make_tarball(tgz, {"../../evil.c": b""})
    with pytest.raises(FetchError, match=r"cannot unpack evil\.tar\.gz"):
        fetch("evil", ArchiveSource(url=tgz.as_uri(), sha256=sha))


def test_missing_subpath(tmp_path: Path) -> None:
    tgz = tmp_path / "lib.tar.gz"
    sha = make_tarball(tgz, {"lib/a.c": b""})
    with pytest.raises(FetchError, match="has no directory 'nope'"):
        fetch("lib", ArchiveSource(url=tgz.as_uri(), sha256=sha, subpath="nope"))


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@e", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q")
    (r / "a.c").write_text("int a;\n")
    git(r, "add", "a.c")
    git(r, "commit", "-qm", "one")
    git(r, "tag", "v1")
    first = git(r, "rev-parse", "HEAD")
    (r / "a.c").write_text("int b;\n")
    git(r, "commit", "-qam", "two")
    return r, first


def test_git_pinned_commit_and_tag(repo: tuple[Path, str]) -> None:
    r, first = repo
    root = fetch("r", GitSource(git=r.as_uri(), tag="v1", commit=first))
    assert (root / "a.c").read_text() == "int a;\n"
    assert not (root / ".git").exists()


def test_git_moved_tag_is_refused(repo: tuple[Path, str]) -> None:
    r, first = repo
    head = git(r, "rev-parse", "HEAD")
    with pytest.raises(FetchError, match=f"tag v1 is {first}, not the pinned {head}"):
        fetch("r", GitSource(git=r.as_uri(), tag="v1", commit=head))

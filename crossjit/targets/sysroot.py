"""Target sysroots built from the recipes in images/sysroot/ and exported from the image.

``build`` makes (or reuses) the recipe's image, creates a container of it that never
runs, and streams ``/usr``, ``/lib``, ``/lib64`` out through the engine's archive API into
``<cache>/sysroots/<recipe>/``. Absolute symlinks are rewritten relative so that every
link resolves inside the sysroot; links that would still escape are dropped (and listed
in the manifest). ``manifest.json`` records the image id, the package list and a hash of
the recipe, so a sysroot built for a different package list or an edited recipe is
detected as stale.

The CPU is a second axis: ``arch`` (``x86_64``, ``aarch64``; default this host's) is passed
to the recipe as the build arg ``ARCH`` (Debian's name: amd64, arm64), whose foreign
packages it installs, and a sysroot for another CPU than the host's lives in
``<cache>/sysroots/<recipe>-<arch>/``. A profile's ``target.triple`` decides it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from crossjit import arch_name
from crossjit.compile import cache
from crossjit.errors import (
    ContainerError,
    NotSupportedError,
    ProfileError,
    Progress,
    UsageError,
    quiet,
)
from crossjit.project import plan, recipes
from crossjit.records import asdict, record

EXPORTED = ("usr", "lib", "lib64", "lib32", "libx32")
MANIFEST = "manifest.json"
IMAGE_PREFIX = "crossjit/sysroot-"
DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
# debian-musl rebuilds these libraries with musl-gcc, which only targets the host's CPU.
MUSL_REBUILT = frozenset({"zlib1g-dev", "libmbedtls-dev"})


class SysrootMissing(ContainerError):
    """The profile's sysroot has not been built (or is stale)."""


@record(frozen=True)
class Manifest:
    recipe: str
    image: str
    image_id: str
    packages: tuple[str, ...]
    packages_hash: str
    recipe_hash: str
    created: float
    skipped_links: tuple[str, ...] = ()
    arch: str = "x86_64"  # manifests of before the arch axis are all x86-64

    @classmethod
    def read(cls, folder: Path) -> Manifest | None:
        try:
            raw = json.loads((folder / MANIFEST).read_text())
            raw["packages"] = tuple(raw["packages"])
            raw["skipped_links"] = tuple(raw.get("skipped_links", ()))
            return cls(**raw)
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def write(self, folder: Path) -> None:
        cache.atomic_write(folder / MANIFEST, json.dumps(asdict(self), indent=2).encode())


def root_dir() -> Path:
    return cache.root() / "sysroots"


def target_arch(arch: str | None) -> str:
    """``arch`` (a CPU name, a triple or a Debian arch) checked; None: this host's CPU."""
    name = plan.host_arch() if arch is None else arch_name(arch)
    name = {"amd64": "x86_64", "arm64": "aarch64"}.get(name, name)
    if name not in DEBIAN_ARCH:
        raise UsageError(f"no sysroots for the CPU {arch!r}",
                         hint=f"use one of {', '.join(DEBIAN_ARCH)}")
    return name


def key_of(recipe: str, arch: str | None = None) -> str:
    """The sysroot's name in the cache: the recipe, plus ``-ARCH`` for any CPU but x86-64
    (the folders of before the arch axis keep their names)."""
    a = target_arch(arch)
    return recipe if a == "x86_64" else f"{recipe}-{a}"


def path_of(recipe: str, arch: str | None = None) -> Path:
    return root_dir() / key_of(recipe, arch)


def _arch_flag(arch: str) -> str:
    return "" if arch == plan.host_arch() else f" --arch {arch}"


def packages_hash(packages: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(set(packages))).encode()).hexdigest()


def recipe_hash(recipe: str) -> str:
    """Hash of every file of the recipe folder (names and contents)."""
    return recipes.tree_hash(_recipe_dir(recipe))


def _recipe_dir(recipe: str) -> Path:
    folder = recipes.sysroot_dir(recipe)
    if not (folder / "Dockerfile").is_file():
        known = ", ".join(recipes.sysroot_recipes()) or "none found"
        raise ContainerError(
            f"unknown sysroot recipe {recipe!r}",
            why=f"no {folder}/Dockerfile (recipes: {known})",
            hint="list them with `crossjit sysroot list`",
        )
    return folder


def image_tag(recipe: str, packages: Sequence[str], bases: Sequence[str] = (),
              arch: str = "x86_64") -> str:
    """Tag by content: the recipe, the packages, the base images' ids (and a foreign arch)."""
    parts = [recipe_hash(recipe), packages_hash(packages), *bases]
    if arch != "x86_64":  # x86-64 tags stay what they were before the arch axis
        parts.append(arch)
    key = hashlib.sha256("\n".join(parts).encode())
    return f"{IMAGE_PREFIX}{recipe}:{key.hexdigest()[:12]}"


def staleness(recipe: str, packages: Sequence[str], arch: str | None = None) -> str | None:
    """None if the built sysroot matches; else why it does not (missing, packages, recipe)."""
    manifest = Manifest.read(path_of(recipe, arch))
    if manifest is None:
        return "it has not been built"
    # A sysroot with more packages than wanted serves: headers nobody includes are inert.
    lacking = sorted(set(packages) - set(manifest.packages))
    if lacking:
        have = ", ".join(manifest.packages) or "no extra packages"
        return f"it was built with {have}; {', '.join(lacking)} missing"
    if manifest.recipe_hash != recipe_hash(recipe):
        return f"the recipe images/sysroot/{recipe}/ changed since it was built"
    return None


def rebuild_packages(recipe: str, packages: Sequence[str], arch: str | None = None
                     ) -> list[str]:
    """What a rebuild for ``packages`` installs: those plus the ones the built sysroot
    already has (other profiles need them)."""
    built = Manifest.read(path_of(recipe, arch))
    keep = set(built.packages) if built is not None else set()
    return sorted(keep | set(packages))


def require(recipe: str, packages: Sequence[str], arch: str | None = None) -> Path:
    """The sysroot folder, or SysrootMissing saying which command builds it."""
    a = target_arch(arch)
    why = staleness(recipe, packages, a)
    if why is not None:
        wanted = rebuild_packages(recipe, packages, a)
        cmd = " ".join(["crossjit sysroot build", recipe + _arch_flag(a),
                        *(f"--package {p}" for p in wanted)])
        raise SysrootMissing(f"sysroot {key_of(recipe, a)} is not ready", why=why,
                             hint=f"build it: {cmd}")
    return path_of(recipe, a)


def resolve_profile_sysroot(
    recipe: str | None, path: str | None, packages: Sequence[str], base_dir: Path,
    arch: str | None = None,
) -> Path:
    """A profile's ``sysroot:`` entry → the folder to compile against."""
    if path is not None:
        folder = (base_dir / Path(path).expanduser()).resolve()
        if not folder.is_dir():
            raise ProfileError(f"sysroot {path!r} is not a directory", why=f"looked at {folder}")
        return folder
    assert recipe is not None
    return require(recipe, packages, arch)


def list_built() -> list[Manifest]:
    folder = root_dir()
    if not folder.is_dir():
        return []
    found = (Manifest.read(p) for p in sorted(folder.iterdir()) if p.is_dir())
    return [m for m in found if m is not None]


def remove(recipe: str, arch: str | None = None) -> bool:
    folder = path_of(recipe, arch)
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True


def build(
    recipe: str,
    packages: Sequence[str] = (),
    *,
    progress: Progress | None = None,
    force: bool = False,
    arch: str | None = None,
) -> Path:
    """Build the image if needed and export it into the cache; returns the sysroot folder."""
    from crossjit.targets import containers

    say = progress or quiet
    a = target_arch(arch)
    key = key_of(recipe, a)
    packages = tuple(sorted(set(packages)))
    folder = _recipe_dir(recipe)
    if a != "x86_64" and "ARG ARCH" not in (folder / "Dockerfile").read_text():
        # A recipe without the ARCH build arg would silently give an x86-64 sysroot.
        raise NotSupportedError(
            f"the sysroot recipe {recipe} has no {a} build yet",
            why=f"images/sysroot/{recipe}/Dockerfile takes no ARCH build arg",
            hint="debian-glibc and debian-musl build for aarch64 (--arch aarch64)")
    rebuilt = sorted(MUSL_REBUILT & set(packages))
    if recipe == "debian-musl" and a != plan.host_arch() and rebuilt:
        raise NotSupportedError(
            f"debian-musl for {a} cannot have {', '.join(rebuilt)} yet",
            why="the recipe rebuilds those libraries against musl with musl-gcc, which "
                "only compiles for this host's CPU",
            hint=f"build the sysroot for {a} without them (headers-only -dev packages work)")
    if not force and staleness(recipe, packages, a) is None:
        say(f"sysroot {key} is up to date ({path_of(recipe, a)})")
        return path_of(recipe, a)
    engine = containers.connect()
    tag = image_tag(recipe, packages, engine.base_images(folder / "Dockerfile"), a)
    image_id = None if force else engine.image_id(tag)
    if image_id is None:
        say(f"building image {tag} (packages: {', '.join(packages) or 'none'})")
        image_id = engine.build(
            folder,
            tag,
            buildargs={"PACKAGES": " ".join(packages), "ARCH": DEBIAN_ARCH[a]},
            labels={"crossjit.kind": "sysroot", "crossjit.recipe": recipe,
                    "crossjit.arch": a},
            progress=say,
        )
    dest = path_of(recipe, a)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.with_name(f".{key}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    skipped: list[str] = []
    try:
        with engine.created(tag, {"crossjit.kind": "sysroot-export"}) as cid:
            for top in EXPORTED:
                stream = engine.archive(cid, "/" + top)
                if stream is not None:
                    say(f"exporting /{top}")
                    skipped += extract(stream, staging, progress=say)
        Manifest(
            recipe=recipe,
            image=tag,
            image_id=image_id,
            packages=packages,
            packages_hash=packages_hash(packages),
            recipe_hash=recipe_hash(recipe),
            created=time.time(),
            skipped_links=tuple(skipped),
            arch=a,
        ).write(staging)
        old = dest.with_name(f".{key}.old-{os.getpid()}")
        if dest.exists():
            os.replace(dest, old)
        os.replace(staging, dest)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"sysroot {key} ready: {dest}")
    return dest


class _ChunkReader(io.RawIOBase):
    """A file object over an iterator of byte chunks (the engine's tar stream)."""

    def __init__(self, chunks: Iterator[bytes], progress: Progress) -> None:
        self._chunks = chunks
        self._buf = b""
        self._total = 0
        self._next_report = 32 << 20
        self._progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buf:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buf = chunk
            self._total += len(chunk)
            if self._total >= self._next_report:
                self._progress(f"  {self._total >> 20} MiB")
                self._next_report += 32 << 20
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def extract(chunks: Iterator[bytes], dest: Path, progress: Progress | None = None) -> list[str]:
    """Unpack a tar stream into ``dest``, keeping every symlink inside; the links dropped."""
    skipped: list[str] = []

    def keep_inside(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
        if member.issym() and member.linkname.startswith("/"):
            # /lib64/ld-linux-x86-64.so.2 -> /lib/... becomes ../lib/..., inside the sysroot.
            target = os.path.normpath(member.linkname.lstrip("/"))
            start = os.path.dirname(member.name) or "."
            member = member.replace(linkname=os.path.relpath(target, start), deep=False)
        try:
            return tarfile.data_filter(member, path)
        except tarfile.FilterError:
            skipped.append(f"{member.name} -> {member.linkname}")
            return None

    reader = io.BufferedReader(_ChunkReader(chunks, progress or quiet), 1 << 20)
    with tarfile.open(fileobj=reader, mode="r|") as tf:
        tf.extractall(dest, filter=keep_inside)
    return skipped

"""A validated project profile as plain frozen records (crossjit.records: dataclasses to
type checkers, standard library only).

``schema.py`` (pydantic) validates a profile file once and converts the result into these
classes; ``profile.py`` caches them, so a command whose profile did not change pays
neither pydantic's nor yaml's import (docs/internals.md). Field names, defaults and
properties mirror the schema's models one to one.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Literal, TypeVar, dataclass_transform

from crossjit.records import FrozenInstanceError, field, record

Variant = Literal["musl", "debian", "alpine", "local"]
Transport = Literal["auto", "unix", "stdio", "spawn"]

# The channel each variant uses when `transport: auto`; see docs/profiles.md for why
# TCP is not offered for containers.
DEFAULT_TRANSPORT: Mapping[str, str] = MappingProxyType(
    {"musl": "unix", "alpine": "unix", "debian": "stdio", "local": "spawn"}
)
ALLOWED_TRANSPORTS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "musl": frozenset({"unix", "stdio"}),
        "alpine": frozenset({"unix", "stdio"}),
        "debian": frozenset({"stdio"}),  # LLVM 16's executor has no unix-socket mode
        "local": frozenset({"spawn"}),
    }
)

KeyPath = tuple[str | int, ...]


T = TypeVar("T")


@dataclass_transform(field_specifiers=(field,))
def _frozen(cls: type[T]) -> type[T]:
    """``record(frozen=True)``, whose refusal to assign says "frozen" (as the
    schema's models did). Declared as a plain dataclass to type checkers: assigning is
    a runtime error (FrozenInstanceError), as it was with the pydantic models."""
    out = record(frozen=True)(cls)
    out.__setattr__ = _refuse  # type: ignore[method-assign]
    out.__delattr__ = _refuse  # type: ignore[method-assign]
    return out


def _refuse(self: object, name: str, *_: object) -> None:
    raise FrozenInstanceError(f"{type(self).__name__} is frozen: cannot assign to {name!r}")


def frozen_map(items: Mapping[str, object]) -> MappingProxyType[str, object]:
    """Also the pickle constructor of the read-only mappings below (mappingproxy itself
    cannot be pickled)."""
    return MappingProxyType(dict(items))


@_frozen
class Target:
    """What code is generated for."""

    triple: str
    cpu: str | None = None
    features: tuple[str, ...] = ()

    @property
    def arch(self) -> str:
        return self.triple.split("-", 1)[0]


@_frozen
class Sysroot:
    """A recipe from images/sysroot/ (built by `crossjit sysroot build`) or a directory."""

    recipe: str | None = None
    path: str | None = None
    packages: tuple[str, ...] = ()


@_frozen
class Port:
    host: int
    container: int


@_frozen
class Mount:
    """A host directory mounted read-only into the executor container."""

    host: str
    container: str


@_frozen
class Executor:
    """Where the program runs."""

    variant: Variant = "musl"
    ssh: str | None = None  # a device reached with OpenSSH (docs/targets.md)
    transport: Transport = "auto"
    dlopen: tuple[str, ...] = ()
    ports: tuple[Port, ...] = ()
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    workdir: str | None = None
    mounts: tuple[Mount, ...] = ()
    tls: str | None = None  # container folder of a self-signed cert.pem + key.pem

    @property
    def channel(self) -> str:
        """The transport actually used: ``auto`` resolved for the variant."""
        return DEFAULT_TRANSPORT[self.variant] if self.transport == "auto" else self.transport


@_frozen
class GitSource:
    """A git repository pinned by commit (the tag is checked to point at it)."""

    git: str
    commit: str
    tag: str | None = None
    subpath: str = ""

    @property
    def pin(self) -> str:
        return self.commit


@_frozen
class ArchiveSource:
    """A .tar.* or .zip archive downloaded from a URL, pinned by sha256."""

    url: str
    sha256: str
    version: str | None = None
    subpath: str = ""

    @property
    def pin(self) -> str:
        return self.sha256


@_frozen
class PypiSource:
    """A PyPI source distribution ``name==version``, pinned by sha256."""

    pypi: str
    sha256: str
    subpath: str = ""

    @property
    def pin(self) -> str:
        return self.sha256

    @property
    def project(self) -> str:
        return self.pypi.partition("==")[0]

    @property
    def version(self) -> str:
        return self.pypi.partition("==")[2]


FetchSpec = GitSource | ArchiveSource | PypiSource


@_frozen
class FleetTarget:
    """One entry of ``targets:`` (project/targetspec.py says what ``executor`` may be)."""

    executor: str
    name: str | None = None
    target: str | None = None  # the triple built for it (default: the target's own)


@_frozen
class Profile:
    """A validated project profile. Paths are kept as written; see ``sources.py``."""

    name: str
    target: Target
    sources: tuple[str, ...]
    sysroot: Sysroot | None = None
    # None: the local executor, when the target can run on this host (with a warning).
    executor: Executor | None = None
    fetch: Mapping[str, FetchSpec] = field(default_factory=lambda: MappingProxyType({}))
    include: tuple[str, ...] = ()
    defines: tuple[str, ...] = ()
    cflags: tuple[str, ...] = ()
    libs: tuple[str, ...] = ()  # -l NAME: static archives linked, shared libraries dlopened
    lib_dirs: tuple[str, ...] = ()  # -L DIR, relative to the profile's directory
    compiler_launcher: tuple[str, ...] = ()  # ccache, sccache, distcc ... before clang
    opt: int = 0
    debug: bool = False
    live: bool = False  # run --watch patches edits into the running program (docs/watch.md)
    args: tuple[str, ...] = ()
    targets: tuple[FleetTarget, ...] = ()  # `crossjit run` runs on each (docs/targets.md)
    file: Path = field(default=Path("<memory>"), compare=False)
    # Line (1-based) of every key path in the file, for messages about its contents.
    lines: Mapping[KeyPath, int] = field(default_factory=dict, compare=False, repr=False)
    host_target: bool = False  # no `target:` key: code is generated for this host

    @property
    def base_dir(self) -> Path:
        """Relative paths in the profile are relative to the profile's own directory."""
        return self.file.parent

    @property
    def lib_dir_paths(self) -> tuple[Path, ...]:
        return tuple(self.base_dir / Path(d).expanduser() for d in self.lib_dirs)

    def at(self, file: Path) -> Profile:
        """The same profile, read from ``file`` (a cached one, for where it is now)."""
        other = copy.copy(self)
        object.__setattr__(other, "file", file)
        return other

    def where(self, *path: str | int) -> str:
        """``file:line`` of a key path, for messages about the profile's contents."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return f"{self.file}:{line}"
        return f"{self.file}:1"


def fetch_ref(text: str) -> str | None:
    """``@mongoose/src/*.c`` → ``mongoose``: paths starting with @NAME are in a fetched tree."""
    if not text.startswith("@"):
        return None
    return text[1:].split("/", 1)[0]


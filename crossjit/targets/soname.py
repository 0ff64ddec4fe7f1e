"""dlopen names resolved by SONAME through a sysroot's ELF files.

``libz.so`` is a development symlink (or, for glibc's libc.so, a linker script) that a
runtime image does not have; what the loader can open at run time is the library's
SONAME, ``libz.so.1``. ``resolve`` follows the name through the sysroot's library folders
(symlinks stay inside the sysroot) and reads DT_SONAME; ``closure`` adds the DT_NEEDED
libraries, which is what an executor image must carry for the dlopen to succeed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from crossjit import elf
from crossjit.errors import CrossjitError
from crossjit.records import record, replace

LIB_DIRS = (
    "lib",
    "usr/lib",
    "lib/x86_64-linux-gnu",
    "usr/lib/x86_64-linux-gnu",
    "lib/aarch64-linux-gnu",
    "usr/lib/aarch64-linux-gnu",
    "lib64",
    "usr/lib64",
    "usr/local/lib",
)
# Provided by the libc/loader of the executor itself; never copied.
LIBC_SONAMES = re.compile(r"^(libc|libm|libdl|libpthread|librt|libutil|ld-linux.*|ld-musl.*)\.so")


class LibraryNotFound(CrossjitError):
    """A dlopen name that no ELF file of the sysroot provides."""


@record(frozen=True)
class Library:
    name: str  # as asked for
    soname: str  # what the runtime loader opens
    path: Path  # the real file in the sysroot
    needed: tuple[str, ...]


def _find(sysroot: Path, name: str) -> Path | None:
    root = sysroot.resolve()
    for d in LIB_DIRS:
        candidate = sysroot / d / name
        if candidate.exists():
            real = candidate.resolve()
            if real.is_relative_to(root) and real.is_file():
                return real
    return None


def resolve(sysroot: Path, name: str) -> Library:
    """The library ``dlopen(name)`` means, as found in ``sysroot``."""
    path = _find(sysroot, name)
    if path is None:
        raise LibraryNotFound(
            f"no library {name!r} in the sysroot",
            why=f"looked in {', '.join(LIB_DIRS)} under {sysroot}",
            hint="add its -dev package to the profile's sysroot packages and rebuild the "
            "sysroot (crossjit sysroot build RECIPE --package PKG)",
        )
    info = elf.dynamic_info(path)
    if info is None:
        # A linker script (glibc's libc.so: GROUP ( /lib/.../libc.so.6 ... )): use the
        # first shared object it names.
        text = path.read_text(errors="replace")
        for ref in re.findall(r"[\w./+-]+\.so(?:\.[\d.]+)?", text):
            found = _find(sysroot, Path(ref).name)
            if found is not None and elf.dynamic_info(found) is not None:
                return replace(resolve(sysroot, Path(ref).name), name=name)
        raise LibraryNotFound(f"{name!r} in the sysroot is neither ELF nor a linker script")
    soname, needed = info
    return Library(name=name, soname=soname or path.name, path=path, needed=needed)


def closure(sysroot: Path, names: Iterable[str]) -> list[Library]:
    """``names`` resolved plus everything they need (DT_NEEDED), libc excluded."""
    out: dict[str, Library] = {}
    todo = list(names)
    while todo:
        name = todo.pop(0)
        if "/" in name or LIBC_SONAMES.match(name):
            continue
        lib = resolve(sysroot, name)
        if lib.soname in out:
            continue
        out[lib.soname] = lib
        todo.extend(lib.needed)
    return list(out.values())

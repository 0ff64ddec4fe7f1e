"""``-l NAME`` / ``-L DIR`` resolved as a linker does, against the target's files.

Each directory in turn — the ``-L`` ones, then the sysroot's library directories (or,
for an executor on this host, this host's) — is searched for ``libNAME.so``, then
``libNAME.a``, as ld does by default. A static archive becomes an input of the link
(members pulled in as needed); a shared library is dlopened in the executor: by its
SONAME through the sysroot, or by its path when the executor shares this file system.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from crossjit import elf
from crossjit.errors import UsageError
from crossjit.records import record
from crossjit.targets import soname


@record(frozen=True)
class Libraries:
    archives: tuple[Path, ...] = ()  # linked in
    dlopen: tuple[str, ...] = ()  # names for the executor's dlopen


def _root(sysroot: Path | None, local: bool) -> Path | None:
    return sysroot if sysroot is not None else Path("/") if local else None


def search_dirs(lib_dirs: Sequence[Path], sysroot: Path | None, local: bool
                ) -> list[tuple[Path, Path | None]]:
    """(directory, the root whose library directory it is, or None for a -L one)."""
    root = _root(sysroot, local)
    system = [(root / d, root) for d in soname.LIB_DIRS] if root is not None else []
    return [*((d, None) for d in lib_dirs), *system]


def _shared(path: Path) -> str:
    """What to dlopen for a shared library found in a -L directory: its path, or the
    library a linker script (``GROUP ( libfoo.so.1 )``) names."""
    if elf.dynamic_info(path) is not None:
        return str(path.resolve())
    text = path.read_text(errors="replace")
    for ref in re.findall(r"[\w./+-]+\.so(?:\.[\d.]+)?", text):
        target = path.parent / ref  # an absolute ref replaces the parent
        if target.is_file() and elf.dynamic_info(target) is not None:
            return str(target.resolve())
    raise UsageError(f"{path} is neither a shared library nor a linker script naming one")


def resolve(names: Sequence[str], lib_dirs: Sequence[Path], *, sysroot: Path | None,
            local: bool) -> Libraries:
    """``local``: the executor runs on this host (spawn), so without a sysroot this
    host's library directories are searched and shared libraries opened by path."""
    dirs = search_dirs(lib_dirs, sysroot, local)
    archives: list[Path] = []
    dlopen: list[str] = []
    for name in names:
        found, root = next(((d / f"lib{name}{ext}", r) for d, r in dirs for ext in (".so", ".a")
                            if (d / f"lib{name}{ext}").is_file()), (None, None))
        if found is None:
            where = ", ".join(str(d) for d, _ in dirs) or "nowhere: no -L DIR and no sysroot"
            raise UsageError(
                f"cannot find -l{name}",
                why=f"no lib{name}.so or lib{name}.a in {where}",
                hint="add the directory that holds it with -L DIR (a profile's lib_dirs:), "
                "or give the target's sysroot",
            )
        if found.suffix == ".a":
            archives.append(found)
        elif root is not None:  # the target's own library: by SONAME, as the loader would
            dlopen.append(soname.resolve(root, found.name).soname)
        else:
            dlopen.append(_shared(found))
    return Libraries(tuple(archives), tuple(dlopen))

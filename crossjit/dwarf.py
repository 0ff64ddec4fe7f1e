"""Source lines for addresses in JIT'd code, from the linker's relocated DWARF.

Why a module of its own (the linker's ``link/objfile.py`` is otherwise the only
pyelftools user): reading DWARF line tables is symbolization, not linking; the linker
only hands out relocated ``.debug_*`` bytes (``LinkedImage.debug_sections()``), and
this adapter keeps pyelftools' DWARF API out of the linker.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from crossjit.debugobj import debug_only_object

__all__ = ["SourceLine", "source_line"]


@dataclass(frozen=True)
class SourceLine:
    file: str  # as the compiler recorded it (absolute when clang saw an absolute path)
    line: int

    @property
    def short(self) -> str:
        return f"{PurePosixPath(self.file).name}:{self.line}"


def source_line(debug_sections: Mapping[str, bytes], addr: int) -> SourceLine | None:
    """The line-table row covering ``addr`` in one object's relocated DWARF, if any."""
    if ".debug_line" not in debug_sections or ".debug_info" not in debug_sections:
        return None
    try:
        elf = ELFFile(io.BytesIO(debug_only_object(debug_sections)))
        info = elf.get_dwarf_info(relocate_dwarf_sections=False)
        for cu in info.iter_CUs():
            prog = info.line_program_for_CU(cu)
            if prog is None:
                continue
            prev = None
            for entry in prog.get_entries():
                st = entry.state
                if st is None:
                    continue
                if prev is not None and prev.address <= addr < st.address:
                    return _row(prog, prev, cu.header["version"])
                prev = None if st.end_sequence else st
    except (ELFError, ValueError, KeyError, IndexError, AttributeError):
        return None  # damaged or unusual DWARF: the crash report just has no line
    return None


def _row(prog: object, state: object, version: int) -> SourceLine | None:
    entries = prog["file_entry"]  # type: ignore[index]
    index = state.file if version >= 5 else state.file - 1  # type: ignore[attr-defined]
    if not 0 <= index < len(entries):
        return None
    fe = entries[index]
    name = fe.name.decode("utf-8", "replace") if isinstance(fe.name, bytes) else str(fe.name)
    dirs = prog["include_directory"]  # type: ignore[index]
    if not name.startswith("/") and 0 <= fe.dir_index < len(dirs):
        d = dirs[fe.dir_index]
        name = f"{d.decode('utf-8', 'replace') if isinstance(d, bytes) else d}/{name}"
    return SourceLine(name, state.line)  # type: ignore[attr-defined]

"""Source lines for addresses in JIT'd code, from the linker's relocated DWARF.

Reading line tables is symbolization, not linking: the linker only hands out relocated
``.debug_*`` bytes (``LinkedImage.debug_sections()``); ``crossjit.elf`` reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

from crossjit import elf
from crossjit.link.debugobj import debug_only_object
from crossjit.records import record

__all__ = ["SourceLine", "source_line"]


@record(frozen=True)
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
    row = elf.line_at(debug_only_object(debug_sections), addr)
    return SourceLine(row.file, row.line) if row is not None else None

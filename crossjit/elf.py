"""The only module that imports pyelftools: ELF facts crossjit reads outside the link path.

The linker parses relocatable objects itself with ``struct`` (pyelftools builds one Python
object per relocation, far too slow); pyelftools serves the cold paths: describing an
unexpected file in an error message, a shared object's SONAME/NEEDED, DWARF line tables.
It is imported inside each function: it costs ~25 ms, and most runs need none of this.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def describe(data: bytes) -> str:
    """What an ELF file is, in words: 'an ELF64 little-endian AArch64 relocatable object'."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.descriptions import describe_e_machine
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        cls = f"ELF{elf.elfclass}"
        endian = "little-endian" if elf.little_endian else "big-endian"
        kind = "relocatable object" if elf["e_type"] == "ET_REL" else str(elf["e_type"])
        return f"an {cls} {endian} {describe_e_machine(elf['e_machine'])} {kind}"
    except (ELFError, ValueError, KeyError) as e:
        return f"a malformed ELF file ({e})"


def machine_name(machine: str) -> str:
    """pyelftools' e_machine name (EM_X86_64) in words."""
    from elftools.elf.descriptions import describe_e_machine

    return str(describe_e_machine(machine))


def dynamic_info(path: Path) -> tuple[str | None, tuple[str, ...]] | None:
    """(DT_SONAME, DT_NEEDED) of a shared object, or None when ``path`` is not ELF."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    try:
        with path.open("rb") as f:
            if f.read(4) != b"\x7fELF":
                return None
            f.seek(0)
            elf = ELFFile(f)
            dyn = next((s for s in elf.iter_sections() if isinstance(s, DynamicSection)), None)
            if dyn is None:
                return None, ()
            soname, needed = None, []
            for tag in dyn.iter_tags():
                if tag.entry.d_tag == "DT_SONAME":
                    soname = str(getattr(tag, "soname", ""))
                elif tag.entry.d_tag == "DT_NEEDED":
                    needed.append(str(getattr(tag, "needed", "")))
            return soname, tuple(needed)
    except (OSError, ELFError):
        return None


@dataclass(frozen=True)
class LineRow:
    file: str  # as the compiler recorded it (joined with its directory when relative)
    line: int


def line_at(elf_bytes: bytes, addr: int) -> LineRow | None:
    """The DWARF line-table row covering ``addr`` in an ELF file whose DWARF needs no
    relocation (crossjit's debug objects), or None."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(elf_bytes))
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
        return None  # damaged or unusual DWARF: no line, rather than no report
    return None


def _row(prog: Any, state: Any, version: int) -> LineRow | None:
    entries = prog["file_entry"]
    index = state.file if version >= 5 else state.file - 1  # DWARF 5 counts from 0
    if not 0 <= index < len(entries):
        return None
    fe = entries[index]
    name = fe.name.decode("utf-8", "replace") if isinstance(fe.name, bytes) else str(fe.name)
    dirs = prog["include_directory"]
    if not name.startswith("/") and 0 <= fe.dir_index < len(dirs):
        d = dirs[fe.dir_index]
        name = f"{d.decode('utf-8', 'replace') if isinstance(d, bytes) else d}/{name}"
    return LineRow(name, int(state.line))

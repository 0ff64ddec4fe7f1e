"""The only module that imports pyelftools: ELF facts crossjit reads outside the link path.

The linker parses relocatable objects itself with ``struct`` (pyelftools builds one Python
object per relocation, far too slow); pyelftools serves the cold paths: describing an
unexpected file in an error message, a shared object's SONAME/NEEDED, DWARF line tables.
It is imported inside each function: it costs ~25 ms, and most runs need none of this.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from crossjit.records import record


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


@record(frozen=True)
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


@record(frozen=True)
class DwarfDecl:
    """A function's prototype or a variable's type, described for comparison."""

    name: str
    line: int  # DW_AT_decl_line, 0 when absent
    shape: str  # prototype / type in words (struct members with offsets)
    structs: tuple[tuple[str, str], ...]  # every struct it holds or points to: (name, layout)


@record(frozen=True)
class DwarfFacts:
    functions: dict[str, DwarfDecl]  # global and static functions by name
    variables: dict[str, DwarfDecl]  # by the object's symbol name (`f.n` for statics in f)


def dwarf_facts(obj_bytes: bytes) -> DwarfFacts | None:
    """Prototypes and variable types from a relocatable object's DWARF (for live reload's
    checks), or None without DWARF (no -g) or when it cannot be read."""
    from elftools.common.exceptions import DWARFError, ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(obj_bytes))
        if not elf.has_dwarf_info() or elf.get_section_by_name(".debug_info") is None:
            return None
        info = elf.get_dwarf_info(relocate_dwarf_sections=True)
        functions: dict[str, DwarfDecl] = {}
        variables: dict[str, DwarfDecl] = {}
        for cu in info.iter_CUs():
            top = cu.get_top_DIE()
            for die in top.iter_children():
                if die.tag == "DW_TAG_subprogram" and "DW_AT_declaration" not in die.attributes:
                    name = _die_name(die)
                    if name:
                        functions[name] = _decl(name, die, _prototype(die))
                        for child in die.iter_children():
                            if child.tag == "DW_TAG_variable" and _die_name(child):
                                full = f"{name}.{_die_name(child)}"
                                variables[full] = _decl(full, child, None)
                elif die.tag == "DW_TAG_variable" and "DW_AT_declaration" not in die.attributes:
                    name = _die_name(die)
                    if name:
                        variables[name] = _decl(name, die, None)
        return DwarfFacts(functions, variables)
    except (ELFError, DWARFError, ValueError, KeyError, IndexError, AttributeError):
        return None


def _die_name(die: Any) -> str:
    a = die.attributes.get("DW_AT_name")
    if a is None:
        return ""
    v = a.value
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _decl(name: str, die: Any, shape: str | None) -> DwarfDecl:
    line = die.attributes.get("DW_AT_decl_line")
    structs: dict[str, str] = {}
    if shape is None:
        shape = _type(_type_die(die), structs, 0)
    return DwarfDecl(name, int(line.value) if line is not None else 0, shape,
                     tuple(sorted(structs.items())))


def _type_die(die: Any) -> Any:
    return die.get_DIE_from_attribute("DW_AT_type") if "DW_AT_type" in die.attributes else None


_QUALIFIERS = {"DW_TAG_const_type": "const ", "DW_TAG_volatile_type": "volatile ",
               "DW_TAG_restrict_type": "", "DW_TAG_atomic_type": "_Atomic "}


def _type(die: Any, structs: dict[str, str], depth: int) -> str:
    """A type in words; struct/union/class layouts (member name, offset, type) go into
    ``structs`` once each, so pointers into heap data are compared too."""
    if die is None:
        return "void"
    if depth > 32:
        return "..."
    tag = die.tag
    name = _die_name(die)
    if tag == "DW_TAG_base_type":
        size = die.attributes.get("DW_AT_byte_size")
        return f"{name}:{size.value if size is not None else '?'}"
    if tag == "DW_TAG_typedef":
        return _type(_type_die(die), structs, depth + 1)
    if tag in _QUALIFIERS:
        return str(_QUALIFIERS[tag]) + _type(_type_die(die), structs, depth + 1)
    if tag in ("DW_TAG_pointer_type", "DW_TAG_reference_type", "DW_TAG_rvalue_reference_type"):
        return _type(_type_die(die), structs, depth + 1) + "*"
    if tag == "DW_TAG_array_type":
        dims = []
        for sub in die.iter_children():
            if sub.tag == "DW_TAG_subrange_type":
                n = sub.attributes.get("DW_AT_count") or sub.attributes.get("DW_AT_upper_bound")
                dims.append(f"[{n.value if n is not None else ''}]")
        return _type(_type_die(die), structs, depth + 1) + "".join(dims)
    if tag in ("DW_TAG_structure_type", "DW_TAG_union_type", "DW_TAG_class_type"):
        kind = {"DW_TAG_structure_type": "struct", "DW_TAG_union_type": "union"}.get(
            tag, "class")
        key = f"{kind} {name or '<anonymous>@' + str(die.offset)}"
        if name and key in structs:
            return key
        structs[key] = "…"  # in progress: a self-referencing list stops here
        members = []
        for m in die.iter_children():
            if m.tag not in ("DW_TAG_member", "DW_TAG_inheritance"):
                continue
            off = m.attributes.get("DW_AT_data_member_location")
            loc = off.value if off is not None and isinstance(off.value, int) else "?"
            members.append(f"{_die_name(m)}@{loc}:{_type(_type_die(m), structs, depth + 1)}")
        size = die.attributes.get("DW_AT_byte_size")
        structs[key] = f"size {size.value if size is not None else '?'}: " + ", ".join(members)
        return key
    if tag == "DW_TAG_enumeration_type":
        return f"enum {name}"
    if tag == "DW_TAG_subroutine_type":
        return "fn"  # function pointers: what they point to is followed by the stubs
    return str(tag).removeprefix("DW_TAG_")


def _prototype(die: Any) -> str:
    """``ret(param, ...)`` with typedefs resolved and structs named, not expanded."""
    ignore: dict[str, str] = {}
    params = [_type(_type_die(p), ignore, 0) for p in die.iter_children()
              if p.tag == "DW_TAG_formal_parameter"]
    if any(p.tag == "DW_TAG_unspecified_parameters" for p in die.iter_children()):
        params.append("...")
    return f"{_type(_type_die(die), ignore, 0)}({', '.join(params)})"

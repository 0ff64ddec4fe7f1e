"""Symbol resolution across objects, like a static linker's.

- COMDAT groups: the first group with a given signature is kept; the others and
  their member sections are discarded (their global symbols then refer to the kept
  copy by name).
- Strong definitions must be unique (every clash is reported at once); a strong
  definition beats COMMON beats weak; the first weak definition wins among weaks.
- COMMON symbols (``-fcommon``) are allocated zero-filled, with the largest size and
  alignment seen.
- Undefined references nobody defines become externals (weak if every reference
  is weak); the executor resolves them (weak undefined ones may resolve to 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from crossjit.errors import LinkError
from crossjit.link.diagnostics import location
from crossjit.link.graph import Block, SegClass, Symbol, SymKind
from crossjit.link.objfile import (
    SHN_ABS,
    SHN_COMMON,
    SHN_UNDEF,
    STB_LOCAL,
    STB_WEAK,
    STT_FILE,
    STT_SECTION,
    ObjectFile,
)
from crossjit.records import field, record


def select_comdats(objects: list[ObjectFile]) -> list[set[int]]:
    """Per object, the indices of the sections discarded by COMDAT selection."""
    seen: set[str] = set()
    discarded: list[set[int]] = []
    for obj in objects:
        dropped: set[int] = set()
        for g in obj.groups:
            if not g.comdat:
                continue
            if g.signature in seen:
                dropped.update(g.members)
            else:
                seen.add(g.signature)
        discarded.append(dropped)
    return discarded


@record
class Resolution:
    """The outcome: every object's symbol table mapped to resolved :class:`Symbol`s."""

    object_symbols: list[list[Symbol | None]]  # per object, by ELF symbol index
    definitions: dict[str, Symbol]  # global/weak definitions by name (incl. COMMON)
    externals: dict[str, Symbol]  # undefined everywhere: the executor must provide them
    weak_refs_only: dict[str, bool]  # external name -> referenced only weakly
    referenced_by: dict[str, list[str]]  # external name -> objects referencing it
    common_blocks: list[Block] = field(default_factory=list)


def resolve(
    objects: list[ObjectFile],
    section_blocks: list[dict[int, Block]],
    discarded: list[set[int]],
    is_debug_section: Callable[[ObjectFile, int], bool],
    linker_defined: Callable[[str], Symbol | None],
    aliases: Mapping[str, str] | None = None,
) -> Resolution:
    """Resolve symbols. ``section_blocks[i]`` maps object i's loaded sections to blocks;
    ``linker_defined(name)`` supplies ``__init_array_start`` & co. when no object defines
    them (PROVIDE semantics); an undefined reference to a name in ``aliases`` refers to
    the name it maps to (``__tls_get_addr`` -> the runtime's, as ORC renames it)."""
    aliases = aliases or {}
    definitions: dict[str, Symbol] = {}
    strength: dict[str, int] = {}  # 0 weak, 1 common, 2 strong
    commons: dict[str, tuple[int, int]] = {}  # name -> (size, align)
    duplicates: dict[str, list[str]] = {}
    undefined: dict[str, tuple[list[str], bool]] = {}  # name -> (objects, all weak)
    pending: list[list[tuple[int, str]]] = []  # per object: (symbol index, global name)
    per_object: list[list[Symbol | None]] = []

    for oi, obj in enumerate(objects):
        blocks = section_blocks[oi]
        dropped = discarded[oi]
        syms: list[Symbol | None] = [None] * len(obj.symbols)
        globals_here: list[tuple[int, str]] = []
        for rs in obj.symbols[1:]:
            shndx = rs.shndx
            if rs.bind == STB_LOCAL:
                if rs.type == STT_FILE:
                    continue
                blk = blocks.get(shndx)
                syms[rs.index] = Symbol(
                    rs.name,
                    obj.name,
                    _kind(obj, shndx, blk, dropped, is_debug_section),
                    blk,
                    rs.value,
                    rs.size,
                    is_section=rs.type == STT_SECTION,
                )
                continue
            name = rs.name
            if shndx == SHN_UNDEF:
                name = aliases.get(name, name)
            globals_here.append((rs.index, name))
            weak = rs.bind == STB_WEAK
            if shndx == SHN_UNDEF or shndx in dropped:
                # A definition inside a discarded COMDAT member is a reference to the kept one.
                objs, all_weak = undefined.get(name, ([], True))
                objs.append(obj.name)
                undefined[name] = (objs, all_weak and weak)
                continue
            if shndx == SHN_COMMON:
                size, align = commons.get(name, (0, 1))
                commons[name] = (max(size, rs.size), max(align, rs.value))
                if strength.get(name, -1) < 1:
                    strength[name] = 1
                    definitions[name] = Symbol(name, obj.name, SymKind.DEFINED, None, 0, rs.size)
                continue
            blk = blocks.get(shndx)
            kind = _kind(obj, shndx, blk, dropped, is_debug_section)
            sym = Symbol(name, obj.name, kind, blk, rs.value, rs.size)
            new = 0 if weak else 2
            old = strength.get(name, -1)
            if new == 2 and old == 2:
                prev = definitions[name]
                where = duplicates.setdefault(name, [_where(prev)])
                where.append(location(obj.name, obj.section_name(shndx), rs.value))
            elif new > old:
                strength[name] = new
                definitions[name] = sym
        per_object.append(syms)
        pending.append(globals_here)

    if duplicates:
        lines = []
        for name, wheres in duplicates.items():
            lines.append(f"duplicate symbol: {name}")
            lines.extend(f">>> defined at {w}" for w in wheres)
        raise LinkError(
            f"{len(duplicates)} duplicate symbol definition{'s' if len(duplicates) > 1 else ''}"
            f" ({', '.join(list(duplicates)[:5])}{', ...' if len(duplicates) > 5 else ''})",
            why="\n".join(lines),
            hint="define each global symbol in one object only; use 'static' or 'inline' "
            "for definitions in headers",
        )

    common_blocks: list[Block] = []
    for name, (size, align) in commons.items():
        sym = definitions[name]
        if strength[name] != 1:
            continue
        blk = Block(sym.obj, f"COMMON.{name}", SegClass.ZEROFILL, max(1, align), size, None)
        common_blocks.append(blk)
        sym.block, sym.offset, sym.size = blk, 0, size

    externals: dict[str, Symbol] = {}
    weak_only: dict[str, bool] = {}
    referenced_by: dict[str, list[str]] = {}
    for name, (objs, all_weak) in undefined.items():
        if name in definitions:
            continue
        provided = linker_defined(name)
        if provided is not None:
            definitions[name] = provided
            continue
        ext = Symbol(name, "<external>", SymKind.EXTERNAL)
        externals[name] = ext
        weak_only[name] = all_weak
        referenced_by[name] = list(dict.fromkeys(objs))

    for syms, globals_here in zip(per_object, pending, strict=True):
        for index, name in globals_here:
            syms[index] = definitions.get(name) or externals[name]

    return Resolution(per_object, definitions, externals, weak_only, referenced_by, common_blocks)


def _kind(
    obj: ObjectFile,
    shndx: int,
    blk: Block | None,
    dropped: set[int],
    is_debug_section: Callable[[ObjectFile, int], bool],
) -> SymKind:
    """What a symbol defined in section ``shndx`` (loaded as ``blk``, if at all) is."""
    if blk is not None:
        return SymKind.DEFINED
    if shndx == SHN_ABS:
        return SymKind.ABSOLUTE
    if shndx not in dropped and is_debug_section(obj, shndx):
        return SymKind.DEBUG
    # In a discarded COMDAT member or a section we do not load (e.g. a note section).
    return SymKind.DISCARDED


def _where(sym: Symbol) -> str:
    sec = sym.block.name if sym.block is not None else "*ABS*"
    return location(sym.obj, sec, sym.offset)

"""The JIT linker's API: :class:`Linker` -> :class:`LinkPlan` -> :class:`LinkedImage`.

Sans-IO: the linker never talks to the executor. The session asks the plan for the
externals and the reservation size, reserves memory and looks the externals up, then
``finish`` fixes everything up for that base address.
"""

from __future__ import annotations

import bisect
import enum
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING

from crossjit.errors import LinkError, NotSupportedError, UnresolvedSymbolsError
from crossjit.link import ehframe, tls
from crossjit.link.arch import Arch, FixupError, get_arch
from crossjit.link.archive import Archive, read_archive
from crossjit.link.diagnostics import block_location, location
from crossjit.link.fixup import apply_segments, raise_range_errors
from crossjit.link.graph import Block, Edge, Prot, SegClass, Symbol, SymKind
from crossjit.link.layout import SegmentLayout, align_up, layout
from crossjit.link.objfile import (
    SHF_EXECINSTR,
    SHF_TLS,
    SHF_WRITE,
    SHN_UNDEF,
    SHT_FINI_ARRAY,
    SHT_GROUP,
    SHT_INIT_ARRAY,
    SHT_NOBITS,
    SHT_NOTE,
    SHT_NULL,
    SHT_PREINIT_ARRAY,
    SHT_REL,
    SHT_RELA,
    SHT_STRTAB,
    SHT_SYMTAB,
    SHT_SYMTAB_SHNDX,
    STB_GLOBAL,
    STB_LOCAL,
    STT_GNU_IFUNC,
    ObjectFile,
    Section,
    parse_object,
    section_bytes,
)
from crossjit.link.resolve import resolve, select_comdats
from crossjit.link.tables import GOT_SYMBOL, LINKER_OBJ, Tables
from crossjit.records import record

if TYPE_CHECKING:
    from crossjit.link.live import LiveImage, LiveMap, LivePass

__all__ = ["ExternalRef", "LinkPlan", "LinkedImage", "Linker", "Prot", "SectionInfo", "Segment"]

POINTER_SIZE = 8  # .init_array/.fini_array entries (every 64-bit target we support)
# Priority of a plain .init_array: after every numbered .init_array.N (as lld sorts them).
DEFAULT_PRIORITY = 65536
INIT_ARRAY_SYMBOLS = ("__init_array_start", "__init_array_end")
FINI_ARRAY_SYMBOLS = ("__fini_array_start", "__fini_array_end")


class Role(enum.Enum):
    TEXT = SegClass.TEXT
    RODATA = SegClass.RODATA
    DATA = SegClass.DATA
    ZEROFILL = SegClass.ZEROFILL
    EH_FRAME = "eh_frame"
    INIT_ARRAY = "init_array"
    FINI_ARRAY = "fini_array"
    DEBUG = "debug"
    TLS_DATA = "tdata"  # SHF_TLS with content: part of the TLS module's init image
    TLS_ZERO = "tbss"  # SHF_TLS zero-fill


_NOT_LOADED_TYPES = frozenset(
    {SHT_NULL, SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_REL, SHT_GROUP, SHT_SYMTAB_SHNDX, SHT_NOTE}
)


def _role(arch: Arch, obj: ObjectFile, sec: Section) -> Role | None:
    """Where a section goes, or None when it is not loaded (.comment, .note.*, ...)."""
    if sec.type in _NOT_LOADED_TYPES:
        return None
    if not sec.alloc:
        return Role.DEBUG if sec.name.startswith(".debug_") else None
    name = sec.name
    if name.startswith(".note"):
        return None
    if sec.flags & SHF_TLS:
        if arch.tls is None:
            raise NotSupportedError(
                f"{obj.name}: section {name} holds thread-local storage, which the JIT "
                f"linker does not support on {arch.name} yet",
                hint="avoid __thread/thread_local variables in JIT'd code for this target",
            )
        return Role.TLS_ZERO if sec.type == SHT_NOBITS else Role.TLS_DATA
    if sec.type in arch.eh_frame_section_types or name == ".eh_frame":
        return Role.EH_FRAME
    # .ctors/.dtors: what LLVM emits when UseInitArray is off, as in llvmlite's target
    # machines; merged into the init/fini arrays like GNU ld does.
    if sec.type == SHT_INIT_ARRAY or name.startswith((".init_array", ".ctors")):
        return Role.INIT_ARRAY
    if sec.type == SHT_FINI_ARRAY or name.startswith((".fini_array", ".dtors")):
        return Role.FINI_ARRAY
    if sec.type == SHT_PREINIT_ARRAY:
        raise NotSupportedError(f"{obj.name}: section {name}: .preinit_array is not supported")
    if sec.type == SHT_NOBITS:
        return Role.ZEROFILL
    if sec.flags & SHF_EXECINSTR:
        return Role.TEXT
    if sec.flags & SHF_WRITE:
        return Role.DATA
    return Role.RODATA


def _priority(name: str) -> int:
    """``.init_array.00101`` -> 101, ``.ctors.65434`` -> 101; plain sections sort last."""
    head, _, tail = name.rpartition(".")
    if not tail.isdigit():
        return DEFAULT_PRIORITY
    if head in (".init_array", ".fini_array"):
        return int(tail)
    if head in (".ctors", ".dtors"):
        return 65535 - int(tail)  # .ctors.N counts down from 65535
    return DEFAULT_PRIORITY


def _is_legacy_array(name: str) -> bool:
    """.ctors/.dtors list their entries in the reverse of .init_array/.fini_array order."""
    return name == ".ctors" or name == ".dtors" or name.startswith((".ctors.", ".dtors."))


@record(frozen=True)
class ExternalRef:
    """A symbol no object defines: the executor (or a loaded library) must provide it."""

    name: str
    weak: bool  # every reference is weak: may resolve to 0
    referenced_by: list[str]  # object names


@record(frozen=True)
class Segment:
    """Memory to finalize: ``content`` then zeros up to ``size`` (both page aligned at addr)."""

    addr: int
    size: int
    prot: Prot
    content: bytes


@record(frozen=True)
class SectionInfo:
    """One entry of the link map."""

    object: str
    section: str
    addr: int
    size: int


class Linker:
    """Collects relocatable objects for one target architecture."""

    def __init__(self, arch: str = "x86_64", page_size: int = 4096, *, live: bool = False,
                 running: LiveMap | None = None) -> None:
        """``live``: stubs + slots for every function (link/live.py); ``running``: link a
        live patch against that running program."""
        self.live = live or running is not None
        self.running = running
        if page_size <= 0 or page_size & (page_size - 1):
            raise LinkError(f"page size {page_size} is not a power of two")
        self.arch = get_arch(arch)
        self.page_size = page_size
        self._objects: list[ObjectFile] = []
        self._roles: list[list[Role | None]] = []
        tls_rules = self.arch.tls
        # Relocation types that need the TLS pass (link/tls.py); seen in any object?
        self._tls_types = frozenset(
            r for r, k in self.arch.edge_kind.items()
            if tls_rules is not None and k in tls_rules.transform)
        self._tls_relocs = False
        self._archives: list[Archive] = []
        self._inputs: dict[str, bytes] = {}  # every object linked (archive members pulled too)

    def add_object(self, name: str, data: bytes) -> None:
        """Parse and validate one object now: wrong architecture, TLS, unknown relocations."""
        arch = self.arch
        obj = parse_object(name, data, machine=arch.elf_machine, machine_label=arch.name)
        roles = [_role(arch, obj, s) for s in obj.sections]
        for rs in obj.symbols:
            if rs.type == STT_GNU_IFUNC and rs.shndx != SHN_UNDEF:
                # Callers would call the resolver itself instead of what it returns.
                raise NotSupportedError(
                    f"{obj.name}: '{rs.name}' is an indirect function (STT_GNU_IFUNC), which "
                    "the JIT linker does not support yet"
                )
        for target, table in obj.relocs.items():
            if target >= len(roles) or roles[target] is None:
                continue  # relocations of sections we do not load (e.g. .llvm_addrsig)
            types = table.types()
            bad = types - arch.edge_kind.keys() - arch.none_relocs
            if bad:
                self._reject(obj, table.target, table.entries(), bad)
            if not self._tls_relocs and types & self._tls_types:
                self._tls_relocs = True
        self._objects.append(obj)
        self._roles.append(roles)
        self._inputs[name] = data

    def add_archive(self, name: str, data: bytes) -> None:
        """A static archive: ``plan`` links the members that define a symbol still
        undefined, repeating until none does (members never needed are never parsed)."""
        self._archives.append(read_archive(name, data))

    @property
    def inputs(self) -> dict[str, bytes]:
        """The objects linked, by name: the added ones and the archive members pulled in."""
        return dict(self._inputs)

    def _definitions(self, ar: Archive) -> dict[str, int]:
        """Which member (header offset) defines each symbol: the archive's index, or,
        without one, the members' own symbol tables (unreadable members define nothing)."""
        if ar.index is not None:
            return ar.index
        found: dict[str, int] = {}
        for m in ar.members:
            try:
                obj = parse_object(m.name, m.data, machine=self.arch.elf_machine,
                                   machine_label=self.arch.name)
            except (LinkError, NotSupportedError):
                continue
            for rs in obj.symbols:
                if rs.bind != STB_LOCAL and rs.shndx != SHN_UNDEF:
                    found.setdefault(rs.name, m.offset)
        return found

    def _pull_archive_members(self) -> None:
        if not self._archives:
            return
        defined: set[str] = set()
        undefined: set[str] = set()

        def note(obj: ObjectFile) -> None:
            for rs in obj.symbols:
                if rs.bind == STB_LOCAL or not rs.name:
                    continue
                if rs.shndx != SHN_UNDEF:
                    defined.add(rs.name)
                elif rs.bind == STB_GLOBAL:  # weak references pull nothing in, as in ld
                    undefined.add(rs.name)

        for obj in self._objects:
            note(obj)
        tables = [self._definitions(ar) for ar in self._archives]
        pulled: set[tuple[int, int]] = set()
        changed = True
        while changed:
            changed = False
            for i, (ar, table) in enumerate(zip(self._archives, tables, strict=True)):
                for sym in sorted(undefined - defined):
                    off = table.get(sym)
                    if off is None or (i, off) in pulled or sym in defined:
                        continue
                    member = ar.member_at(off)
                    if member is None:
                        raise LinkError(f"{ar.name}: its symbol index names a member at "
                                        f"offset {off} that does not exist",
                                        hint="rebuild the index: ranlib " + ar.name)
                    pulled.add((i, off))
                    self.add_object(member.name, member.data)
                    note(self._objects[-1])
                    changed = True

    def _reject(
        self, obj: ObjectFile, target: int, entries: list[tuple[int, int, int, int]], bad: set[int]
    ) -> None:
        arch = self.arch
        off, rtype, symi, _ = next(e for e in entries if e[1] in bad)
        sym = obj.symbols[symi].name if 0 < symi < len(obj.symbols) else ""
        where = location(obj.name, obj.sections[target].name, off)
        what = f"{where}: relocation {arch.reloc_name(rtype)} against '{sym}'"
        if rtype in arch.tls_relocs:
            if arch.tls is None:
                raise NotSupportedError(
                    f"{what}: thread-local storage is not supported by the JIT linker on "
                    f"{arch.name} yet",
                    hint="avoid __thread/thread_local variables in JIT'd code for this target",
                )
            raise NotSupportedError(
                f"{what}: this thread-local access model ({arch.tls.refused}) is not "
                "supported by the JIT linker",
                why="JIT'd thread-local variables live in per-thread blocks crossjit's "
                "runtime allocates, not in the executor's static TLS, so no fixed offset "
                "from the thread pointer exists for them",
                hint=arch.tls.refusal_hint,
            )
        if rtype in arch.unsupported_relocs:
            raise NotSupportedError(f"{what} is not supported by the JIT linker yet")
        if rtype in arch.dynamic_relocs:
            raise LinkError(f"{what}: a dynamic relocation, invalid in a relocatable object")
        raise LinkError(
            f"{what}: unknown relocation type {rtype} for {arch.name}",
            hint="was this object produced for another architecture or by a newer compiler?",
        )

    def plan(self) -> LinkPlan:
        """Resolve symbols among the objects, build GOT/stubs and lay everything out."""
        self._pull_archive_members()
        return LinkPlan(self.arch, self.page_size, self._objects, self._roles,
                        self._tls_relocs, live=self.live, running=self.running)


class LinkPlan:
    """Everything but the addresses. ``finish`` may be called more than once."""

    def __init__(
        self, arch: Arch, page_size: int, objects: list[ObjectFile],
        roles: list[list[Role | None]], tls_relocs: bool = False,
        *, live: bool = False, running: LiveMap | None = None,
    ) -> None:
        self.arch = arch
        self.page_size = page_size
        self._objects = list(objects)
        discarded = select_comdats(objects)

        text: list[Block] = []
        rodata: list[Block] = []
        data: list[Block] = []
        zerofill: list[Block] = []
        eh_inputs: list[Block] = []
        init_inputs: list[tuple[int, int, Block]] = []
        fini_inputs: list[tuple[int, int, Block]] = []
        tls_inputs: list[Block] = []
        by_class = {
            Role.TEXT: text,
            Role.RODATA: rodata,
            Role.DATA: data,
            Role.ZEROFILL: zerofill,
            Role.EH_FRAME: eh_inputs,
            Role.TLS_DATA: tls_inputs,
            Role.TLS_ZERO: tls_inputs,
        }
        section_blocks: list[dict[int, Block]] = []
        self._debug: list[tuple[int, ObjectFile, list[Section]]] = []  # (object index, ...)
        for oi, obj in enumerate(objects):
            blocks: dict[int, Block] = {}
            debug: list[Section] = []
            dropped = discarded[oi]
            for sec, role in zip(obj.sections, roles[oi], strict=True):
                if role is None or sec.index in dropped:
                    continue
                if role is Role.DEBUG:
                    debug.append(sec)
                    continue
                seg = (
                    SegClass.DATA
                    if role in (Role.INIT_ARRAY, Role.FINI_ARRAY)
                    else (SegClass.RODATA if role in (Role.EH_FRAME, Role.TLS_DATA)
                          else SegClass.ZEROFILL if role is Role.TLS_ZERO
                          else SegClass(role.value))
                )
                blk = Block(
                    obj.name,
                    sec.name,
                    seg,
                    sec.align,
                    sec.size,
                    None if role in (Role.ZEROFILL, Role.TLS_ZERO) else sec.data,
                )
                blocks[sec.index] = blk
                if role is Role.INIT_ARRAY:
                    init_inputs.append((_priority(sec.name), len(init_inputs), blk))
                elif role is Role.FINI_ARRAY:
                    fini_inputs.append((_priority(sec.name), len(fini_inputs), blk))
                else:
                    by_class[role].append(blk)
            section_blocks.append(blocks)
            if debug:
                self._debug.append((oi, obj, debug))

        # Linker-provided blocks and symbols (used only when no object defines them).
        tables = Tables(arch)
        self._init = Block(
            ehframe.MERGED_OBJ, ".init_array", SegClass.DATA, POINTER_SIZE, 0, bytearray()
        )
        self._fini = Block(
            ehframe.MERGED_OBJ, ".fini_array", SegClass.DATA, POINTER_SIZE, 0, bytearray()
        )
        array_ends: list[tuple[Symbol, Block]] = []

        def provide(name: str) -> Symbol | None:
            if name == GOT_SYMBOL:
                return tables.got_base
            for names, blk in ((INIT_ARRAY_SYMBOLS, self._init), (FINI_ARRAY_SYMBOLS, self._fini)):
                if name in names:
                    sym = Symbol(name, LINKER_OBJ, SymKind.DEFINED, blk)
                    if name == names[1]:
                        array_ends.append((sym, blk))
                    return sym
            if name == tls.MODULE_BASE and tls_inputs:
                # AArch64 local dynamic: the start of the TLS module (offset 0).
                return Symbol(name, LINKER_OBJ, SymKind.TLS)
            return None

        roles_of = {id(o): r for o, r in zip(objects, roles, strict=True)}
        tls_rules = arch.tls
        aliases = ({tls_rules.get_addr: tls.RUNTIME_GET_ADDR}
                   if tls_inputs and tls_rules is not None and tls_rules.get_addr else None)
        res = resolve(
            objects,
            section_blocks,
            discarded,
            lambda o, i: 0 < i < len(o.sections) and roles_of[id(o)][i] is Role.DEBUG,
            provide,
            aliases,
        )
        self._resolution = res

        # Relocations -> edges.
        eh_set = set(eh_inputs)
        eh_sections = [{i for i, b in sb.items() if b in eh_set} for sb in section_blocks]
        absolute_zero = Symbol("*ABS*", LINKER_OBJ, SymKind.ABSOLUTE)
        dead_refs: dict[Block, set[int]] = {}
        edge_kind = arch.edge_kind
        bad_targets: list[str] = []
        for oi, obj in enumerate(objects):
            syms = res.object_symbols[oi]
            for index, blk in section_blocks[oi].items():
                table = obj.relocs.get(index)
                if table is None:
                    continue
                if blk.content is None:
                    raise LinkError(f"{obj.name}: relocations against zero-fill section {blk.name}")
                is_eh = index in eh_sections[oi]
                edges = blk.edges
                for off, rtype, symi, addend in table.entries():
                    kind = edge_kind.get(rtype)
                    if kind is None:
                        continue  # R_*_NONE
                    t = syms[symi] if symi else absolute_zero
                    if t is None:
                        raise LinkError(
                            f"{location(obj.name, blk.name, off)}: relocation "
                            f"against invalid symbol #{symi}"
                        )
                    if is_eh and obj.symbols[symi].shndx in discarded[oi]:
                        # Refers to a discarded COMDAT copy (by a global name that now
                        # resolves to the kept copy): an FDE starting there must go.
                        dead_refs.setdefault(blk, set()).add(off)
                    elif t.kind is SymKind.DISCARDED and not is_eh:
                        bad_targets.append(
                            f"{location(obj.name, blk.name, off)}: relocation "
                            f"{arch.reloc_name(rtype)} refers to '{t.name}' in a "
                            "discarded or unloaded section"
                        )
                    edges.append(Edge(off, kind, t, addend, rtype))

        # The TLS module: its blocks' symbols get module offsets instead of addresses.
        module = tls.TlsModule(tls_inputs, LINKER_OBJ) if tls_inputs else None
        if module is not None:
            for syms in res.object_symbols:
                module.bind(syms)
        self._tls = module

        # Merge .eh_frame, .init_array*, .fini_array* into one block each.
        moved: dict[Block, tuple[Block, int]] = {}
        eh = ehframe.merge(eh_inputs, max((b.align for b in eh_inputs), default=8), dead_refs)
        if eh is not None:
            for blk, piece in zip(eh_inputs, eh.pieces, strict=True):
                moved[blk] = (eh, piece[0])
            for e in eh.edges:
                if e.target.kind is SymKind.DISCARDED:
                    bad_targets.append(
                        f"{block_location(eh, e.offset)}: refers to "
                        f"'{e.target.name}' in a discarded section"
                    )
        self._eh = eh
        for merged, inputs in ((self._init, init_inputs), (self._fini, fini_inputs)):
            _merge_arrays(merged, sorted(inputs, key=lambda t: (t[0], t[1])), moved)
        for sym, blk in array_ends:
            sym.offset = blk.size
        if bad_targets:
            raise LinkError(
                f"{len(bad_targets)} relocation{'s' if len(bad_targets) > 1 else ''} against "
                "discarded sections",
                why="\n".join(bad_targets[:20]),
                hint="a COMDAT group was discarded in favour of another object's copy; "
                "the objects disagree about an inline function or template",
            )

        all_symbols: list[Symbol] = [absolute_zero]
        seen: set[int] = set()
        for syms in res.object_symbols:
            for s in syms:
                if s is not None and id(s) not in seen:
                    seen.add(id(s))
                    if s.block is not None and s.block in moved:
                        nb, delta = moved[s.block]
                        s.block, s.offset = nb, s.offset + delta
                    all_symbols.append(s)

        # TLS edges -> index entries / module offsets, then GOT and stubs, then layout.
        loaded = [*text, *rodata, *data, self._init, self._fini]
        self.live: LivePass | None = None
        if live:
            from crossjit.link import live as _live

            live_inputs = [b for sb in section_blocks for b in sb.values()] + res.common_blocks
            self.live = _live.prepare(arch, objects, res, live_inputs, loaded, tables, running)
            all_symbols += self.live.extra_symbols
            seen.update(id(s) for s in self.live.extra_symbols)
        if eh is not None:
            loaded.append(eh)
        if module is not None:
            loaded.append(module.image)
            rodata += [module.image, module.index]
            data.append(module.descriptor)
        if tls_rules is not None and (module is not None or tls_relocs):
            tls.rewrite_edges(loaded, module, tls_rules, arch.reloc_name,
                              res.definitions.get(tls.RUNTIME_GET_ADDR))
            if module is not None and module.resolver_block is not None:
                # AArch64 TLS descriptors, and their resolver (calls into runtime/tls.c).
                rodata.append(module.descriptors)
                text.append(module.resolver_block)
                loaded.append(module.resolver_block)
        if module is not None:
            module.finish()
            for s in module.symbols():
                seen.add(id(s))
                all_symbols.append(s)
        tables.run(loaded)
        self._tables = tables
        for s in (
            *res.definitions.values(),
            *res.externals.values(),
            tables.got_base,
            *tables.got_entries.values(),
            *tables.stub_entries.values(),
        ):
            if id(s) not in seen:
                seen.add(id(s))
                all_symbols.append(s)
        for i, s in enumerate(all_symbols):
            s.id = i
        self._symbols = all_symbols

        zerofill += res.common_blocks
        self._segments, self.reservation_size = layout(
            [*text, tables.stubs],
            [*rodata, *([eh] if eh is not None else [])],
            [*data, self._init, self._fini, tables.got],
            zerofill,
            page_size,
        )
        self._blocks = [b for seg in self._segments for b in seg.blocks]
        self.max_align = max((b.align for b in self._blocks), default=1)
        if self.max_align > page_size:
            # The executor only promises page alignment: reserve slack to align up in finish.
            self.reservation_size += self.max_align - page_size
        self.externals = [
            ExternalRef(name, res.weak_refs_only[name], res.referenced_by[name])
            for name in res.externals
        ]

    @property
    def defined(self) -> frozenset[str]:
        """The global symbols the inputs define (what another link may resolve here)."""
        return frozenset(self._resolution.definitions)

    def finish(self, base: int, resolved: Mapping[str, int | None]) -> LinkedImage:
        """Fix up for a reservation at ``base``; ``resolved`` maps externals to addresses
        (``None`` or absent: not found; allowed only for weak references, which become 0)."""
        if base % self.page_size:
            raise LinkError(
                f"reservation at {base:#x} is not aligned to the page size {self.page_size:#x}"
            )
        base = align_up(base, self.max_align)
        res = self._resolution
        missing = {
            name: refs
            for name, refs in res.referenced_by.items()
            if not res.weak_refs_only[name] and resolved.get(name) is None
        }
        if missing:
            raise UnresolvedSymbolsError(missing)

        addrs = [0] * len(self._symbols)
        for s in self._symbols:
            k = s.kind
            if k is SymKind.DEFINED:
                assert s.block is not None
                addrs[s.id] = base + s.block.offset + s.offset
            elif k is SymKind.ABSOLUTE or k is SymKind.DEBUG or k is SymKind.TLS:
                addrs[s.id] = s.offset
            elif k is SymKind.EXTERNAL:
                addrs[s.id] = resolved.get(s.name) or 0
        buffers = apply_segments(
            self.arch, self._segments, base, addrs, base + self._tables.got.offset
        )
        return LinkedImage(self, base, addrs, buffers)


def _merge_arrays(
    merged: Block, inputs: list[tuple[int, int, Block]], moved: dict[Block, tuple[Block, int]]
) -> None:
    """Concatenate pointer arrays in priority order, carrying their edges along."""
    out = merged.content
    assert isinstance(out, bytearray)
    merged.pieces = []
    for _, _, blk in inputs:
        pos = align_up(len(out), blk.align)
        out += bytes(pos - len(out))
        assert blk.content is not None
        if _is_legacy_array(blk.name):
            # crtbegin walks .ctors backwards and crtend .dtors forwards: reverse the
            # entries so the runtime's init_array/fini_array walk keeps their order.
            n = len(blk.content) // POINTER_SIZE
            out += b"".join(
                blk.content[i * POINTER_SIZE : (i + 1) * POINTER_SIZE] for i in reversed(range(n))
            )
            merged.edges.extend(
                Edge(pos + (n - 1 - e.offset // POINTER_SIZE) * POINTER_SIZE
                     + e.offset % POINTER_SIZE, e.kind, e.target, e.addend, e.rtype)
                for e in blk.edges
            )
        else:
            out += blk.content
            merged.edges.extend(
                Edge(e.offset + pos, e.kind, e.target, e.addend, e.rtype) for e in blk.edges
            )
        merged.pieces.append((pos, blk.obj, blk.name, blk.size))
        moved[blk] = (merged, pos)
    merged.size = len(out)


class LinkedImage:
    """The linked program at its final addresses."""

    def __init__(
        self, plan: LinkPlan, base: int, addrs: list[int], buffers: list[bytearray]
    ) -> None:
        self._plan = plan
        self.base = base
        self._addrs = addrs
        segs = plan._segments
        self.segments = [
            Segment(base + s.offset, s.size, s.prot, bytes(buf))
            for s, buf in zip(segs, buffers, strict=True)
        ]
        res = plan._resolution
        self.symbols: dict[str, int] = {
            name: addrs[s.id]
            for name, s in res.definitions.items()
            if s.kind in (SymKind.DEFINED, SymKind.ABSOLUTE)
        }
        eh = plan._eh
        self.eh_frame: tuple[int, int] | None = (base + eh.offset, eh.size) if eh else None
        self.init_funcs = self._array(plan._init, segs, buffers)
        self.fini_funcs = self._array(plan._fini, segs, buffers)[::-1]  # run back to front
        self.sections = [
            SectionInfo(obj, sec, base + b.offset + start, size)
            for b in plan._blocks
            for start, obj, sec, size in b.pieces
        ]
        self._starts: list[int] | None = None
        self._by_addr: list[tuple[int, int, int, str, str]] = []
        self._debug: dict[str, dict[str, bytes]] | None = None
        self.live: LiveImage | None = plan.live.finish(base, addrs) if plan.live else None

    @staticmethod
    def _array(blk: Block, segs: list[SegmentLayout], bufs: list[bytearray]) -> list[int]:
        for seg, buf in zip(segs, bufs, strict=True):
            if blk in seg.blocks:
                pos = blk.offset - seg.offset
                return [v for (v,) in struct.iter_unpack("<Q", buf[pos : pos + blk.size])]
        return []

    def symbol_at(self, addr: int) -> tuple[str, str] | None:
        """The symbol (name, object) whose definition contains ``addr``, for symbolizing
        crash addresses; a size-less symbol covers up to the next one in its section."""
        if self._starts is None:
            entries = []
            for s in self._plan._symbols:
                if s.kind is SymKind.DEFINED and not s.is_section and s.name and s.block:
                    b = s.block
                    a = self._addrs[s.id]
                    end = a + s.size if s.size else self.base + b.offset + b.size
                    entries.append((a, end, self.base + b.offset + b.size, s.name, s.obj))
            entries.sort(key=lambda t: (t[0], -t[1]))
            self._by_addr = entries
            self._starts = [e[0] for e in entries]
        i = bisect.bisect_right(self._starts, addr) - 1
        fallback = None
        while i >= 0:
            start, end, block_end, name, obj = self._by_addr[i]
            if start <= addr < end:
                return name, obj
            if fallback is None and addr < block_end:
                fallback = (name, obj)
            if addr - start > 1 << 20:
                break
            i -= 1
        return fallback

    def debug_sections(self) -> dict[str, dict[str, bytes]]:
        """Per object, each ``.debug_*`` section relocated for the loaded addresses.

        Computed on first use (DWARF relocations are most of a ``-g`` object's). DWARF
        references between debug sections are section offsets; references into
        discarded COMDAT sections get the tombstone value (0; 1 in .debug_ranges/.debug_loc,
        where 0 would end a list).
        """
        if self._debug is None:
            self._debug = {}
            for oi, obj, secs in self._plan._debug:
                self._debug[obj.name] = {sec.name: self._relocate_debug(oi, obj, sec)
                                         for sec in secs}
        return self._debug

    def _relocate_debug(self, oi: int, obj: ObjectFile, sec: Section) -> bytes:
        plan = self._plan
        arch = plan.arch
        buf = bytearray(section_bytes(sec))
        table = obj.relocs.get(sec.index)
        if table is None:
            return bytes(buf)
        syms = plan._resolution.object_symbols[oi]
        tombstone = 1 if sec.name in (".debug_ranges", ".debug_loc") else 0
        absolute_zero = plan._symbols[0]
        edges = []
        for off, rtype, symi, addend in table.entries():
            kind = arch.edge_kind.get(rtype)
            if kind is None:
                continue
            if kind in arch.got_transform or kind in arch.got_base_transform:
                raise LinkError(
                    f"{location(obj.name, sec.name, off)}: relocation "
                    f"{arch.reloc_name(rtype)} is not valid in a debug section"
                )
            t = syms[symi] if symi else absolute_zero
            if t is None:
                continue
            if t.kind is SymKind.DISCARDED:
                t, addend = absolute_zero, tombstone
            kind = tls.debug_kind(arch.tls, kind, t, location(obj.name, sec.name, off),
                                  arch.reloc_name(rtype))
            edges.append(Edge(off, kind, t, addend, rtype))
        errs: list[FixupError] = []
        arch.apply_fixups(buf, 0, 0, edges, self._addrs, 0, errs)
        blk = Block(obj.name, sec.name, SegClass.RODATA, 1, len(buf), None)
        raise_range_errors(arch, [(blk, e) for e in errs])
        return bytes(buf)

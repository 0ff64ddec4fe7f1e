"""The live linker pass (`crossjit run --watch --live`, docs/watch.md).

First image: every defined function gets a stub ``jmp *slot(%rip)`` and an RW pointer
slot (the GOT/stub machinery of ``tables.py``: the slot is the function's GOT entry, the
stub its PLT-style entry), and the *stub is the function's address*: every reference to
a function — calls, ``&f`` in code, pointers in data, vtables, tables — is retargeted to
it, so a pointer stored anywhere reaches the newest body once the slot is rewritten.
Only the slot itself, ``.eh_frame`` and debug info keep the body's address.

Patch (a reload of changed objects, linked against ``running``):

- a function that exists in the running program keeps its stub: the patch's references
  to it bind to that stub and its slot is rewritten with the new body;
- a new function gets a new stub and slot in the patch;
- writable data (``.data*``, ``.bss*``, COMMON; not ``.data.rel.ro``) binds to the
  storage in use when the same object had the same section with the same symbol layout,
  and is refused when a kept variable's size or layout changed; new sections are new
  storage; read-only data is always the patch's.

References to ``static`` symbols arrive as section symbol + addend; compile/sections.py
gives each function and writable variable its own section, so they resolve to the one
symbol there. A reference into the middle of a function (a jump table) stays direct.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

from crossjit.errors import CrossjitError, NotSupportedError
from crossjit.link.arch import Arch
from crossjit.link.graph import Block, SegClass, Symbol, SymKind
from crossjit.link.objfile import (
    SHN_UNDEF,
    STB_LOCAL,
    STT_FUNC,
    STT_OBJECT,
    ObjectFile,
    RawSymbol,
)
from crossjit.link.resolve import Resolution
from crossjit.link.tables import LINKER_OBJ, Tables
from crossjit.records import field, record

FunctionKey = tuple[str, str]  # ("", name) for a global; (object, name) for a local
# A C++ vtable: its size and what each slot refers to (offset in the table, symbol).
VtableShape = tuple[int, tuple[tuple[int, str], ...]]
DataKey = tuple[str, str]  # (object, section)

# The displacement of a PC-relative 32-bit field counts from the end of the instruction:
# a call or `lea f(%rip)` has addend -4 when it means f itself.
_PC_BIAS = {"x86_64": 4, "aarch64": 0}  # AArch64: ADRP/ADD, B/BL name f with addend 0
_ARRAY_PREFIXES = (".init_array", ".fini_array", ".ctors", ".dtors")
# compile/sections.py's mark of an object built for live reload (not imported: the
# link layer does not depend on compile).
LIVE_UNIT_SYMBOL = "__crossjit_live_unit"


def is_live_unit(obj: ObjectFile) -> bool:
    """Built for live reload (compile/sections.py). Other objects — fetched sources,
    crossjit's runtime, `.o` inputs — are *fixed*: no stubs for their functions (calls to
    them and inside them stay direct), and a reload of one is refused."""
    return any(rs.name == LIVE_UNIT_SYMBOL and rs.bind == STB_LOCAL for rs in obj.symbols[1:])


class LiveRefusal(CrossjitError):
    """Kept state cannot survive this edit; watch restarts the program instead."""

    def __init__(self, what: str, *, symbol: str = "", obj: str = "", line: int = 0,
                 why: str | None = None, hint: str | None = None) -> None:
        super().__init__(what, why=why, hint=hint)
        self.symbol = symbol
        self.obj = obj
        self.line = line  # from DWARF when known; else the paragraph looks it up


@record(frozen=True)
class LiveFunction:
    key: FunctionKey
    name: str
    obj: str
    stub: int  # the function's address for every caller
    slot: int  # RW pointer the stub jumps through
    body: int  # the code the slot points at now
    size: int


@record(frozen=True)
class LiveData:
    obj: str
    section: str
    addr: int
    size: int
    symbols: tuple[tuple[str, int, int], ...]  # named objects: (name, offset, size)


@record
class LiveImage:
    """What one (first or patch) link defined, at its final addresses."""

    functions: list[LiveFunction]  # new stubs
    replaced: list[LiveFunction]  # existing stubs, new bodies (``body``)
    kept: list[LiveData]  # storage in use, bound to
    new_data: list[LiveData]
    slot_writes: list[tuple[int, int]]  # (slot, body): written in one write_uint64s
    symbols: dict[str, int]  # global names -> what later references bind to
    imports: dict[str, frozenset[str]]  # per object: global names it references
    retired_bytes: int = 0  # code bodies no longer reached through a slot
    vtables: dict[str, VtableShape] = field(default_factory=dict)
    fixed: frozenset[str] = frozenset()  # objects linked directly (not is_live_unit)


@record
class LiveMap:
    """The running program as far as a patch link needs it (first image + patches)."""

    functions: dict[FunctionKey, LiveFunction] = field(default_factory=dict)
    data: dict[DataKey, LiveData] = field(default_factory=dict)
    symbols: dict[str, int] = field(default_factory=dict)
    imports: dict[str, frozenset[str]] = field(default_factory=dict)
    vtables: dict[str, VtableShape] = field(default_factory=dict)
    fixed: set[str] = field(default_factory=set)

    def merge(self, image: LiveImage) -> None:
        self.vtables.update(image.vtables)
        self.fixed.update(image.fixed)
        for f in (*image.functions, *image.replaced):
            self.functions[f.key] = f
        for d in image.new_data:
            self.data[(d.obj, d.section)] = d
        self.symbols.update(image.symbols)
        self.imports.update(image.imports)


def _is_array(name: str) -> bool:
    return name.startswith(_ARRAY_PREFIXES)


def _writable(blk: Block) -> bool:
    return (blk.seg in (SegClass.DATA, SegClass.ZEROFILL) and not _is_array(blk.name)
            and not blk.name.startswith(".data.rel.ro") and blk.obj != LINKER_OBJ)


class LivePass:
    """Built by :func:`prepare` during planning; :meth:`finish` gives the addresses."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.new_functions: list[tuple[FunctionKey, Symbol]] = []
        self.replaced: list[tuple[LiveFunction, Symbol]] = []
        self.kept: list[LiveData] = []
        self.new_data: list[tuple[Block, tuple[tuple[str, int, int], ...]]] = []
        self.extra_symbols: list[Symbol] = []
        self.globals_: dict[str, Symbol] = {}  # global name -> its definition here
        self.imports: dict[str, frozenset[str]] = {}
        self.vtables: dict[str, VtableShape] = {}
        self.fixed: frozenset[str] = frozenset()

    def finish(self, base: int, addrs: Sequence[int]) -> LiveImage:
        t = self.tables
        functions = [
            LiveFunction(key, s.name, s.obj, addrs[t.stub_entries[s].id],
                         addrs[t.got_entries[s].id], addrs[s.id], s.size)
            for key, s in self.new_functions
        ]
        replaced = [LiveFunction(old.key, old.name, old.obj, old.stub, old.slot, addrs[s.id],
                                 s.size) for old, s in self.replaced]
        new_data = [LiveData(b.obj, b.name, base + b.offset, b.size, syms)
                    for b, syms in self.new_data]
        stub_of = {f.name: f.stub for f in functions if not f.key[0]}
        stub_of.update({f.name: f.stub for f in replaced if not f.key[0]})
        symbols: dict[str, int] = {}
        for name, s in self.globals_.items():
            if name in stub_of:
                symbols[name] = stub_of[name]
            elif s.kind is SymKind.DEFINED:
                symbols[name] = addrs[s.id]
        for d in self.kept:
            for name, off, _ in d.symbols:
                if name in self.globals_:
                    symbols[name] = d.addr + off
        return LiveImage(
            functions, replaced, self.kept, new_data,
            [(f.slot, f.body) for f in replaced], symbols, self.imports,
            retired_bytes=sum(old.size for old, _ in self.replaced), vtables=self.vtables,
            fixed=self.fixed,
        )


def _defined(objects: Sequence[ObjectFile], res: Resolution, stype: int
             ) -> Iterator[tuple[ObjectFile, RawSymbol, Symbol, Block]]:
    """Each symbol of ELF type ``stype`` an object defines that resolution kept as a
    defined symbol in a block: (object, its symbol-table entry, the symbol, the block)."""
    for oi, obj in enumerate(objects):
        syms = res.object_symbols[oi]
        for rs in obj.symbols[1:]:
            if rs.type != stype or rs.shndx == SHN_UNDEF:
                continue
            s = syms[rs.index]
            if s is None or s.kind is not SymKind.DEFINED or s.block is None:
                continue
            yield obj, rs, s, s.block


def _functions(objects: Sequence[ObjectFile], res: Resolution, fixed: frozenset[str]
               ) -> list[tuple[FunctionKey, Symbol]]:
    """Every function defined in loaded code of a live unit, once, with its identity."""
    out: list[tuple[FunctionKey, Symbol]] = []
    seen: set[int] = set()
    keys: set[FunctionKey] = set()
    for obj, rs, s, block in _defined(objects, res, STT_FUNC):
        if (block.seg is not SegClass.TEXT or s.obj != obj.name or id(s) in seen
                or obj.name in fixed):
            continue
        key = (obj.name, rs.name) if rs.bind == STB_LOCAL else ("", rs.name)
        if key in keys:
            continue  # two local functions of one name: not reloadable, left direct
        seen.add(id(s))
        keys.add(key)
        out.append((key, s))
    return out


def _named_objects(objects: Sequence[ObjectFile], res: Resolution
                   ) -> dict[Block, list[tuple[str, int, int]]]:
    """Named data symbols per block: the layout a kept section must keep."""
    out: dict[Block, list[tuple[str, int, int]]] = {}
    for _, rs, s, block in _defined(objects, res, STT_OBJECT):
        entry = (rs.name, s.offset, s.size)
        lst = out.setdefault(block, [])
        if entry not in lst:
            lst.append(entry)
    for blk in res.common_blocks:
        out.setdefault(blk, [(blk.name.removeprefix("COMMON."), 0, blk.size)])
    return out


def _class_of_vtable(name: str) -> str:
    """``_ZTV5Shape`` -> ``Shape`` (a plain class name); the mangled name otherwise."""
    m = re.fullmatch(r"_ZTV(\d+)([A-Za-z_]\w*)", name)
    return m.group(2) if m and len(m.group(2)) == int(m.group(1)) else name


def _vtables(definitions: dict[str, Symbol]) -> dict[str, VtableShape]:
    """Each defined C++ vtable's shape, read before references are retargeted."""
    out: dict[str, VtableShape] = {}
    for name, s in definitions.items():
        if not name.startswith("_ZTV") or s.block is None or s.kind is not SymKind.DEFINED:
            continue
        lo, hi = s.offset, s.offset + s.size
        refs = tuple(sorted((e.offset - lo, e.target.name) for e in s.block.edges
                            if lo <= e.offset < hi))
        out[name] = (s.size, refs)
    return out


def _imports(objects: Sequence[ObjectFile]) -> dict[str, frozenset[str]]:
    return {obj.name: frozenset(rs.name for rs in obj.symbols[1:]
                                if rs.shndx == SHN_UNDEF and rs.bind != STB_LOCAL and rs.name)
            for obj in objects}


def prepare(arch: Arch, objects: Sequence[ObjectFile], res: Resolution,
            data_blocks: Iterable[Block], blocks: Iterable[Block], tables: Tables,
            running: LiveMap | None) -> LivePass:
    """Create stubs/slots, bind a patch to the running program, retarget ``blocks``'
    edges. ``data_blocks``: every loaded input block (for writable data);
    ``blocks``: those whose references are rewritten (not .eh_frame)."""
    if arch.name not in _PC_BIAS:
        # The pass is generic, but only these CPUs' stubs and reference forms are tested.
        raise NotSupportedError(f"--live does not support {arch.name} yet",
                                hint="use --watch without --live (it restarts the program)")
    lp = LivePass(tables)
    lp.fixed = frozenset(o.name for o in objects if not is_live_unit(o))
    if running is not None and lp.fixed:
        name = sorted(lp.fixed)[0]
        raise LiveRefusal(
            f"{name} is not reloadable: it was linked without live stubs", obj=name,
            why="fetched sources, crossjit's runtime and .o inputs are built and called "
            "directly (as without --live), so a new version cannot be switched in")
    lp.imports = _imports(objects)
    lp.globals_ = {n: s for n, s in res.definitions.items() if s.obj != LINKER_OBJ}
    lp.vtables = _vtables(lp.globals_)
    if running is not None:
        for name, shape in lp.vtables.items():
            old_shape = running.vtables.get(name)
            if old_shape is not None and old_shape != shape:
                s = lp.globals_[name]
                cls = _class_of_vtable(name)
                raise LiveRefusal(
                    f"the vtable of {cls} changed shape ({old_shape[0]} -> {shape[0]} bytes)",
                    symbol=cls, obj=s.obj,
                    why="objects made before the reload keep the old vtable, whose slots "
                    "would no longer match what new code calls")
    absolute: dict[int, Symbol] = {}

    def at(addr: int, name: str) -> Symbol:
        sym = absolute.get(addr)
        if sym is None:
            sym = absolute[addr] = Symbol(name, LINKER_OBJ, SymKind.ABSOLUTE, None, addr)
            lp.extra_symbols.append(sym)
        return sym

    redirect: dict[int, Symbol] = {}  # id(function symbol) -> what references go to
    func_at: dict[tuple[int, int], Symbol] = {}  # (id(block), offset) -> function
    for key, s in _functions(objects, res, lp.fixed):
        assert s.block is not None
        func_at.setdefault((id(s.block), s.offset), s)
        old = running.functions.get(key) if running is not None else None
        if old is not None:
            redirect[id(s)] = at(old.stub, f"{s.name}@live")
            lp.replaced.append((old, s))
        else:
            redirect[id(s)] = tables.stub(s)
            lp.new_functions.append((key, s))

    kept_at: dict[int, int] = {}  # id(block) -> address of the storage in use
    layouts = _named_objects(objects, res)
    for blk in data_blocks:
        if blk.obj in lp.fixed:
            continue  # never reloaded: nothing binds to it but by symbol
        if not _writable(blk):
            if running is not None and _is_array(blk.name) and blk.size:
                raise LiveRefusal(
                    f"{blk.obj}: a reloaded unit with static constructors or destructors "
                    f"({blk.name}) is not supported yet", obj=blk.obj,
                    why="running them again would re-initialise state the program holds")
            continue
        syms = tuple(layouts.get(blk, ()))
        old_d = running.data.get((blk.obj, blk.name)) if running is not None else None
        if old_d is None:
            lp.new_data.append((blk, syms))
            continue
        if old_d.size != blk.size or old_d.symbols != syms:
            name = syms[0][0] if len(syms) == 1 else (old_d.symbols[0][0] if len(
                old_d.symbols) == 1 else blk.name)
            raise LiveRefusal(
                f"kept variable '{name}' changed size ({old_d.size} -> {blk.size} bytes)"
                if old_d.size != blk.size else
                f"the layout of kept data in {blk.name} changed",
                symbol=name, obj=blk.obj)
        kept_at[id(blk)] = old_d.addr
        lp.kept.append(old_d)

    bias_kinds = {*arch.branch_kinds, arch.data_delta_kind}
    bias = _PC_BIAS.get(arch.name, 0)
    got_kinds = arch.got_transform
    for blk in blocks:
        in_text = blk.seg is SegClass.TEXT
        for e in blk.edges:
            t = e.target
            tb = t.block
            if t.kind is not SymKind.DEFINED or tb is None:
                continue
            kept = kept_at.get(id(tb))
            if kept is not None:
                e.target = at(kept + t.offset, f"{t.name}@kept")
                continue
            if tb.seg is not SegClass.TEXT:
                continue
            if e.kind in got_kinds:
                off = t.offset
            else:
                off = t.offset + e.addend + (bias if in_text and e.kind in bias_kinds else 0)
            f = func_at.get((id(tb), off))
            if f is None:
                continue  # into a function's middle (a jump table) or not a function
            e.addend += t.offset - f.offset
            e.target = redirect[id(f)]
    return lp

"""Thread-local storage: one TLS module per link image, served by runtime/tls.c.

JIT'd code is not in the dynamic linker's module list, so libc's ``__tls_get_addr``
cannot find its variables. Instead (design (ii) of shared/docs/tls.md, the shape ORC's
ELFNixPlatform uses for general-dynamic accesses):

- every SHF_TLS section of the image joins one module: ``.tdata`` pieces first, then
  ``.tbss``, each aligned; a TLS symbol's "address" is its offset in the module
  (:attr:`SymKind.TLS`);
- the ``.tdata`` bytes, relocated like any data, become the read-only init image;
- a module descriptor (RW, :data:`MODULE_SIZE` bytes, ``struct tls_module`` in
  runtime/tls.c) and 16-byte index entries ``{&module, offset}`` (glibc's ``tls_index``
  shape) are synthesised; TLS edges are rewritten to plain kinds per the architecture's
  :class:`TlsRules` (x86-64: TLSGD -> Delta32 to the symbol's entry, TLSLD -> Delta32 to
  ``{&module, 0}``, DTPOFF32/64 -> the module offset);
- ``__tls_get_addr`` binds to the runtime's ``__crossjit_tls_get_addr`` (the linker
  passes the alias to resolve), which allocates each thread's block on first use.

Architecture-neutral on purpose: AArch64's TLSDESC sequences reach 16-byte descriptors
``{&__crossjit_tlsdesc_resolver, &index entry}`` (:attr:`TlsRef.DESCRIPTOR`, a table next
to the index entries, read-only once linked); the resolver, machine code the linker
places in the image (:meth:`TlsModule.resolver`), calls ``__crossjit_tls_get_addr`` with
the entry and returns the address minus TPIDR_EL0.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence

from crossjit.errors import LinkError, NotSupportedError
from crossjit.link.arch import TlsRef, TlsRules
from crossjit.link.archive import is_archive, read_archive
from crossjit.link.diagnostics import block_location, target_name
from crossjit.link.ehframe import MERGED_OBJ
from crossjit.link.graph import Block, Edge, EdgeKind, SegClass, Symbol, SymKind
from crossjit.link.layout import align_up
from crossjit.link.objfile import SHF_TLS

__all__ = [
    "DESCRIPTOR_SIZE",
    "INDEX_ENTRY_SIZE",
    "MODULE_SIZE",
    "RUNTIME_GET_ADDR",
    "TlsModule",
    "debug_kind",
    "has_tls_sections",
    "rewrite_edges",
]

RUNTIME_GET_ADDR = "__crossjit_tls_get_addr"  # runtime/tls.c
MODULE_SYMBOL = "__crossjit_tls_module"
RESOLVER = "__crossjit_tlsdesc_resolver"  # linker-made (Arch.tls.resolver_code)
MODULE_BASE = "_TLS_MODULE_BASE_"  # AArch64 local dynamic: the module's start, offset 0
# struct tls_module { u32 key; i32 state; const void *init; u64 init_size, size, align; }
MODULE_SIZE = 40
_MODULE_INIT = 8  # offset of the init pointer
_MODULE_SIZES = struct.Struct("<QQQ")  # at offset 16
INDEX_ENTRY_SIZE = 16  # struct tls_index { struct tls_module *module; u64 offset; }
DESCRIPTOR_SIZE = 16  # AArch64 TLSDESC: { resolver, struct tls_index * }

_NOT_HANDLED_HINT = (
    "crossjit's linker supports the general- and local-dynamic TLS models (the default "
    "for -fPIC code, which crossjit compiles); this object uses another one"
)


def has_tls_sections(data: bytes) -> bool:
    """Does this ELF64 little-endian object, or a member of this static archive, have an
    SHF_TLS section? A header scan only, so callers can decide cheaply whether to link
    runtime/tls.c (for an archive before knowing which members the link pulls in: at
    worst the runtime is linked and unused); anything that is not such an object or
    archive answers False (the linker then reports what is wrong with it)."""
    if is_archive(data):
        try:
            members = read_archive("", data).members
        except (LinkError, NotSupportedError):
            return False  # the linker reports it, naming the archive
        return any(_object_has_tls(m.data) for m in members)
    return _object_has_tls(data)


def _object_has_tls(data: bytes) -> bool:
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return False
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    if shoff == 0 or shentsize < 64 or shoff + 64 > len(data):
        return False
    if shnum == 0:  # extended numbering: the count is in section 0's sh_size
        (shnum,) = struct.unpack_from("<Q", data, shoff + 32)
    if shoff + shnum * shentsize > len(data):
        return False
    return any(
        struct.unpack_from("<Q", data, shoff + i * shentsize + 8)[0] & SHF_TLS
        for i in range(shnum)
    )


class TlsModule:
    """The image's TLS module: init image, descriptor and index entries."""

    def __init__(self, inputs: Sequence[Block], obj: str) -> None:
        """``inputs``: the image's SHF_TLS blocks in link order (``.tdata`` ones carry
        content and edges, ``.tbss`` ones have none); ``obj`` names linker-made blocks."""
        init = [b for b in inputs if b.content is not None]
        zero = [b for b in inputs if b.content is None]
        out = bytearray()
        image = Block(MERGED_OBJ, ".tdata", SegClass.RODATA,
                      max((b.align for b in init), default=1), 0, out)
        image.pieces = []
        self.offsets: dict[Block, int] = {}
        for b in init:
            pos = align_up(len(out), b.align)
            out += bytes(pos - len(out))
            assert b.content is not None
            out += b.content
            image.edges.extend(Edge(e.offset + pos, e.kind, e.target, e.addend, e.rtype)
                               for e in b.edges)
            image.pieces.append((pos, b.obj, b.name, b.size))
            self.offsets[b] = pos
        image.size = self.init_size = len(out)
        end = len(out)
        for b in zero:
            end = align_up(end, b.align)
            self.offsets[b] = end
            end += b.size
        self.size = end
        self.align = max((b.align for b in inputs), default=1)
        self.image = image
        self.image_start = Symbol("__crossjit_tls_image", obj, SymKind.DEFINED, image)

        desc = bytearray(MODULE_SIZE)
        _MODULE_SIZES.pack_into(desc, 16, self.init_size, self.size, self.align)
        self.descriptor = Block(obj, ".crossjit.tls_module", SegClass.DATA, 8, MODULE_SIZE, desc)
        self.descriptor.edges.append(
            Edge(_MODULE_INIT, EdgeKind.Pointer64, self.image_start, 0, -1))
        self.module = Symbol(MODULE_SYMBOL, obj, SymKind.DEFINED, self.descriptor, 0, MODULE_SIZE)
        # Read-only once linked: the runtime keeps its per-thread state in the descriptor.
        self.index = Block(obj, ".crossjit.tls_index", SegClass.RODATA, 8, 0, bytearray())
        # AArch64 TLS descriptors (another read-only table: the resolver never writes them).
        self.descriptors = Block(obj, ".crossjit.tlsdesc", SegClass.RODATA, 8, 0, bytearray())
        self._obj = obj
        self._entries: dict[int, Symbol] = {}  # module offset -> its index entry
        self._descs: dict[int, Symbol] = {}  # module offset -> its TLS descriptor
        self._module_entry: Symbol | None = None
        self._resolver: Symbol | None = None
        self.resolver_block: Block | None = None  # made by resolver(), for AArch64

    def bind(self, symbols: Iterable[Symbol | None]) -> None:
        """Turn the symbols defined in the module's blocks into TLS symbols whose value is
        their module offset (each Symbol once, however often it is listed)."""
        offsets = self.offsets
        for s in symbols:
            if s is not None and s.block is not None and s.block in offsets:
                s.offset += offsets[s.block]
                s.block = None
                s.kind = SymKind.TLS

    def entry(self, offset: int, name: str) -> Symbol:
        """The 16-byte ``{&module, offset}`` index entry (shared by equal offsets)."""
        sym = self._entries.get(offset)
        if sym is None:
            content = self.index.content
            assert isinstance(content, bytearray)
            pos = len(content)
            content += struct.pack("<QQ", 0, offset)
            self.index.edges.append(Edge(pos, EdgeKind.Pointer64, self.module, 0, -1))
            self.index.size = len(content)
            sym = Symbol(f"{name}@tlsindex", self._obj, SymKind.DEFINED, self.index, pos,
                         INDEX_ENTRY_SIZE)
            self._entries[offset] = sym
        return sym

    def resolver(self, rules: TlsRules, get_addr: Symbol) -> Symbol:
        """The TLS descriptor resolver (``rules.resolver_code``, calling ``get_addr``),
        made once, in a text block of its own (:attr:`resolver_block`)."""
        if self._resolver is None:
            code = rules.resolver_code
            blk = Block(self._obj, ".crossjit.tlsdesc_resolver", SegClass.TEXT, 16,
                        len(code), bytearray(code))
            blk.edges += [Edge(off, kind, get_addr, addend, -1)
                          for off, kind, addend in rules.resolver_edges]
            blk.pieces = [(0, blk.obj, blk.name, blk.size)]
            self.resolver_block = blk
            self._resolver = Symbol(RESOLVER, self._obj, SymKind.DEFINED, blk, 0, len(code))
        return self._resolver

    def descriptor_entry(self, offset: int, name: str, resolver: Symbol) -> Symbol:
        """The 16-byte ``{&resolver, &index entry}`` TLS descriptor (shared by equal
        offsets), what an AArch64 TLSDESC sequence loads and calls."""
        sym = self._descs.get(offset)
        if sym is None:
            entry = self.entry(offset, name)
            content = self.descriptors.content
            assert isinstance(content, bytearray)
            pos = len(content)
            content += bytes(DESCRIPTOR_SIZE)
            self.descriptors.edges += [Edge(pos, EdgeKind.Pointer64, resolver, 0, -1),
                                       Edge(pos + 8, EdgeKind.Pointer64, entry, 0, -1)]
            self.descriptors.size = len(content)
            sym = Symbol(f"{name}@tlsdesc", self._obj, SymKind.DEFINED, self.descriptors, pos,
                         DESCRIPTOR_SIZE)
            self._descs[offset] = sym
        return sym

    def module_entry(self) -> Symbol:
        """``{&module, 0}``: what local-dynamic accesses pass, adding DTPOFF themselves."""
        if self._module_entry is None:
            self._module_entry = self.entry(0, MODULE_SYMBOL)
        return self._module_entry

    def symbols(self) -> list[Symbol]:
        """Linker-made symbols, for the image's address table."""
        extra = [] if self._resolver is None else [self._resolver]
        return [self.image_start, self.module, *self._entries.values(),
                *self._descs.values(), *extra]

    def finish(self) -> None:
        """Call once every entry exists: the link map then shows the whole index."""
        for blk in (self.index, self.descriptors):  # descriptors: linked only if used
            blk.pieces = [(0, blk.obj, blk.name, blk.size)]


def rewrite_edges(
    blocks: Iterable[Block],
    module: TlsModule | None,
    rules: TlsRules,
    reloc_name: Callable[[int], str],
    get_addr: Symbol | None = None,
) -> None:
    """Retarget every TLS edge of ``blocks`` to the module (see the module docstring) and
    check that nothing else refers to a thread-local symbol. ``get_addr``: the runtime's
    ``__crossjit_tls_get_addr``, which the TLS descriptors' resolver calls (needed once a
    :attr:`TlsRef.DESCRIPTOR` edge targets the module)."""
    transform = rules.transform
    tls = SymKind.TLS
    for blk in blocks:
        for e in blk.edges:
            rule = transform.get(e.kind)
            t = e.target
            if rule is None:
                if t.kind is tls:
                    raise LinkError(
                        f"{_what(blk, e, reloc_name)}: not a thread-local relocation, but "
                        "its target is a thread-local variable",
                        hint="was this object produced by a compiler for another TLS ABI?",
                    )
                continue
            ref, plain = rule
            if t.kind is not tls or module is None:
                _not_tls(blk, e, reloc_name)
            assert module is not None
            if ref is TlsRef.INDEX:
                e.target = module.entry(t.offset, target_name(e))
            elif ref is TlsRef.MODULE:
                e.target = module.module_entry()
            elif ref is TlsRef.DESCRIPTOR:
                if get_addr is None:
                    raise LinkError(
                        f"{_what(blk, e, reloc_name)}: a TLS descriptor needs crossjit's "
                        f"TLS runtime ({RUNTIME_GET_ADDR}), which is not linked",
                        hint="link crossjit/runtime/tls.c (crossjit jit does so by itself "
                        "when an object has thread-local sections)",
                    )
                # The addend selects a byte of the variable (AAELF64: S + A): all three
                # relocations of a sequence carry it, so they reach the same descriptor.
                e.target = module.descriptor_entry(t.offset + e.addend, target_name(e),
                                                   module.resolver(rules, get_addr))
                e.addend = 0
            e.kind = plain


def debug_kind(rules: TlsRules | None, kind: int, target: Symbol, where: str,
               rel: str) -> int:
    """The plain kind for a TLS edge in a ``.debug_*`` section (DTPOFF64: the variable's
    module offset); ``kind`` itself for every other edge."""
    if rules is None or kind not in rules.transform:
        return kind
    ref, plain = rules.transform[kind]
    if ref is not TlsRef.OFFSET:
        raise LinkError(f"{where}: relocation {rel} is not valid in a debug section")
    if target.kind is SymKind.EXTERNAL:
        # DWARF describing a variable another module holds: a debugger cannot use it.
        return plain
    if target.kind not in (SymKind.TLS, SymKind.ABSOLUTE):  # ABSOLUTE: tombstone
        raise LinkError(
            f"{where}: relocation {rel} against '{target.name}', which is not thread-local")
    return plain


def _what(blk: Block, e: Edge, reloc_name: Callable[[int], str]) -> str:
    rel = reloc_name(e.rtype) if e.rtype >= 0 else f"kind {e.kind}"
    return f"{block_location(blk, e.offset)}: relocation {rel} against '{target_name(e)}'"


def _not_tls(blk: Block, e: Edge, reloc_name: Callable[[int], str]) -> None:
    what = _what(blk, e, reloc_name)
    if e.target.kind is SymKind.EXTERNAL:
        raise NotSupportedError(
            f"{what}: the thread-local variable is not defined in the JIT'd program "
            "(it would live in the executor or one of its shared libraries), which the "
            "JIT linker does not support",
            hint="define the variable in one of the JIT'd sources; thread-local variables "
            "of libraries the executor loads cannot be reached from JIT'd code yet",
        )
    raise LinkError(f"{what}: a thread-local relocation against a symbol that is not "
                    "thread-local", hint=_NOT_HANDLED_HINT)

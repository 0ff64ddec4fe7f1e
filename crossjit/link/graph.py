"""The link graph: blocks of content, symbols, and edges (relocations) between them.

Modelled on LLVM JITLink: each loaded input section becomes a :class:`Block`;
each relocation becomes an :class:`Edge` from a block offset to a :class:`Symbol`
with an edge *kind*. Kinds below 64 are architecture-neutral (same arithmetic on
every target); an architecture module adds its own kinds from :data:`FIRST_ARCH_KIND`.
"""

from __future__ import annotations

import enum


class SegClass(enum.IntEnum):
    """Which segment a block goes to, i.e. its memory protection."""

    TEXT = 0  # R-X: code and stubs
    RODATA = 1  # R--: constants, .eh_frame
    DATA = 2  # RW-: data, .init_array/.fini_array, GOT
    ZEROFILL = 3  # RW-, no content: .bss, COMMON


class Prot(enum.IntFlag):
    """Memory protection, bit-compatible with LLVM ORC's ``MemProt``."""

    READ = 1
    WRITE = 2
    EXEC = 4


class EdgeKind(enum.IntEnum):
    """Architecture-neutral edge kinds (JITLink names). psABI formulas in comments."""

    Pointer64 = 1  # S + A
    Pointer32 = 2  # S + A, zero-extended: must fit uint32
    Pointer32Signed = 3  # S + A, sign-extended: must fit int32
    Pointer16 = 4
    Pointer8 = 5
    Delta64 = 6  # S + A - P
    Delta32 = 7  # S + A - P, must fit int32
    Delta16 = 8
    Delta8 = 9
    Size64 = 10  # Z + A
    Size32 = 11  # Z + A, must fit uint32
    Delta64FromGOT = 12  # S + A - GOT
    Delta32FromGOT = 13  # S + A - GOT, must fit int32


FIRST_ARCH_KIND = 64


class SymKind(enum.IntEnum):
    DEFINED = 0  # in a block
    ABSOLUTE = 1  # SHN_ABS: the value is the address
    EXTERNAL = 2  # resolved by the executor (or weak undefined -> 0)
    DISCARDED = 3  # in a discarded COMDAT member or a section that is not loaded
    DEBUG = 4  # in a .debug_* section: DWARF wants section-relative offsets (address 0)
    TLS = 5  # thread-local: ``offset`` is its offset in the image's TLS module (link/tls.py)


class Block:
    """Content placed in target memory: an input section or a synthetic one (GOT, stubs)."""

    __slots__ = (
        "align",
        "content",
        "edges",
        "name",
        "obj",
        "offset",
        "pieces",
        "seg",
        "size",
    )

    def __init__(
        self,
        obj: str,
        name: str,
        seg: SegClass,
        align: int,
        size: int,
        content: bytes | bytearray | memoryview | None,
    ) -> None:
        self.obj = obj
        self.name = name
        self.seg = seg
        self.align = align
        self.size = size
        self.content = content  # None for zero-fill
        self.edges: list[Edge] = []
        # (offset in block, object, input section, size): what a merged block is made of.
        self.pieces: list[tuple[int, str, str, int]] = [(0, obj, name, size)]
        self.offset = 0  # from the reservation base, set by layout

    def __repr__(self) -> str:
        return f"Block({self.obj}:{self.name}, size={self.size:#x}, off={self.offset:#x})"


class Symbol:
    """A definition or an external reference. One object per resolved name."""

    __slots__ = ("block", "id", "is_section", "kind", "name", "obj", "offset", "size")

    def __init__(
        self,
        name: str,
        obj: str,
        kind: SymKind,
        block: Block | None = None,
        offset: int = 0,
        size: int = 0,
        is_section: bool = False,
    ) -> None:
        self.id = -1  # index into the address table, set when the plan is made
        self.name = name
        self.obj = obj
        self.kind = kind
        self.block = block
        self.offset = offset  # within block; the value for ABSOLUTE
        self.size = size
        self.is_section = is_section

    def __repr__(self) -> str:
        return f"Symbol({self.name!r}, {self.obj}, {self.kind.name})"


class Edge:
    """A fixup: at ``offset`` of its block, write ``kind``'s formula over target + addend."""

    __slots__ = ("addend", "kind", "offset", "rtype", "target")

    def __init__(self, offset: int, kind: int, target: Symbol, addend: int, rtype: int) -> None:
        self.offset = offset
        self.kind = kind
        self.target = target
        self.addend = addend
        self.rtype = rtype  # the original ELF relocation type, for messages

    def __repr__(self) -> str:
        return f"Edge(+{self.offset:#x}, kind={self.kind}, {self.target.name}{self.addend:+d})"

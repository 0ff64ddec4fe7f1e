"""The GOT and stubs pass (JITLink's ``PerGraphGOTAndPLTStubsBuilder``).

Executor symbols (libc...) can be anywhere in the 64-bit address space, further than
the ±2 GiB a rel32 reaches from JIT'd code. So:

- a GOT-requesting edge (GOTPCREL*, GOT64...) gets a GOT entry holding its target's
  address, internal or external, and is retargeted to that entry;
- a branch (PLT32, or PC32 on a call/jmp) to an *external* goes to a stub
  ``jmp *entry(%rip)`` next to the code, which loads the target from its GOT entry;
- edges relative to the GOT base (GOTPC32/64) are retargeted to ``_GLOBAL_OFFSET_TABLE_``.

Branches to internal symbols stay direct: everything lives in one reservation.
"""

from __future__ import annotations

from collections.abc import Iterable

from crossjit.link.arch import Arch
from crossjit.link.graph import Block, Edge, SegClass, Symbol, SymKind

LINKER_OBJ = "<crossjit>"
GOT_SYMBOL = "_GLOBAL_OFFSET_TABLE_"


class Tables:
    """The GOT and stub blocks and their entries, built by :meth:`run`."""

    def __init__(self, arch: Arch) -> None:
        self.arch = arch
        self.got = Block(LINKER_OBJ, ".got", SegClass.DATA, arch.got_entry_size, 0, bytearray())
        self.stubs = Block(LINKER_OBJ, ".stubs", SegClass.TEXT, arch.stub_align, 0, bytearray())
        self.got_base = Symbol(GOT_SYMBOL, LINKER_OBJ, SymKind.DEFINED, self.got)
        self.got_entries: dict[Symbol, Symbol] = {}
        self.stub_entries: dict[Symbol, Symbol] = {}

    def got_entry(self, target: Symbol) -> Symbol:
        entry = self.got_entries.get(target)
        if entry is None:
            a = self.arch
            off = self.got.size
            entry = Symbol(
                f"{target.name}@got", LINKER_OBJ, SymKind.DEFINED, self.got, off, a.got_entry_size
            )
            self.got.edges.append(Edge(off, a.got_entry_kind, target, 0, -1))
            self.got.size += a.got_entry_size
            assert isinstance(self.got.content, bytearray)
            self.got.content += bytes(a.got_entry_size)
            self.got_entries[target] = entry
        return entry

    def stub(self, target: Symbol) -> Symbol:
        entry = self.stub_entries.get(target)
        if entry is None:
            a = self.arch
            got = self.got_entry(target)
            off = self.stubs.size
            size = len(a.stub_template)
            entry = Symbol(f"{target.name}@plt", LINKER_OBJ, SymKind.DEFINED, self.stubs, off, size)
            self.stubs.edges.extend(
                Edge(off + where, kind, got, addend, -1) for where, kind, addend in a.stub_got_edges
            )
            self.stubs.size += size
            assert isinstance(self.stubs.content, bytearray)
            self.stubs.content += a.stub_template
            self.stub_entries[target] = entry
        return entry

    def run(self, blocks: Iterable[Block]) -> None:
        a = self.arch
        got_transform = a.got_transform
        base_transform = a.got_base_transform
        branch_kinds = a.branch_kinds
        data_delta = a.data_delta_kind
        external = SymKind.EXTERNAL
        for block in blocks:
            for e in block.edges:
                k = e.kind
                if k in got_transform:
                    e.target = self.got_entry(e.target)
                    e.kind = got_transform[k]
                elif k in base_transform:
                    e.target = self.got_base
                    e.kind = base_transform[k]
                elif e.target.kind is not external:
                    continue
                elif k in branch_kinds:
                    e.target = self.stub(e.target)
                elif (
                    k == data_delta
                    and block.content is not None
                    and a.is_branch_site(block.content, e.offset)
                ):
                    # Non-PIC call/jmp to an external: a stub keeps it within rel32 range.
                    e.target = self.stub(e.target)
                    e.kind = a.branch_kind
        for blk in (self.got, self.stubs):
            blk.pieces = [(0, blk.obj, blk.name, blk.size)]

""".eh_frame: merge every object's records into one region, dropping dead FDEs.

``__register_frame`` walks length-prefixed CIE/FDE records until a zero length, so the
merged region must be contiguous (no padding between objects) and end with a 4-byte
zero terminator. An FDE whose function lives in a discarded COMDAT section is dropped
(it would describe garbage); dropping records moves the ones after it, so each FDE's
CIE pointer (a backwards distance) is recomputed.
"""

from __future__ import annotations

import bisect
import struct

from crossjit.errors import LinkError
from crossjit.link.graph import Block, Edge, SegClass, SymKind

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
MERGED_OBJ = "<merged>"


def _records(name: str, data: bytes | bytearray | memoryview) -> list[tuple[int, int, int, int]]:
    """(start, total size, offset of the CIE id/pointer field, its value) per record."""
    out = []
    off, end = 0, len(data)
    while off + 4 <= end:
        (length,) = _U32.unpack_from(data, off)
        if length == 0:  # a terminator inside an input section ends it
            break
        id_off = off + 4
        if length == 0xFFFFFFFF:
            (length,) = _U64.unpack_from(data, off + 4)
            id_off = off + 12
        total = id_off - off + length
        if off + total > end or length < 4:
            raise LinkError(f"{name}: malformed .eh_frame record at offset {off:#x}")
        (cie_id,) = _U32.unpack_from(data, id_off)
        out.append((off, total, id_off, cie_id))
        off += total
    return out


def merge(blocks: list[Block], align: int, dead_refs: dict[Block, set[int]]) -> Block | None:
    """One block holding the live records of ``blocks`` (in order) and a terminator.

    Each input's edges are carried over at their new offsets; FDEs whose initial
    location refers to a discarded section (or to nothing) are dropped with their edges.
    ``dead_refs[block]`` lists offsets of relocations whose symbol was defined in a
    discarded section of that object (even if its name resolves elsewhere).
    """
    if not blocks:
        return None
    out = bytearray()
    merged = Block(MERGED_OBJ, ".eh_frame", SegClass.RODATA, align, 0, out)
    merged.pieces = []
    for blk in blocks:
        data = blk.content
        assert data is not None
        start = len(out)
        edges_at = {e.offset: e for e in blk.edges}
        dead = dead_refs.get(blk, set())
        moved: dict[int, int] = {}  # old record start -> new record start
        sizes: dict[int, int] = {}  # old record start -> size
        for off, total, id_off, cie_id in _records(blk.obj, data):
            rec = bytearray(data[off : off + total])
            if cie_id != 0:  # an FDE: pc_begin follows the CIE pointer
                pc_begin = edges_at.get(id_off + 4)
                if (
                    pc_begin is None
                    or pc_begin.target.kind == SymKind.DISCARDED
                    or pc_begin.offset in dead
                ):
                    continue
                cie_old = id_off - cie_id
                cie_new = moved.get(cie_old)
                if cie_new is None:
                    raise LinkError(
                        f"{blk.obj}: malformed .eh_frame: FDE at {off:#x} points to no CIE"
                    )
                new_id_off = len(out) + (id_off - off)
                _U32.pack_into(rec, id_off - off, new_id_off - cie_new)
            moved[off] = len(out)
            sizes[off] = total
            out += rec
        # Carry edges over to the records' new places; edges of dropped records vanish.
        starts = sorted(moved)
        for e in blk.edges:
            i = bisect.bisect_right(starts, e.offset) - 1
            if i < 0:
                continue
            old = starts[i]
            if e.offset < old + sizes[old]:  # inside a kept record
                new_off = moved[old] + (e.offset - old)
                merged.edges.append(Edge(new_off, e.kind, e.target, e.addend, e.rtype))
        merged.pieces.append((start, blk.obj, blk.name, len(out) - start))
    out += b"\0\0\0\0"  # the terminator __register_frame stops at
    merged.size = len(out)
    return merged

"""Layout: blocks grouped by protection into page-aligned segments of one reservation.

Order (offsets from the reservation base)::

    R-X  text, then stubs
    R--  rodata, .gcc_except_table..., then the merged .eh_frame
    RW-  data, .init_array, .fini_array, GOT, then zero-fill (.bss, COMMON)

Zero-fill comes last in the RW segment so a segment's content is a prefix of its
size and the rest is zero-filled by the executor.
"""

from __future__ import annotations

from crossjit.link.graph import Block, Prot, SegClass
from crossjit.records import field, record

SEGMENT_PROT = {
    SegClass.TEXT: Prot.READ | Prot.EXEC,
    SegClass.RODATA: Prot.READ,
    SegClass.DATA: Prot.READ | Prot.WRITE,
}


@record
class SegmentLayout:
    prot: Prot
    offset: int  # from the reservation base, page aligned
    size: int  # page aligned
    content_size: int  # bytes that are not zero-fill
    blocks: list[Block] = field(default_factory=list)


def align_up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def layout(
    text: list[Block],
    rodata: list[Block],
    data: list[Block],
    zerofill: list[Block],
    page_size: int,
) -> tuple[list[SegmentLayout], int]:
    """Assign every block its offset; return the non-empty segments and the total size."""
    segments = []
    cur = 0
    for cls, blocks, zf in (
        (SegClass.TEXT, text, []),
        (SegClass.RODATA, rodata, []),
        (SegClass.DATA, data, zerofill),
    ):
        if not any(b.size for b in blocks) and not any(b.size for b in zf):
            # Still give empty blocks an address (e.g. an empty GOT's base).
            for b in (*blocks, *zf):
                b.offset = cur
            continue
        start = cur
        for b in blocks:
            cur = align_up(cur, b.align)
            b.offset = cur
            cur += b.size
        content_end = cur
        for b in zf:
            cur = align_up(cur, b.align)
            b.offset = cur
            cur += b.size
        end = align_up(cur, page_size)
        segments.append(
            SegmentLayout(
                SEGMENT_PROT[cls], start, end - start, content_end - start, [*blocks, *zf]
            )
        )
        cur = end
    return segments, cur

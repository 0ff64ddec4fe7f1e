"""The per-edge fixup loop both architectures share: data kinds here, the rest per arch.

Every backend patches the same generic data edges (pointers and PC-relative deltas of
.eh_frame, vtables, jump tables, debug info: most edges) the same way; only the
architecture's own kinds (x86-64's rare widths, AArch64's instruction fields) differ,
and go to the backend's ``other`` function.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

from crossjit.link.arch import FixupError, FixupFn
from crossjit.link.graph import Edge, EdgeKind

# (buf, pos, kind, edge, S, A, P, GOT base, errors): patch one arch-specific edge.
OtherFixup = Callable[
    [bytearray, int, int, Edge, int, int, int, int, list[FixupError]], None
]

_M64 = (1 << 64) - 1
_I32_LO, _I32_HI = -(1 << 31), (1 << 31) - 1


def fixup_function(*, branch32: int, pointer32: tuple[int, int], other: OtherFixup) -> FixupFn:
    """The backend's ``apply_fixups``.

    ``branch32``: a kind patched exactly like Delta32 (x86-64's call/jmp rel32; the
    AArch64 backend, which has none, passes Delta32 itself). ``pointer32``: the range an
    ABS32 value must lie in (the psABIs differ on whether it may be read signed).
    """
    P64, D32, D64, P32 = EdgeKind.Pointer64, EdgeKind.Delta32, EdgeKind.Delta64, EdgeKind.Pointer32
    p32_lo, p32_hi = pointer32
    delta32 = (branch32, D32)
    pack = struct.pack_into

    def apply_fixups(
        buf: bytearray,
        pos0: int,
        block_addr: int,
        edges: Sequence[Edge],
        addrs: Sequence[int],
        got_base: int,
        errors: list[FixupError],
    ) -> None:
        """Patch ``buf`` (the block's bytes start at ``buf[pos0]``, at address ``block_addr``).

        ``addrs[sym.id]`` is each symbol's address. Values that do not fit their field
        (and, on AArch64, misaligned values and instructions that do not match their
        relocation) are appended to ``errors`` (and not written) so all of them can be
        reported at once.
        """
        for e in edges:
            k = e.kind
            S = addrs[e.target.id]
            A = e.addend
            P = block_addr + e.offset
            pos = pos0 + e.offset
            # The common kinds first, with their range checks inline (this loop is hot).
            if k in delta32:
                v = S + A - P
                if _I32_LO <= v <= _I32_HI:
                    pack("<i", buf, pos, v)
                else:
                    errors.append((e, v, _I32_LO, _I32_HI))
            elif k == P64:
                pack("<Q", buf, pos, (S + A) & _M64)
            elif k == D64:
                pack("<Q", buf, pos, (S + A - P) & _M64)
            elif k == P32:
                v = S + A
                if p32_lo <= v <= p32_hi:
                    pack("<I", buf, pos, v & 0xFFFFFFFF)
                else:
                    errors.append((e, v, p32_lo, p32_hi))
            else:
                other(buf, pos, k, e, S, A, P, got_base, errors)

    return apply_fixups

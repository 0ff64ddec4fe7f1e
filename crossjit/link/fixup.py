"""Fixups: copy block contents into segment buffers and patch them, per architecture."""

from __future__ import annotations

from collections.abc import Sequence

from crossjit.errors import LinkError
from crossjit.link.arch import Arch, FixupError
from crossjit.link.diagnostics import BlockFixupError, out_of_range
from crossjit.link.layout import SegmentLayout


def raise_range_errors(arch: Arch, errors: list[BlockFixupError]) -> None:
    if errors:
        what, why, hint = out_of_range(
            errors, arch.reloc_name, lambda k: arch.kind_names.get(k, f"kind {k}")
        )
        raise LinkError(what, why=why, hint=hint)


def apply_segments(
    arch: Arch, segments: Sequence[SegmentLayout], base: int, addrs: Sequence[int], got_base: int
) -> list[bytearray]:
    """Each segment's content (up to its zero-fill), fixed up for ``base``."""
    out = []
    errors: list[BlockFixupError] = []
    for seg in segments:
        buf = bytearray(seg.content_size)
        for b in seg.blocks:
            if b.content is None or not b.size:
                continue
            pos = b.offset - seg.offset
            buf[pos : pos + b.size] = b.content
            if b.edges:
                errs: list[FixupError] = []
                arch.apply_fixups(buf, pos, base + b.offset, b.edges, addrs, got_base, errs)
                errors.extend((b, err) for err in errs)
        out.append(buf)
    raise_range_errors(arch, errors)
    return out

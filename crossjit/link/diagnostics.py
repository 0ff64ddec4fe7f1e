"""Link error messages in the style of mold and lld: ``obj.o:(.text+0x1c): ...``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from crossjit.link.graph import Block, Edge, SymKind

MAX_LISTED = 20


def location(obj: str, section: str, offset: int) -> str:
    return f"{obj}:({section}+{offset:#x})"


def block_location(block: Block, offset: int) -> str:
    """Where ``offset`` of a (possibly merged) block came from."""
    for start, obj, sec, _ in reversed(block.pieces):
        if start <= offset:
            return location(obj, sec, offset - start)
    return location(block.obj, block.name, offset)


def target_name(edge: Edge) -> str:
    t = edge.target
    return t.block.name if t.is_section and t.block is not None else t.name


def out_of_range(
    errors: Sequence[tuple[Block, Edge, int, int, int]],
    reloc_name: Callable[[int], str],
    kind_name: Callable[[int], str],
) -> tuple[str, str, str | None]:
    """(what, why, hint) for relocations whose value did not fit their field."""
    lines = []
    external = False
    for block, e, value, lo, hi in errors[:MAX_LISTED]:
        rel = reloc_name(e.rtype) if e.rtype >= 0 else kind_name(e.kind)
        lines.append(
            f"{block_location(block, e.offset)}: relocation {rel} against "
            f"'{target_name(e)}' out of range: {value} is not in [{lo}, {hi}]"
        )
        external = external or e.target.kind == SymKind.EXTERNAL
    if len(errors) > MAX_LISTED:
        lines.append(f"... and {len(errors) - MAX_LISTED} more")
    hint = None
    if external:
        hint = (
            "symbols of the executor process (libc, ...) may lie more than 2 GiB away from "
            "JIT'd code; code that refers to them directly with 32-bit offsets must be "
            "compiled as position-independent code (-fPIC)"
        )
    n = len(errors)
    return f"{n} relocation{'s' if n > 1 else ''} out of range", "\n".join(lines), hint

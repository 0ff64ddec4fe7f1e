"""Link error messages in the style of mold and lld: ``obj.o:(.text+0x1c): ...``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from crossjit.link.arch import FixupError
from crossjit.link.graph import Block, Edge, SymKind

BlockFixupError = tuple[Block, FixupError]

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
    errors: Sequence[BlockFixupError],
    reloc_name: Callable[[int], str],
    kind_name: Callable[[int], str],
) -> tuple[str, str, str | None]:
    """(what, why, hint) for relocations whose value did not fit their field (or was
    misaligned, or met the wrong instruction)."""
    lines: list[str] = []
    external = False
    n_range = 0
    for block, err in errors:
        e = err[0]
        rel = reloc_name(e.rtype) if e.rtype >= 0 else kind_name(e.kind)
        head = f"{block_location(block, e.offset)}: relocation {rel} against '{target_name(e)}'"
        if len(err) == 4:
            n_range += 1
            external = external or e.target.kind == SymKind.EXTERNAL
            why = f"out of range: {err[1]} is not in [{err[2]}, {err[3]}]"
        else:
            why = f"cannot be applied: {err[1]}"
        if len(lines) < MAX_LISTED:
            lines.append(f"{head} {why}")
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
    what = "out of range" if n_range == n else "that cannot be applied"
    return f"{n} relocation{'s' if n > 1 else ''} {what}", "\n".join(lines), hint

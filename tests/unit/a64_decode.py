"""Decode the AArch64 instruction fields the JIT linker patches (for tests and fixtures).

(No tests here.) Independent of crossjit's encoder on purpose: written from the Arm ARM's
encodings, so a test compares two implementations, not one with itself.
"""

from __future__ import annotations


def sext(v: int, bits: int) -> int:
    return v - (1 << bits) if v & (1 << (bits - 1)) else v


def adrp_target(insn: int, pc: int) -> int:
    """The page an ``adrp`` at ``pc`` computes."""
    assert insn & 0x9F000000 == 0x90000000, f"{insn:#010x} is not adrp"
    imm = ((insn >> 5) & 0x7FFFF) << 2 | (insn >> 29) & 3
    return (pc & ~0xFFF) + (sext(imm, 21) << 12)


def adr_target(insn: int, pc: int) -> int:
    assert insn & 0x9F000000 == 0x10000000, f"{insn:#010x} is not adr"
    imm = ((insn >> 5) & 0x7FFFF) << 2 | (insn >> 29) & 3
    return pc + sext(imm, 21)


def imm12_bytes(insn: int) -> int:
    """The byte offset an ``add``/``ldr``/``str`` (unsigned immediate) adds."""
    imm = (insn >> 10) & 0xFFF
    if insn & 0x3B000000 == 0x39000000:  # load/store: scaled by the access size
        scale = insn >> 30
        if scale == 0 and insn & 0x04800000 == 0x04800000:
            scale = 4
        return imm << scale
    return imm


def branch_target(insn: int, pc: int) -> int:
    """Where a b/bl/b.cond/cbz/cbnz/tbz/tbnz/ldr-literal at ``pc`` goes."""
    if insn & 0x7C000000 == 0x14000000:  # b, bl
        return pc + (sext(insn & 0x3FFFFFF, 26) << 2)
    if insn & 0x7E000000 == 0x36000000:  # tbz, tbnz
        return pc + (sext((insn >> 5) & 0x3FFF, 14) << 2)
    # b.cond, cbz/cbnz, ldr (literal): imm19 at [23:5]
    return pc + (sext((insn >> 5) & 0x7FFFF, 19) << 2)

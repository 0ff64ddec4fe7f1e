"""AArch64 (AAELF64 psABI): relocation types -> edge kinds, GOT/stub content, fixups.

Edge kinds are JITLink's (``llvm/ExecutionEngine/JITLink/aarch64.h``). Fixup code uses
the psABI's names: S (symbol address), A (addend), P (place being patched), G (GOT entry
address), GOT (GOT base), Page(x) = x & ~0xfff (4 KiB whatever the page size).

Unlike x86-64 most fields are bit-fields of an instruction: each fixup clears its field
before writing it (the object's immediate may be non-zero) and checks that the
instruction is the one the relocation belongs to, so a mismatch is an error instead of
silent corruption.
"""

from __future__ import annotations

import enum
import struct

from crossjit.link.arch import Arch, FixupError, TlsRef, TlsRules, fixup_function
from crossjit.link.graph import FIRST_ARCH_KIND, Edge, EdgeKind

NAME = "aarch64"
ELF_MACHINE = "EM_AARCH64"  # pyelftools' name for e_machine 183

# AAELF64 names (pyelftools 0.31 lacks 299, 313-315, 560-580 and misnames 1028-1033).
# fmt: off
RELOC_NAMES: dict[int, str] = {
    0: "NONE", 256: "NONE",
    257: "ABS64", 258: "ABS32", 259: "ABS16", 260: "PREL64", 261: "PREL32", 262: "PREL16",
    263: "MOVW_UABS_G0", 264: "MOVW_UABS_G0_NC", 265: "MOVW_UABS_G1", 266: "MOVW_UABS_G1_NC",
    267: "MOVW_UABS_G2", 268: "MOVW_UABS_G2_NC", 269: "MOVW_UABS_G3", 270: "MOVW_SABS_G0",
    271: "MOVW_SABS_G1", 272: "MOVW_SABS_G2", 273: "LD_PREL_LO19", 274: "ADR_PREL_LO21",
    275: "ADR_PREL_PG_HI21", 276: "ADR_PREL_PG_HI21_NC", 277: "ADD_ABS_LO12_NC",
    278: "LDST8_ABS_LO12_NC", 279: "TSTBR14", 280: "CONDBR19", 282: "JUMP26", 283: "CALL26",
    284: "LDST16_ABS_LO12_NC", 285: "LDST32_ABS_LO12_NC", 286: "LDST64_ABS_LO12_NC",
    287: "MOVW_PREL_G0", 288: "MOVW_PREL_G0_NC", 289: "MOVW_PREL_G1", 290: "MOVW_PREL_G1_NC",
    291: "MOVW_PREL_G2", 292: "MOVW_PREL_G2_NC", 293: "MOVW_PREL_G3",
    299: "LDST128_ABS_LO12_NC", 300: "MOVW_GOTOFF_G0", 301: "MOVW_GOTOFF_G0_NC",
    302: "MOVW_GOTOFF_G1", 303: "MOVW_GOTOFF_G1_NC", 304: "MOVW_GOTOFF_G2",
    305: "MOVW_GOTOFF_G2_NC", 306: "MOVW_GOTOFF_G3", 307: "GOTREL64", 308: "GOTREL32",
    309: "GOT_LD_PREL19", 310: "LD64_GOTOFF_LO15", 311: "ADR_GOT_PAGE",
    312: "LD64_GOT_LO12_NC", 313: "LD64_GOTPAGE_LO15", 314: "PLT32", 315: "GOTPCREL32",
    512: "TLSGD_ADR_PREL21", 513: "TLSGD_ADR_PAGE21", 514: "TLSGD_ADD_LO12_NC",
    515: "TLSGD_MOVW_G1", 516: "TLSGD_MOVW_G0_NC", 517: "TLSLD_ADR_PREL21",
    518: "TLSLD_ADR_PAGE21", 519: "TLSLD_ADD_LO12_NC", 520: "TLSLD_MOVW_G1",
    521: "TLSLD_MOVW_G0_NC", 522: "TLSLD_LD_PREL19", 523: "TLSLD_MOVW_DTPREL_G2",
    524: "TLSLD_MOVW_DTPREL_G1", 525: "TLSLD_MOVW_DTPREL_G1_NC", 526: "TLSLD_MOVW_DTPREL_G0",
    527: "TLSLD_MOVW_DTPREL_G0_NC", 528: "TLSLD_ADD_DTPREL_HI12", 529: "TLSLD_ADD_DTPREL_LO12",
    530: "TLSLD_ADD_DTPREL_LO12_NC", 531: "TLSLD_LDST8_DTPREL_LO12",
    532: "TLSLD_LDST8_DTPREL_LO12_NC", 533: "TLSLD_LDST16_DTPREL_LO12",
    534: "TLSLD_LDST16_DTPREL_LO12_NC", 535: "TLSLD_LDST32_DTPREL_LO12",
    536: "TLSLD_LDST32_DTPREL_LO12_NC", 537: "TLSLD_LDST64_DTPREL_LO12",
    538: "TLSLD_LDST64_DTPREL_LO12_NC", 539: "TLSIE_MOVW_GOTTPREL_G1",
    540: "TLSIE_MOVW_GOTTPREL_G0_NC", 541: "TLSIE_ADR_GOTTPREL_PAGE21",
    542: "TLSIE_LD64_GOTTPREL_LO12_NC", 543: "TLSIE_LD_GOTTPREL_PREL19",
    544: "TLSLE_MOVW_TPREL_G2", 545: "TLSLE_MOVW_TPREL_G1", 546: "TLSLE_MOVW_TPREL_G1_NC",
    547: "TLSLE_MOVW_TPREL_G0", 548: "TLSLE_MOVW_TPREL_G0_NC", 549: "TLSLE_ADD_TPREL_HI12",
    550: "TLSLE_ADD_TPREL_LO12", 551: "TLSLE_ADD_TPREL_LO12_NC", 552: "TLSLE_LDST8_TPREL_LO12",
    553: "TLSLE_LDST8_TPREL_LO12_NC", 554: "TLSLE_LDST16_TPREL_LO12",
    555: "TLSLE_LDST16_TPREL_LO12_NC", 556: "TLSLE_LDST32_TPREL_LO12",
    557: "TLSLE_LDST32_TPREL_LO12_NC", 558: "TLSLE_LDST64_TPREL_LO12",
    559: "TLSLE_LDST64_TPREL_LO12_NC", 560: "TLSDESC_LD_PREL19", 561: "TLSDESC_ADR_PREL21",
    562: "TLSDESC_ADR_PAGE21", 563: "TLSDESC_LD64_LO12", 564: "TLSDESC_ADD_LO12",
    565: "TLSDESC_OFF_G1", 566: "TLSDESC_OFF_G0_NC", 567: "TLSDESC_LDR", 568: "TLSDESC_ADD",
    569: "TLSDESC_CALL", 570: "TLSLE_LDST128_TPREL_LO12", 571: "TLSLE_LDST128_TPREL_LO12_NC",
    572: "TLSLD_LDST128_DTPREL_LO12", 573: "TLSLD_LDST128_DTPREL_LO12_NC",
    580: "AUTH_ABS64",
    1024: "COPY", 1025: "GLOB_DAT", 1026: "JUMP_SLOT", 1027: "RELATIVE",
    1028: "TLS_IMPDEF1", 1029: "TLS_IMPDEF2", 1030: "TLS_TPREL64", 1031: "TLSDESC",
    1032: "IRELATIVE", 1041: "AUTH_RELATIVE",
}
# fmt: on

R_AARCH64_TLSDESC_CALL = 569
# AAELF64: 0 and 256 both mean "no relocation". TLSDESC_CALL only marks the BLR of a TLS
# descriptor sequence for linker relaxation, which crossjit does not do: nothing to patch.
NONE_RELOCS = frozenset({0, 256, R_AARCH64_TLSDESC_CALL})
# The thread-local types not handled below -> NotSupportedError: traditional general
# dynamic (TLSGD_*), initial-exec (TLSIE_*), local-exec (TLSLE_*), the other TLSLD_* and
# the tiny/large-code-model TLSDESC forms.
TLS_RELOCS = frozenset(range(512, 574)) - {562, 563, 564, 528, 530, R_AARCH64_TLSDESC_CALL}
DYNAMIC_RELOCS = frozenset({*range(1024, 1033), 1041})
UNSUPPORTED_RELOCS = frozenset(
    {259, 262, 263, 265, 267, 270, 271, 272, 276, *range(287, 294), *range(300, 311), 314,
     315, 580}
)


class Kind(enum.IntEnum):
    """AArch64-specific edge kinds (JITLink's names)."""

    Branch26PCRel = FIRST_ARCH_KIND  # B/BL: S + A - P; to an external: through a stub
    Page21 = FIRST_ARCH_KIND + 1  # ADRP: Page(S + A) - Page(P)
    PageOffset12 = FIRST_ARCH_KIND + 2  # ADD/LDR/STR: (S + A) & 0xfff, scaled
    MoveWide16 = FIRST_ARCH_KIND + 3  # MOVZ/MOVK: 16 bits of S + A, chosen by hw
    LDRLiteral19 = FIRST_ARCH_KIND + 4  # LDR (literal): S + A - P
    ADRLiteral21 = FIRST_ARCH_KIND + 5  # ADR: S + A - P
    TestAndBranch14PCRel = FIRST_ARCH_KIND + 6  # TBZ/TBNZ
    CondBranch19PCRel = FIRST_ARCH_KIND + 7  # B.cond, CBZ/CBNZ
    RequestGOTAndTransformToPage21 = FIRST_ARCH_KIND + 8  # Page(G) - Page(P)
    RequestGOTAndTransformToPageOffset12 = FIRST_ARCH_KIND + 9  # G & 0xfff
    RequestGOTAndTransformToPageOffset15 = FIRST_ARCH_KIND + 10  # G - Page(GOT)
    GotPageOffset15 = FIRST_ARCH_KIND + 11  # LDR: S - Page(GOT), S being the entry
    # Thread-local storage, rewritten by link/tls.py before fixups.
    RequestTLSDescEntryAndTransformToPage21 = FIRST_ARCH_KIND + 12  # ADRP to a descriptor
    RequestTLSDescEntryAndTransformToPageOffset12 = FIRST_ARCH_KIND + 13  # its LDR / ADD
    DTPRelHi12 = FIRST_ARCH_KIND + 14  # ADD (LSL 12): bits 12-23 of the module offset
    DTPRelLo12 = FIRST_ARCH_KIND + 15  # ADD: bits 0-11 of the module offset
    AddHi12 = FIRST_ARCH_KIND + 16  # ADD #imm, LSL 12: (S + A) >> 12, must fit 12 bits


R_AARCH64_CALL26 = 283
R_AARCH64_JUMP26 = 282

EDGE_KIND: dict[int, int] = {
    257: EdgeKind.Pointer64,  # ABS64
    258: EdgeKind.Pointer32,  # ABS32
    260: EdgeKind.Delta64,  # PREL64
    261: EdgeKind.Delta32,  # PREL32
    264: Kind.MoveWide16,  # MOVW_UABS_G0_NC
    266: Kind.MoveWide16,  # MOVW_UABS_G1_NC
    268: Kind.MoveWide16,  # MOVW_UABS_G2_NC
    269: Kind.MoveWide16,  # MOVW_UABS_G3
    273: Kind.LDRLiteral19,  # LD_PREL_LO19
    274: Kind.ADRLiteral21,  # ADR_PREL_LO21
    275: Kind.Page21,  # ADR_PREL_PG_HI21
    277: Kind.PageOffset12,  # ADD_ABS_LO12_NC
    278: Kind.PageOffset12,  # LDST8_ABS_LO12_NC
    279: Kind.TestAndBranch14PCRel,  # TSTBR14
    280: Kind.CondBranch19PCRel,  # CONDBR19
    R_AARCH64_JUMP26: Kind.Branch26PCRel,
    R_AARCH64_CALL26: Kind.Branch26PCRel,
    284: Kind.PageOffset12,  # LDST16_ABS_LO12_NC
    285: Kind.PageOffset12,  # LDST32_ABS_LO12_NC
    286: Kind.PageOffset12,  # LDST64_ABS_LO12_NC
    299: Kind.PageOffset12,  # LDST128_ABS_LO12_NC
    311: Kind.RequestGOTAndTransformToPage21,  # ADR_GOT_PAGE
    312: Kind.RequestGOTAndTransformToPageOffset12,  # LD64_GOT_LO12_NC
    313: Kind.RequestGOTAndTransformToPageOffset15,  # LD64_GOTPAGE_LO15
    # LLVM's local dynamic (only with -mllvm -aarch64-elf-ldtls-generation=1): a TLSDESC
    # sequence for _TLS_MODULE_BASE_, then the variable's offset added in two ADDs.
    528: Kind.DTPRelHi12,  # TLSLD_ADD_DTPREL_HI12
    530: Kind.DTPRelLo12,  # TLSLD_ADD_DTPREL_LO12_NC
    562: Kind.RequestTLSDescEntryAndTransformToPage21,  # TLSDESC_ADR_PAGE21
    563: Kind.RequestTLSDescEntryAndTransformToPageOffset12,  # TLSDESC_LD64_LO12
    564: Kind.RequestTLSDescEntryAndTransformToPageOffset12,  # TLSDESC_ADD_LO12
}

GOT_TRANSFORM: dict[int, int] = {
    Kind.RequestGOTAndTransformToPage21: Kind.Page21,
    Kind.RequestGOTAndTransformToPageOffset12: Kind.PageOffset12,
    Kind.RequestGOTAndTransformToPageOffset15: Kind.GotPageOffset15,
}
BRANCH_KINDS = frozenset({Kind.Branch26PCRel})

# The TLS descriptor resolver link/tls.py places in the image (llvmlite's LLVM has no
# AArch64 assembler, so runtime/tls.c cannot hold it). A TLSDESC sequence calls it with
# x0 = &descriptor {resolver, struct tls_index *} and wants x0 = the variable's address
# minus TPIDR_EL0 back with every other register kept (LLVM's CSR_AArch64_TLS_ELF keeps
# x1-x28, fp and q0-q31 live across it; the flags may change). So it saves what the
# ordinary AAPCS64 function __crossjit_tls_get_addr may clobber: x1-x18, fp, lr and all
# of q0-q31 (AAPCS64 keeps only the low halves of q8-q15). Code generated without SVE
# keeps nothing live in the Z/P registers beyond the q halves. Each word is what
# clang-16 --target=aarch64-linux-gnu assembles its text to (tests/unit/test_link_tls_
# aarch64.py checks it); the BL's offset is a Branch26PCRel edge.
# fmt: off
TLSDESC_RESOLVER_ASM: tuple[tuple[int, str], ...] = (
    (0xa9b67bfd, "stp x29, x30, [sp, #-160]!"),
    (0x910003fd, "mov x29, sp"),
    (0xa9010be1, "stp x1, x2, [sp, #16]"),
    (0xa90213e3, "stp x3, x4, [sp, #32]"),
    (0xa9031be5, "stp x5, x6, [sp, #48]"),
    (0xa90423e7, "stp x7, x8, [sp, #64]"),
    (0xa9052be9, "stp x9, x10, [sp, #80]"),
    (0xa90633eb, "stp x11, x12, [sp, #96]"),
    (0xa9073bed, "stp x13, x14, [sp, #112]"),
    (0xa90843ef, "stp x15, x16, [sp, #128]"),
    (0xa9094bf1, "stp x17, x18, [sp, #144]"),
    (0xd10803ff, "sub sp, sp, #512"),
    (0xad0007e0, "stp q0, q1, [sp, #0]"),
    (0xad010fe2, "stp q2, q3, [sp, #32]"),
    (0xad0217e4, "stp q4, q5, [sp, #64]"),
    (0xad031fe6, "stp q6, q7, [sp, #96]"),
    (0xad0427e8, "stp q8, q9, [sp, #128]"),
    (0xad052fea, "stp q10, q11, [sp, #160]"),
    (0xad0637ec, "stp q12, q13, [sp, #192]"),
    (0xad073fee, "stp q14, q15, [sp, #224]"),
    (0xad0847f0, "stp q16, q17, [sp, #256]"),
    (0xad094ff2, "stp q18, q19, [sp, #288]"),
    (0xad0a57f4, "stp q20, q21, [sp, #320]"),
    (0xad0b5ff6, "stp q22, q23, [sp, #352]"),
    (0xad0c67f8, "stp q24, q25, [sp, #384]"),
    (0xad0d6ffa, "stp q26, q27, [sp, #416]"),
    (0xad0e77fc, "stp q28, q29, [sp, #448]"),
    (0xad0f7ffe, "stp q30, q31, [sp, #480]"),
    (0xf9400400, "ldr x0, [x0, #8]"),
    (0x94000000, "bl __crossjit_tls_get_addr"),
    (0xd53bd041, "mrs x1, tpidr_el0"),
    (0xcb010000, "sub x0, x0, x1"),
    (0xad4007e0, "ldp q0, q1, [sp, #0]"),
    (0xad410fe2, "ldp q2, q3, [sp, #32]"),
    (0xad4217e4, "ldp q4, q5, [sp, #64]"),
    (0xad431fe6, "ldp q6, q7, [sp, #96]"),
    (0xad4427e8, "ldp q8, q9, [sp, #128]"),
    (0xad452fea, "ldp q10, q11, [sp, #160]"),
    (0xad4637ec, "ldp q12, q13, [sp, #192]"),
    (0xad473fee, "ldp q14, q15, [sp, #224]"),
    (0xad4847f0, "ldp q16, q17, [sp, #256]"),
    (0xad494ff2, "ldp q18, q19, [sp, #288]"),
    (0xad4a57f4, "ldp q20, q21, [sp, #320]"),
    (0xad4b5ff6, "ldp q22, q23, [sp, #352]"),
    (0xad4c67f8, "ldp q24, q25, [sp, #384]"),
    (0xad4d6ffa, "ldp q26, q27, [sp, #416]"),
    (0xad4e77fc, "ldp q28, q29, [sp, #448]"),
    (0xad4f7ffe, "ldp q30, q31, [sp, #480]"),
    (0x910803ff, "add sp, sp, #512"),
    (0xa9410be1, "ldp x1, x2, [sp, #16]"),
    (0xa94213e3, "ldp x3, x4, [sp, #32]"),
    (0xa9431be5, "ldp x5, x6, [sp, #48]"),
    (0xa94423e7, "ldp x7, x8, [sp, #64]"),
    (0xa9452be9, "ldp x9, x10, [sp, #80]"),
    (0xa94633eb, "ldp x11, x12, [sp, #96]"),
    (0xa9473bed, "ldp x13, x14, [sp, #112]"),
    (0xa94843ef, "ldp x15, x16, [sp, #128]"),
    (0xa9494bf1, "ldp x17, x18, [sp, #144]"),
    (0xa8ca7bfd, "ldp x29, x30, [sp], #160"),
    (0xd65f03c0, "ret"),
)
# fmt: on
TLSDESC_RESOLVER = b"".join(struct.pack("<I", w) for w, _ in TLSDESC_RESOLVER_ASM)
_RESOLVER_CALL = 4 * next(i for i, (_, a) in enumerate(TLSDESC_RESOLVER_ASM)
                          if a.startswith("bl "))

# TLS descriptors through crossjit's runtime (docs/internals.md, "TLS"): what clang emits
# by default (general and local dynamic alike). JITLink's ELF_aarch64.cpp builds the same
# {resolver, argument} pair; its resolver is ORC's, this one runtime/tls.c's.
TLS = TlsRules(
    transform={
        Kind.RequestTLSDescEntryAndTransformToPage21: (TlsRef.DESCRIPTOR, Kind.Page21),
        Kind.RequestTLSDescEntryAndTransformToPageOffset12:
            (TlsRef.DESCRIPTOR, Kind.PageOffset12),
        Kind.DTPRelHi12: (TlsRef.OFFSET, Kind.AddHi12),
        Kind.DTPRelLo12: (TlsRef.OFFSET, Kind.PageOffset12),
    },
    get_addr=None,
    refused="initial-exec, local-exec or traditional general-dynamic",
    refusal_hint="use the default model (TLS descriptors): drop -ftls-model=initial-exec/"
    "local-exec, __attribute__((tls_model(...))), and GCC's -mtls-dialect=trad and "
    "-mcmodel=tiny/large, and compile with -fPIC (crossjit's own compiles do)",
    resolver_code=TLSDESC_RESOLVER,
    resolver_edges=((_RESOLVER_CALL, Kind.Branch26PCRel, 0),),
)

GOT_ENTRY_SIZE = 8
# adrp x16, entry@page; ldr x16, [x16, entry@pageoff]; br x16. x16 (IP0) may be
# clobbered by veneers (AAELF64), so no caller keeps anything live in it across a call.
STUB_TEMPLATE = bytes.fromhex("10000090" "100240f9" "00021fd6")
STUB_ALIGN = 4
STUB_GOT_EDGES = ((0, Kind.Page21, 0), (4, Kind.PageOffset12, 0))


def reloc_name(rtype: int) -> str:
    return "R_AARCH64_" + RELOC_NAMES.get(rtype, f"<unknown {rtype}>")


def is_branch_site(content: bytes | bytearray | memoryview, offset: int) -> bool:
    """Never needed: calls always carry CALL26/JUMP26, never a data relocation."""
    return False


_unpack_from = struct.unpack_from
_pack_into = struct.pack_into


def _page(x: int) -> int:
    return x & ~0xFFF


def _is_ldst_imm12(insn: int) -> bool:
    """LDR/STR (unsigned immediate), integer or SIMD&FP."""
    return insn & 0x3B000000 == 0x39000000


def _ldst_shift(insn: int) -> int:
    """The implied scale of an LDR/STR's imm12: log2 of the access size."""
    shift = insn >> 30
    if shift == 0 and insn & 0x04800000 == 0x04800000:
        shift = 4  # 128-bit SIMD&FP (Q register)
    return shift


def _is_add_imm(insn: int) -> bool:
    """ADD/SUB (immediate), 32 or 64-bit."""
    return insn & 0x1F800000 == 0x11000000


def _apply_insn(
    buf: bytearray, pos: int, k: int, e: Edge, S: int, A: int, P: int, GOT: int,
    errors: list[FixupError],
) -> None:
    """An instruction edge: its field rewritten, or left as it is (error recorded)."""
    (insn,) = _unpack_from("<I", buf, pos)
    new = _patch(insn, k, e, S, A, P, GOT, errors)
    if new is not None:
        _pack_into("<I", buf, pos, new)


# AAELF64: ABS32 may be read signed or unsigned; no branch kind is patched like PREL32.
apply_fixups = fixup_function(
    branch32=EdgeKind.Delta32, pointer32=(-(1 << 31), (1 << 32) - 1), other=_apply_insn
)


def _patch(
    insn: int, k: int, e: Edge, S: int, A: int, P: int, GOT: int, errors: list[FixupError]
) -> int | None:
    """``insn`` with its immediate field set for edge ``e``, or None (error recorded)."""
    if k == Kind.Branch26PCRel:
        if insn & 0x7C000000 != 0x14000000:
            errors.append((e, f"the instruction {insn:#010x} is not B or BL"))
            return None
        v = S + A - P
        if v & 3:
            errors.append((e, f"branch displacement {v} is not a multiple of 4"))
            return None
        if not -(1 << 27) <= v < 1 << 27:
            errors.append((e, v, -(1 << 27), (1 << 27) - 1))
            return None
        return (insn & ~0x3FFFFFF) | ((v >> 2) & 0x3FFFFFF)
    if k == Kind.Page21:
        if insn & 0x9F000000 != 0x90000000:
            errors.append((e, f"the instruction {insn:#010x} is not ADRP"))
            return None
        v = _page(S + A) - _page(P)
        if not -(1 << 32) <= v < 1 << 32:
            errors.append((e, v, -(1 << 32), (1 << 32) - 1))
            return None
        imm = v >> 12
        return (insn & ~0x60FFFFE0) | ((imm & 3) << 29) | (((imm >> 2) & 0x7FFFF) << 5)
    if k == Kind.PageOffset12:
        lo12 = (S + A) & 0xFFF
        if _is_ldst_imm12(insn):
            shift = _ldst_shift(insn)
        elif _is_add_imm(insn):
            shift = 0
        else:
            errors.append((e, f"the instruction {insn:#010x} is not ADD, LDR or STR (immediate)"))
            return None
        if lo12 & ((1 << shift) - 1):
            errors.append(
                (e, f"page offset {lo12:#x} is not aligned to the {1 << shift}-byte access")
            )
            return None
        return (insn & ~(0xFFF << 10)) | ((lo12 >> shift) << 10)
    if k == Kind.AddHi12:
        if not _is_add_imm(insn) or not insn & (1 << 22):
            errors.append((e, f"the instruction {insn:#010x} is not ADD (immediate, LSL 12)"))
            return None
        v = S + A
        if not 0 <= v < 1 << 24:
            errors.append((e, v, 0, (1 << 24) - 1))
            return None
        return (insn & ~(0xFFF << 10)) | (((v >> 12) & 0xFFF) << 10)
    if k == Kind.MoveWide16:
        # MOVZ (opc 10) or MOVK (opc 11), 64-bit; MOVN (00) would invert the value.
        if insn & 0x7F800000 not in (0x52800000, 0x72800000):
            errors.append((e, f"the instruction {insn:#010x} is not MOVZ or MOVK"))
            return None
        hw = (insn >> 21) & 3
        return (insn & ~(0xFFFF << 5)) | ((((S + A) >> (16 * hw)) & 0xFFFF) << 5)
    if k == Kind.GotPageOffset15:
        if insn & 0xFFC00000 != 0xF9400000:
            errors.append((e, f"the instruction {insn:#010x} is not a 64-bit LDR"))
            return None
        v = S + A - _page(GOT)
        if v & 7:
            errors.append((e, f"GOT entry offset {v:#x} is not a multiple of 8"))
            return None
        if not 0 <= v < 1 << 15:
            errors.append((e, v, 0, (1 << 15) - 1))
            return None
        return (insn & ~(0xFFF << 10)) | ((v >> 3) << 10)
    v = S + A - P
    if k == Kind.ADRLiteral21:
        if insn & 0x9F000000 != 0x10000000:
            errors.append((e, f"the instruction {insn:#010x} is not ADR"))
            return None
        if not -(1 << 20) <= v < 1 << 20:
            errors.append((e, v, -(1 << 20), (1 << 20) - 1))
            return None
        return (insn & ~0x60FFFFE0) | ((v & 3) << 29) | (((v >> 2) & 0x7FFFF) << 5)
    if k == Kind.LDRLiteral19:
        ok = insn & 0x3B000000 == 0x18000000  # LDR (literal), integer or SIMD&FP
        bits, shift, what = 19, 5, "LDR (literal)"
    elif k == Kind.CondBranch19PCRel:
        ok = insn & 0xFF000010 == 0x54000000 or insn & 0x7E000000 == 0x34000000
        bits, shift, what = 19, 5, "B.cond, CBZ or CBNZ"
    elif k == Kind.TestAndBranch14PCRel:
        ok = insn & 0x7E000000 == 0x36000000
        bits, shift, what = 14, 5, "TBZ or TBNZ"
    else:
        raise AssertionError(f"edge kind {k} reached fixup untransformed")
    if not ok:
        errors.append((e, f"the instruction {insn:#010x} is not {what}"))
        return None
    if v & 3:
        errors.append((e, f"displacement {v} is not a multiple of 4"))
        return None
    lim = 1 << (bits + 1)
    if not -lim <= v < lim:
        errors.append((e, v, -lim, lim - 1))
        return None
    mask = ((1 << bits) - 1) << shift
    return (insn & ~mask) | (((v >> 2) << shift) & mask)


ARCH = Arch(
    name=NAME,
    elf_machine=ELF_MACHINE,
    reloc_name=reloc_name,
    edge_kind=EDGE_KIND,
    kind_names={int(k): k.name for k in Kind},
    none_relocs=NONE_RELOCS,
    tls_relocs=TLS_RELOCS,
    dynamic_relocs=DYNAMIC_RELOCS,
    unsupported_relocs=UNSUPPORTED_RELOCS,
    got_transform=GOT_TRANSFORM,
    got_base_transform={},
    branch_kinds=BRANCH_KINDS,
    data_delta_kind=EdgeKind.Delta32,
    branch_kind=Kind.Branch26PCRel,
    is_branch_site=is_branch_site,
    got_entry_size=GOT_ENTRY_SIZE,
    got_entry_kind=EdgeKind.Pointer64,
    stub_template=STUB_TEMPLATE,
    stub_align=STUB_ALIGN,
    stub_got_edges=STUB_GOT_EDGES,
    eh_frame_section_types=frozenset(),
    apply_fixups=apply_fixups,
    tls=TLS,
)

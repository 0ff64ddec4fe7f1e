"""x86-64 (System V psABI): relocation types -> edge kinds, GOT/stub content, fixups.

Fixup code uses the psABI's names: S (symbol address), A (addend), P (place being
patched), G (GOT entry address), GOT (GOT base), Z (symbol size).
"""

from __future__ import annotations

import enum
import struct

from crossjit.link.arch import Arch, FixupError, TlsRef, TlsRules, fixup_function
from crossjit.link.graph import FIRST_ARCH_KIND, Edge, EdgeKind
from crossjit.link.objfile import SHT_X86_64_UNWIND

NAME = "x86_64"
ELF_MACHINE = "EM_X86_64"  # pyelftools' name for e_machine 62

# fmt: off
RELOC_NAMES: dict[int, str] = {
    0: "NONE", 1: "64", 2: "PC32", 3: "GOT32", 4: "PLT32", 5: "COPY", 6: "GLOB_DAT",
    7: "JUMP_SLOT", 8: "RELATIVE", 9: "GOTPCREL", 10: "32", 11: "32S", 12: "16", 13: "PC16",
    14: "8", 15: "PC8", 16: "DTPMOD64", 17: "DTPOFF64", 18: "TPOFF64", 19: "TLSGD",
    20: "TLSLD", 21: "DTPOFF32", 22: "GOTTPOFF", 23: "TPOFF32", 24: "PC64", 25: "GOTOFF64",
    26: "GOTPC32", 27: "GOT64", 28: "GOTPCREL64", 29: "GOTPC64", 30: "GOTPLT64",
    31: "PLTOFF64", 32: "SIZE32", 33: "SIZE64", 34: "GOTPC32_TLSDESC", 35: "TLSDESC_CALL",
    36: "TLSDESC", 37: "IRELATIVE", 38: "RELATIVE64", 39: "PC32_BND", 40: "PLT32_BND",
    41: "GOTPCRELX", 42: "REX_GOTPCRELX", 43: "CODE_4_GOTPCRELX", 44: "CODE_4_GOTTPOFF",
    45: "CODE_4_GOTPC32_TLSDESC", 46: "CODE_5_GOTPCRELX", 47: "CODE_5_GOTTPOFF",
    48: "CODE_5_GOTPC32_TLSDESC", 49: "CODE_6_GOTPCRELX", 50: "CODE_6_GOTTPOFF",
    51: "CODE_6_GOTPC32_TLSDESC",
}
# fmt: on

R_X86_64_NONE = 0
R_X86_64_PC32 = 2
# The thread-local types link/tls.py does not handle (DTPMOD64, TPOFF64 are dynamic; the
# rest are initial-exec, local-exec and TLS descriptors) -> NotSupportedError.
TLS_RELOCS = frozenset({16, 18, 22, 23, 34, 35, 36, 44, 45, 47, 48, 50, 51})
# Only valid in linked images (dynamic relocations), never in a relocatable object.
DYNAMIC_RELOCS = frozenset({5, 6, 7, 8, 37, 38})
UNSUPPORTED_RELOCS = frozenset({30, 31, 39, 40})


class Kind(enum.IntEnum):
    """x86-64-specific edge kinds (JITLink's names)."""

    BranchPCRel32 = FIRST_ARCH_KIND  # S + A - P; to an external: through a stub
    RequestGOTAndTransformToDelta32 = FIRST_ARCH_KIND + 1  # G + A - P
    RequestGOTAndTransformToPCRel32GOTLoadRelaxable = FIRST_ARCH_KIND + 2
    RequestGOTAndTransformToPCRel32GOTLoadREXRelaxable = FIRST_ARCH_KIND + 3
    RequestGOTAndTransformToDelta64 = FIRST_ARCH_KIND + 4  # G + A - P, 64-bit
    RequestGOTAndTransformToDelta64FromGOT = FIRST_ARCH_KIND + 5  # G + A - GOT
    RequestGOTAndTransformToDelta32FromGOT = FIRST_ARCH_KIND + 6
    Delta32ToGOTBase = FIRST_ARCH_KIND + 7  # GOT + A - P (GOTPC32)
    Delta64ToGOTBase = FIRST_ARCH_KIND + 8  # GOT + A - P (GOTPC64)
    # Thread-local storage, rewritten by link/tls.py before fixups.
    RequestTLSIndexAndTransformToDelta32 = FIRST_ARCH_KIND + 9  # TLSGD: index entry + A - P
    RequestTLSModuleAndTransformToDelta32 = FIRST_ARCH_KIND + 10  # TLSLD: {&module, 0} + A - P
    DTPOff32 = FIRST_ARCH_KIND + 11  # offset in the TLS module + A, must fit int32
    DTPOff64 = FIRST_ARCH_KIND + 12  # offset in the TLS module + A


# ELF relocation type -> edge kind (types absent here are rejected when the object is added).
EDGE_KIND: dict[int, int] = {
    1: EdgeKind.Pointer64,
    2: EdgeKind.Delta32,  # PC32; a call/jmp to an external is upgraded to a branch
    3: Kind.RequestGOTAndTransformToDelta32FromGOT,
    4: Kind.BranchPCRel32,  # PLT32
    9: Kind.RequestGOTAndTransformToDelta32,
    10: EdgeKind.Pointer32,
    11: EdgeKind.Pointer32Signed,
    12: EdgeKind.Pointer16,
    13: EdgeKind.Delta16,
    14: EdgeKind.Pointer8,
    15: EdgeKind.Delta8,
    17: Kind.DTPOff64,
    19: Kind.RequestTLSIndexAndTransformToDelta32,
    20: Kind.RequestTLSModuleAndTransformToDelta32,
    21: Kind.DTPOff32,
    24: EdgeKind.Delta64,
    25: EdgeKind.Delta64FromGOT,
    26: Kind.Delta32ToGOTBase,
    27: Kind.RequestGOTAndTransformToDelta64FromGOT,
    28: Kind.RequestGOTAndTransformToDelta64,
    29: Kind.Delta64ToGOTBase,
    32: EdgeKind.Size32,
    33: EdgeKind.Size64,
    41: Kind.RequestGOTAndTransformToPCRel32GOTLoadRelaxable,
    42: Kind.RequestGOTAndTransformToPCRel32GOTLoadREXRelaxable,
    43: Kind.RequestGOTAndTransformToPCRel32GOTLoadREXRelaxable,
    46: Kind.RequestGOTAndTransformToPCRel32GOTLoadREXRelaxable,
    49: Kind.RequestGOTAndTransformToPCRel32GOTLoadREXRelaxable,
}

# GOT-requesting kinds -> what the edge becomes once it targets the GOT entry.
GOT_TRANSFORM: dict[int, int] = {
    Kind.RequestGOTAndTransformToDelta32: EdgeKind.Delta32,
    Kind.RequestGOTAndTransformToPCRel32GOTLoadRelaxable: EdgeKind.Delta32,
    Kind.RequestGOTAndTransformToPCRel32GOTLoadREXRelaxable: EdgeKind.Delta32,
    Kind.RequestGOTAndTransformToDelta64: EdgeKind.Delta64,
    Kind.RequestGOTAndTransformToDelta64FromGOT: EdgeKind.Delta64FromGOT,
    Kind.RequestGOTAndTransformToDelta32FromGOT: EdgeKind.Delta32FromGOT,
}
# Kinds whose target is the GOT base (_GLOBAL_OFFSET_TABLE_) -> their plain delta kind.
GOT_BASE_TRANSFORM: dict[int, int] = {
    Kind.Delta32ToGOTBase: EdgeKind.Delta32,
    Kind.Delta64ToGOTBase: EdgeKind.Delta64,
}
BRANCH_KINDS = frozenset({Kind.BranchPCRel32})

# General- and local-dynamic TLS through crossjit's runtime (docs/internals.md, "TLS"):
# the call to __tls_get_addr stays an ordinary call (PLT32), to __crossjit_tls_get_addr.
TLS = TlsRules(
    transform={
        Kind.RequestTLSIndexAndTransformToDelta32: (TlsRef.INDEX, EdgeKind.Delta32),
        Kind.RequestTLSModuleAndTransformToDelta32: (TlsRef.MODULE, EdgeKind.Delta32),
        Kind.DTPOff32: (TlsRef.OFFSET, EdgeKind.Pointer32Signed),
        Kind.DTPOff64: (TlsRef.OFFSET, EdgeKind.Pointer64),
    },
    get_addr="__tls_get_addr",
    refused="initial-exec, local-exec or TLS descriptors",
    refusal_hint="use the default (general-dynamic) model: drop -ftls-model=initial-exec/"
    "local-exec, __attribute__((tls_model(...))) and -mtls-dialect=gnu2, and "
    "compile with -fPIC (crossjit's own compiles do)",
)

GOT_ENTRY_SIZE = 8
# jmp *GOT(%rip) = ff 25 <rel32>; padded with int3 to 8 bytes so stubs stay aligned.
STUB_ALIGN = 8
STUB_TEMPLATE = b"\xff\x25\x00\x00\x00\x00\xcc\xcc"
STUB_GOT_OFFSET = 2  # where the rel32 to the GOT entry goes: G + A - P with A = -4
STUB_GOT_ADDEND = -4


def reloc_name(rtype: int) -> str:
    return "R_X86_64_" + RELOC_NAMES.get(rtype, f"<unknown {rtype}>")


def is_branch_site(content: bytes | bytearray | memoryview, offset: int) -> bool:
    """Is the rel32 at ``offset`` the operand of call/jmp/jcc?

    Non-PIC code may call an external with a plain R_X86_64_PC32; such a call can be
    sent through a stub like PLT32, whereas a PC32 *data* reference cannot.
    """
    if offset >= 1 and content[offset - 1] in (0xE8, 0xE9):
        return True
    return offset >= 2 and content[offset - 2] == 0x0F and 0x80 <= content[offset - 1] <= 0x8F


# Range checks: (lo, hi) the computed value must lie in, for every kind that needs one.
_I32 = (-(1 << 31), (1 << 31) - 1)
_U32 = (0, (1 << 32) - 1)
RANGE: dict[int, tuple[int, int]] = {
    EdgeKind.Pointer32: _U32,
    EdgeKind.Pointer32Signed: _I32,
    EdgeKind.Pointer16: (-(1 << 15), (1 << 16) - 1),
    EdgeKind.Pointer8: (-(1 << 7), (1 << 8) - 1),
    EdgeKind.Delta32: _I32,
    EdgeKind.Delta16: (-(1 << 15), (1 << 15) - 1),
    EdgeKind.Delta8: (-(1 << 7), (1 << 7) - 1),
    EdgeKind.Size32: _U32,
    EdgeKind.Delta32FromGOT: _I32,
    Kind.BranchPCRel32: _I32,
}

_M64 = (1 << 64) - 1
_pack_into = struct.pack_into


def _apply_rare(
    buf: bytearray,
    pos: int,
    k: int,
    e: Edge,
    S: int,
    A: int,
    P: int,
    GOT: int,
    errors: list[FixupError],
) -> None:
    """The kinds the shared loop leaves to x86-64 (R_X86_64_32S first: the most common)."""
    if k == EdgeKind.Pointer32Signed:
        v = S + A
        if -0x80000000 <= v <= 0x7FFFFFFF:
            _pack_into("<i", buf, pos, v)
        else:
            errors.append((e, v, *_I32))
        return
    if k == EdgeKind.Size64:
        Z = e.target.size
        _pack_into("<Q", buf, pos, (Z + A) & _M64)
        return
    if k == EdgeKind.Delta64FromGOT:
        _pack_into("<Q", buf, pos, (S + A - GOT) & _M64)
        return
    if k == EdgeKind.Size32:
        v = e.target.size + A
        fmt, width = "<I", 4
    elif k == EdgeKind.Delta32FromGOT:
        v, fmt, width = S + A - GOT, "<I", 4
    elif k == EdgeKind.Pointer16:
        v, fmt, width = S + A, "<H", 2
    elif k == EdgeKind.Pointer8:
        v, fmt, width = S + A, "<B", 1
    elif k == EdgeKind.Delta16:
        v, fmt, width = S + A - P, "<H", 2
    elif k == EdgeKind.Delta8:
        v, fmt, width = S + A - P, "<B", 1
    else:
        raise AssertionError(f"edge kind {k} reached fixup untransformed")
    lo, hi = RANGE[k]
    if lo <= v <= hi:
        _pack_into(fmt, buf, pos, v & ((1 << (8 * width)) - 1))
    else:
        errors.append((e, v, lo, hi))


apply_fixups = fixup_function(branch32=Kind.BranchPCRel32, pointer32=_U32, other=_apply_rare)


ARCH = Arch(
    name=NAME,
    elf_machine=ELF_MACHINE,
    reloc_name=reloc_name,
    edge_kind=EDGE_KIND,
    kind_names={int(k): k.name for k in Kind},
    none_relocs=frozenset({R_X86_64_NONE}),
    tls_relocs=TLS_RELOCS,
    dynamic_relocs=DYNAMIC_RELOCS,
    unsupported_relocs=UNSUPPORTED_RELOCS,
    got_transform=GOT_TRANSFORM,
    got_base_transform=GOT_BASE_TRANSFORM,
    branch_kinds=BRANCH_KINDS,
    data_delta_kind=EdgeKind.Delta32,
    branch_kind=Kind.BranchPCRel32,
    is_branch_site=is_branch_site,
    got_entry_size=GOT_ENTRY_SIZE,
    got_entry_kind=EdgeKind.Pointer64,
    stub_template=STUB_TEMPLATE,
    stub_align=STUB_ALIGN,
    stub_got_edges=((STUB_GOT_OFFSET, EdgeKind.Delta32, STUB_GOT_ADDEND),),
    eh_frame_section_types=frozenset({SHT_X86_64_UNWIND}),
    apply_fixups=apply_fixups,
    tls=TLS,
)

"""SPS schemas of each wrapper call (protocol doc §5): arguments and results. Pure."""

from __future__ import annotations

from enum import IntFlag
from typing import Any

from crossjit.orc import sps
from crossjit.orc.sps import (
    U8,
    U16,
    U32,
    U64,
    Bool,
    Bytes,
    Error,
    ExecutorAddr,
    ExecutorSymbolDef,
    Expected,
    Optional,
    Sequence,
    String,
    Tuple,
)
from crossjit.records import record


class Prot(IntFlag):
    """Segment protection, same bits as crossjit's linker and the wire (R1 W2 X4)."""

    R = 1
    W = 2
    X = 4


#: wire bit (LLVM 16+): the segment is only needed while finalizing
FINALIZE_LIFETIME = 8


def wire_prot(prot: int, finalize_lifetime: bool, lifetime_bit: bool) -> int:
    """The segment protection byte: R1 W2 X4 as is; bit 8 only where the dialect has it
    (LLVM's controllers send 01/03/05 for standard-lifetime segments)."""
    return (int(prot) & 7) | (FINALIZE_LIFETIME if finalize_lifetime and lifetime_bit else 0)


@record(frozen=True, slots=True)
class SegmentRequest:
    """One segment of a finalize/initialize request. ``content`` is zero-filled up to ``size``."""

    addr: int
    size: int
    prot: int  # Prot bits (any IntFlag with R=1, W=2, X=4, or a plain int)
    content: bytes = b""
    finalize_lifetime: bool = False


# FinalizeRequest = Tuple<Sequence<SegFinalizeRequest>, Sequence<AllocActionCallPair>>
SegFinalizeRequest = Tuple(U8, ExecutorAddr, U64, Bytes)
FinalizeRequest = Tuple(Sequence(SegFinalizeRequest), Sequence(sps.AllocActionCallPair))

RESERVE_ARGS = Tuple(U64, U64)  # inst, size
RESERVE_RESULT = Expected(ExecutorAddr)
FINALIZE_ARGS = Tuple(U64, FinalizeRequest)  # inst, request
FINALIZE_RESULT = Error
INITIALIZE_RESULT = Expected(ExecutorAddr)  # 22+: the init key
ADDRS_ARGS = Tuple(U64, Sequence(ExecutorAddr))  # deallocate / deinitialize / release
ADDRS_RESULT = Error

OPEN_ARGS = Tuple(U64, String, U64)  # inst, path, mode (must be 0)
OPEN_RESULT = Expected(U64)
LOOKUP_SET = Sequence(Tuple(String, Bool))
LOOKUP_ARGS_WITH_INSTANCE = Tuple(U64, U64, LOOKUP_SET)  # inst, handle, names
LOOKUP_ARGS_NO_INSTANCE = Tuple(U64, LOOKUP_SET)  # 22: handle, names
LOOKUP_RESULTS: dict[str, sps.Codec[Any]] = {
    "addr": Expected(Sequence(ExecutorAddr)),
    "symdef": Expected(Sequence(ExecutorSymbolDef)),
    "opt-symdef": Expected(Sequence(Optional(ExecutorSymbolDef))),
    "opt-addr": Expected(Sequence(Optional(ExecutorAddr))),
}

WRITE_ARGS: dict[str, sps.Codec[Any]] = {
    "uint8s": Sequence(Tuple(ExecutorAddr, U8)),
    "uint16s": Sequence(Tuple(ExecutorAddr, U16)),
    "uint32s": Sequence(Tuple(ExecutorAddr, U32)),
    "uint64s": Sequence(Tuple(ExecutorAddr, U64)),
    "buffers": Sequence(Tuple(ExecutorAddr, Bytes)),
}

RUN_AS_MAIN_ARGS = Tuple(ExecutorAddr, Sequence(String))
RUN_AS_MAIN_RESULT = sps.I64
RUN_AS_INT_ARGS = Tuple(ExecutorAddr, sps.I32)
RUN_AS_VOID_ARGS = Tuple(ExecutorAddr)
RUN_AS_INT_RESULT = sps.I32

RANGE_ARGS = sps.ExecutorAddrRange  # (start, end)
RANGE_BOOL_ARGS = Tuple(U64, U64, Bool)  # GDB registration 17+: range, AutoRegisterCode

"""Per-call schemas: protection bytes and a FinalizeRequest's exact bytes."""

from __future__ import annotations

import pytest

from crossjit.orc import messages as m
from crossjit.orc.sps import AllocActionPair, WrapperCall


@pytest.mark.parametrize(
    ("prot", "lifetime", "bit", "byte"),
    [
        (m.Prot.R, False, True, 0x01),
        (m.Prot.R | m.Prot.W, False, True, 0x03),
        (m.Prot.R | m.Prot.X, False, False, 0x05),
        (m.Prot.R | m.Prot.W, True, True, 0x0B),  # 16+: finalize-lifetime bit
        (m.Prot.R | m.Prot.W, True, False, 0x03),  # 14/15: no such bit
        (0xFF, False, True, 0x07),
    ],
)
def test_wire_prot(prot: int, lifetime: bool, bit: bool, byte: int) -> None:
    assert m.wire_prot(prot, lifetime, bit) == byte


def test_finalize_request_bytes() -> None:
    req = (
        [(5, 0x1000, 0x1000, b"\xc3")],
        [AllocActionPair(WrapperCall(0x20, b"a"), WrapperCall(0, b""))],
    )
    data = m.FINALIZE_ARGS.encode((0x99, req))
    expected = (
        "9900000000000000"  # instance
        "0100000000000000"
        "05"
        "0010000000000000"
        "0010000000000000"
        "0100000000000000"
        "c3"
        "0100000000000000"  # one action pair
        "2000000000000000"
        "0100000000000000"
        "61"
        "0000000000000000"
        "0000000000000000"
    )
    assert data.hex() == expected
    assert m.FINALIZE_ARGS.decode(data, exact=True) == (0x99, req)


def test_lookup_result_shapes() -> None:
    ok = m.LOOKUP_RESULTS["opt-symdef"].decode(
        bytes.fromhex("010200000000000000011000000000000000100000")
    )
    assert ok == [(0x10, 0x10, 0), None]
    assert m.LOOKUP_RESULTS["symdef"].decode(
        bytes.fromhex("01010000000000000000000000000000001000")
    ) == [(0, 0x10, 0)]

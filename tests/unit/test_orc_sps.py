"""SPS codec: known encodings from the protocol doc, and round trips."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossjit.orc import sps
from crossjit.orc.sps import (
    U8,
    U16,
    U32,
    U64,
    AllocActionCallPair,
    AllocActionPair,
    Bool,
    Bytes,
    Error,
    ExecutorSymbolDef,
    Expected,
    Failure,
    Optional,
    Sequence,
    String,
    Tuple,
    WrapperCall,
    WrapperFunctionCall,
)

KNOWN: list[tuple[sps.Codec[Any], Any, str]] = [
    (U8, 0xAB, "ab"),
    (U16, 0x1122, "2211"),
    (U32, 0x44332211, "11223344"),
    (U64, 1, "0100000000000000"),
    (sps.I32, -1, "ffffffff"),
    (sps.I64, -2, "feffffffffffffff"),
    (Bool, True, "01"),
    (String, "ab", "02000000000000006162"),
    (Bytes, b"\x00\xff", "020000000000000000ff"),
    (Sequence(U16), [1, 2], "020000000000000001000200"),
    (Sequence(Tuple(U64, U8)), [(5, 7)], "0100000000000000050000000000000007"),
    (Sequence(String), ["a", ""], "02000000000000000100000000000000610000000000000000"),
    (Error, None, "00"),
    (Error, Failure("x"), "01010000000000000078"),
    (Expected(U64), 3, "010300000000000000"),
    (Expected(U64), Failure("no"), "0002000000000000006e6f"),
    (Optional(U8), None, "00"),
    (Optional(U8), 9, "0109"),
    (ExecutorSymbolDef, (0x1000, 0x10, 0), "00100000000000001000"),
    (WrapperFunctionCall, WrapperCall(0x10, b"\x01"), "1000000000000000010000000000000001"),
]


@pytest.mark.parametrize(("codec", "value", "hexbytes"), KNOWN, ids=lambda x: repr(x)[:30])
def test_known_encodings(codec: sps.Codec[Any], value: Any, hexbytes: str) -> None:
    assert codec.encode(value).hex() == hexbytes
    assert codec.decode(bytes.fromhex(hexbytes), exact=True) == value


def test_alloc_action_pair_round_trip() -> None:
    pair = AllocActionPair(WrapperCall(1, b"ab"), WrapperCall(2, b""))
    data = AllocActionCallPair.encode(pair)
    assert len(data) == 8 + 8 + 2 + 8 + 8
    assert AllocActionCallPair.decode(data, exact=True) == pair


@pytest.mark.parametrize(
    ("codec", "hexbytes"),
    [
        (U64, "0102"),
        (String, "050000000000000061"),
        (Sequence(U64), "ffffffffffffffff"),  # absurd count must not allocate
        (Sequence(String), "02000000000000000000000000000000"),
        (Expected(U64), "0100"),
        (Tuple(U8, U8), "01"),
    ],
)
def test_short_or_garbage_input_raises(codec: sps.Codec[Any], hexbytes: str) -> None:
    with pytest.raises(sps.SPSDecodeError):
        codec.decode(bytes.fromhex(hexbytes))


def test_trailing_bytes_ignored_unless_exact() -> None:
    assert U8.decode(b"\x01\x02") == 1
    with pytest.raises(sps.SPSDecodeError):
        U8.decode(b"\x01\x02", exact=True)


def test_out_of_range_value_is_value_error() -> None:
    with pytest.raises(ValueError):
        U8.encode(256)
    with pytest.raises(ValueError):
        Sequence(Tuple(U64, U8)).encode([(1, 300)])


def test_decode_from_memoryview_at_offset() -> None:
    buf = memoryview(b"\xff" + U64.encode(7) + String.encode("hi"))
    v, off = U64.unpack(buf, 1)
    s, end = String.unpack(buf, off)
    assert (v, s, end) == (7, "hi", len(buf))


u64 = st.integers(0, 2**64 - 1)
NESTED = Tuple(
    String,
    Sequence(Tuple(String, Bool)),
    Sequence(Tuple(U64, Bytes)),
    Optional(Sequence(U32)),
    Expected(Sequence(Optional(ExecutorSymbolDef))),
)


@given(
    st.text(),
    st.lists(st.tuples(st.text(max_size=8), st.booleans()), max_size=5),
    st.lists(st.tuples(u64, st.binary(max_size=16)), max_size=5),
    st.none() | st.lists(st.integers(0, 2**32 - 1), max_size=8),
    st.builds(Failure, st.text(max_size=10))
    | st.lists(st.none() | st.tuples(u64, st.integers(0, 255), st.integers(0, 255)), max_size=5),
)
def test_nested_round_trip(a: Any, b: Any, c: Any, d: Any, e: Any) -> None:
    value = (a, b, c, d, e)
    assert NESTED.decode(NESTED.encode(value), exact=True) == value


@given(st.lists(st.tuples(u64, st.integers(0, 2**16 - 1))))
def test_fixed_sequence_round_trip(items: list[tuple[int, int]]) -> None:
    codec = Sequence(Tuple(U64, U16))
    data = codec.encode(items)
    assert len(data) == 8 + 10 * len(items)
    assert codec.decode(data, exact=True) == items


def test_large_buffer_sequence_is_fast_enough() -> None:
    # A few MB of segment content must encode without per-byte work.
    content = bytes(8 << 20)
    codec = Sequence(Tuple(U8, U64, U64, Bytes))
    data = codec.encode([(5, 0x1000, len(content), content)])
    assert len(data) == 8 + 1 + 8 + 8 + 8 + len(content)
    assert codec.decode(data)[0][3] == content

"""Frame header encoding and the incremental decoder."""

from __future__ import annotations

import struct

import pytest

from crossjit.errors import ProtocolError
from crossjit.orc.frames import Frame, FrameDecoder, Opcode, encode_frame


def frames_bytes() -> tuple[bytes, list[Frame]]:
    fs = [
        Frame(Opcode.SETUP, 0, 0, b"setup-payload"),
        Frame(Opcode.RESULT, 1, 0, b""),
        Frame(Opcode.CALL_WRAPPER, 2, 0x1234, bytes(range(256)) * 10),
        Frame(Opcode.HANGUP, 0, 0, b"\x00"),
    ]
    return b"".join(encode_frame(f.opcode, f.seq, f.tag, f.payload) for f in fs), fs


def test_header_layout() -> None:
    data = encode_frame(Opcode.CALL_WRAPPER, 7, 0x1122, b"abc")
    assert struct.unpack_from("<QQQQ", data) == (35, 3, 7, 0x1122)
    assert data[32:] == b"abc"


def test_merged_chunk_yields_all_frames() -> None:
    data, fs = frames_bytes()
    dec = FrameDecoder()
    assert dec.feed(data) == fs
    assert dec.buffered == 0


@pytest.mark.parametrize("chunk", [1, 3, 31, 32, 33, 100, 4096])
def test_split_chunks(chunk: int) -> None:
    data, fs = frames_bytes()
    dec = FrameDecoder()
    got: list[Frame] = []
    for i in range(0, len(data), chunk):
        got += dec.feed(data[i : i + chunk])
    assert got == fs
    assert dec.buffered == 0


def test_partial_frame_is_buffered() -> None:
    dec = FrameDecoder()
    data = encode_frame(Opcode.RESULT, 0, 0, b"xyz")
    assert dec.feed(data[:-1]) == []
    assert dec.buffered == len(data) - 1
    assert dec.feed(memoryview(data[-1:])) == [Frame(Opcode.RESULT, 0, 0, b"xyz")]


def test_only_low_byte_of_opcode_counts() -> None:
    raw = struct.pack("<QQQQ", 32, 0x103, 5, 9)
    assert FrameDecoder().feed(raw) == [Frame(Opcode.CALL_WRAPPER, 5, 9, b"")]


@pytest.mark.parametrize(
    ("header", "needle"),
    [
        ((31, 2, 0, 0), "smaller"),
        ((0, 2, 0, 0), "smaller"),
        ((32, 4, 0, 0), "opcode"),
        ((32, 0xFF, 0, 0), "opcode"),
        (((1 << 30) + 1, 2, 0, 0), "exceeds"),
        ((2**64 - 1, 3, 0, 0), "exceeds"),
    ],
)
def test_bad_headers_rejected(header: tuple[int, int, int, int], needle: str) -> None:
    with pytest.raises(ProtocolError, match=needle):
        FrameDecoder().feed(struct.pack("<QQQQ", *header))


def test_max_size_is_configurable() -> None:
    dec = FrameDecoder(max_frame_size=64)
    dec.feed(encode_frame(Opcode.RESULT, 0, 0, bytes(32)))
    with pytest.raises(ProtocolError):
        dec.feed(encode_frame(Opcode.RESULT, 0, 0, bytes(33)))

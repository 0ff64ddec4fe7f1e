"""The 32-byte message header of FDSimpleRemoteEPCTransport (protocol doc §1.1). Pure.

``MsgSize`` (u64, total size incl. header), ``OpCode``, ``SeqNo``, ``TagAddr``, all
little-endian, then ``MsgSize - 32`` payload bytes.
"""

from __future__ import annotations

import struct
from enum import IntEnum

from crossjit.errors import ProtocolError
from crossjit.records import record

HEADER = struct.Struct("<QQQQ")
HEADER_SIZE = HEADER.size  # 32
#: Refuse frames above this size: the protocol has no bound, but garbage must not make us
#: buffer gigabytes before noticing.
MAX_FRAME_SIZE = 1 << 30


class Opcode(IntEnum):
    SETUP = 0
    HANGUP = 1
    RESULT = 2
    CALL_WRAPPER = 3


@record(frozen=True, slots=True)
class Frame:
    opcode: Opcode
    seq: int
    tag: int
    payload: bytes

    def __repr__(self) -> str:
        return (
            f"Frame({self.opcode.name}, seq={self.seq}, tag={self.tag:#x}, "
            f"{len(self.payload)} bytes)"
        )


def encode_header(opcode: Opcode, seq: int, tag: int, payload_len: int) -> bytes:
    return HEADER.pack(HEADER_SIZE + payload_len, int(opcode), seq, tag)


def encode_frame(opcode: Opcode, seq: int, tag: int, payload: bytes) -> bytes:
    return encode_header(opcode, seq, tag, len(payload)) + payload


class FrameDecoder:
    """Incremental decoder: ``feed`` arbitrary chunks, get back the frames completed so far."""

    def __init__(self, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self._buf = bytearray()
        self._max = max_frame_size
        # Header of the frame being assembled, once its 32 bytes arrived.
        self._need: int | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame (non-zero = mid-message)."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        buf = self._buf
        pos = 0
        while True:
            if len(buf) - pos < HEADER_SIZE:
                break
            size, op, seq, tag = HEADER.unpack_from(buf, pos)
            if self._need is None:
                self._check(size, op)
                self._need = size
            if len(buf) - pos < size:
                break
            payload = bytes(buf[pos + HEADER_SIZE : pos + size])
            # Receivers only look at the low byte of the opcode (doc §1.1).
            frames.append(Frame(Opcode(op & 0xFF), seq, tag, payload))
            pos += size
            self._need = None
        if pos:
            del buf[:pos]
        return frames

    def _check(self, size: int, op: int) -> None:
        if size < HEADER_SIZE:
            raise ProtocolError(
                "the executor sent a malformed message",
                why=f"message size {size} is smaller than the {HEADER_SIZE}-byte header",
            )
        if size > self._max:
            raise ProtocolError(
                "the executor sent a malformed message",
                why=f"message size {size} exceeds the limit of {self._max} bytes",
            )
        if op & 0xFF > Opcode.CALL_WRAPPER:
            raise ProtocolError(
                "the executor sent a malformed message",
                why=f"unknown opcode {op:#x} (expected 0..3)",
            )

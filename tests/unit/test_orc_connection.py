"""The sans-IO connection: event flow and protocol violations."""

from __future__ import annotations

import pytest

from crossjit.errors import ProtocolError
from crossjit.orc.connection import (
    Connection,
    ConnectionClosed,
    HangupReceived,
    IncomingCall,
    ResultReceived,
    SetupReceived,
    State,
)
from crossjit.orc.frames import FrameDecoder, Opcode, encode_frame

SETUP = encode_frame(Opcode.SETUP, 0, 0, b"info")


def ready() -> Connection:
    c = Connection()
    assert c.receive_data(SETUP) == [SetupReceived(b"info")]
    assert c.state is State.READY
    return c


def test_call_result_round_trip_and_seq_numbers() -> None:
    c = ready()
    s0, d0 = c.send_call(0x10, b"a")
    s1, _ = c.send_call(0x10, b"b")
    assert (s0, s1) == (0, 1)
    assert FrameDecoder().feed(d0)[0].tag == 0x10
    # Results may come back out of order.
    evs = c.receive_data(
        encode_frame(Opcode.RESULT, 1, 0, b"r1") + encode_frame(Opcode.RESULT, 0, 0, b"r0")
    )
    assert evs == [ResultReceived(1, b"r1"), ResultReceived(0, b"r0")]
    assert c.outstanding == set()


def test_incoming_call_and_answer() -> None:
    c = ready()
    evs = c.receive_data(encode_frame(Opcode.CALL_WRAPPER, 0, 0x1234, b"\x0a"))
    assert evs == [IncomingCall(0, 0x1234, b"\x0a")]
    out = FrameDecoder().feed(c.send_result(0, b"ok"))[0]
    assert (out.opcode, out.seq, out.tag, out.payload) == (Opcode.RESULT, 0, 0, b"ok")
    with pytest.raises(ProtocolError):
        c.send_result(0, b"again")


def test_hangup_and_eof() -> None:
    c = ready()
    assert c.receive_data(encode_frame(Opcode.HANGUP, 0, 0, b"\x00")) == [HangupReceived(b"\x00")]
    with pytest.raises(ProtocolError):
        c.send_call(1, b"")
    c2 = ready()
    c2.receive_data(encode_frame(Opcode.RESULT, 0, 0, b"")[:10])
    assert c2.receive_eof() == ConnectionClosed(mid_message=True)
    assert ready().receive_eof() == ConnectionClosed(mid_message=False)


def test_send_hangup_bytes() -> None:
    c = ready()
    data = c.send_hangup()
    assert data == encode_frame(Opcode.HANGUP, 0, 0, b"\x00")
    assert c.state is State.CLOSED


@pytest.mark.parametrize(
    ("before_setup", "data", "needle"),
    [
        (False, SETUP, "second Setup"),
        (True, encode_frame(Opcode.RESULT, 0, 0, b""), "before Setup"),
        (True, encode_frame(Opcode.CALL_WRAPPER, 0, 5, b""), "before Setup"),
        (False, encode_frame(Opcode.RESULT, 99, 0, b""), "sequence number 99"),
        (False, encode_frame(Opcode.RESULT, 0, 7, b""), "TagAddr"),
        (False, b"\x20" + bytes(7) + b"\x09" + bytes(23), "opcode"),
        (False, b"\x05" + bytes(31), "smaller"),
    ],
)
def test_violations(before_setup: bool, data: bytes, needle: str) -> None:
    c = Connection() if before_setup else ready()
    if not before_setup:
        c.send_call(1, b"")  # seq 0 outstanding
    with pytest.raises(ProtocolError, match=needle):
        c.receive_data(data)


def test_result_for_already_answered_seq_is_violation() -> None:
    c = ready()
    c.send_call(1, b"")
    c.receive_data(encode_frame(Opcode.RESULT, 0, 0, b""))
    with pytest.raises(ProtocolError, match="sequence number 0"):
        c.receive_data(encode_frame(Opcode.RESULT, 0, 0, b""))


def test_cannot_call_before_setup() -> None:
    with pytest.raises(ProtocolError, match="before"):
        Connection().send_call(1, b"")

"""Sans-IO controller side of SimpleRemoteEPC (in the style of python-hyper/h11).

``Connection`` turns received bytes into events and outgoing calls/results into bytes. It
knows the protocol's rules (Setup first and once, Results match an outstanding call, ...)
and raises ``ProtocolError`` when the peer breaks them. It never touches a socket.
"""

from __future__ import annotations

from enum import Enum, auto

from crossjit.errors import ProtocolError
from crossjit.orc.frames import MAX_FRAME_SIZE, Frame, FrameDecoder, Opcode, encode_frame
from crossjit.records import record

HANGUP_PAYLOAD = b"\x00"  # SPS Error "success": accepted by 14-23 and expected by main


@record(frozen=True, slots=True)
class SetupReceived:
    payload: bytes


@record(frozen=True, slots=True)
class ResultReceived:
    seq: int
    payload: bytes


@record(frozen=True, slots=True)
class IncomingCall:
    """The executor calls a controller-side handler (JIT'd code used the dispatch function)."""

    seq: int
    tag: int
    payload: bytes


@record(frozen=True, slots=True)
class HangupReceived:
    payload: bytes


@record(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed the stream. ``mid_message``: it stopped inside a message."""

    mid_message: bool


#: what ``receive_data`` yields (``ConnectionClosed`` only comes from ``receive_eof``)
Received = SetupReceived | ResultReceived | IncomingCall | HangupReceived


class State(Enum):
    AWAIT_SETUP = auto()
    READY = auto()
    CLOSED = auto()


def _violation(why: str) -> ProtocolError:
    return ProtocolError("the executor broke the ORC protocol", why=why)


class Connection:
    def __init__(self, *, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self.state = State.AWAIT_SETUP
        self._decoder = FrameDecoder(max_frame_size)
        self._next_seq = 0
        #: our CallWrappers still waiting for a Result
        self.outstanding: set[int] = set()
        #: the peer's CallWrappers we have not answered yet
        self._incoming: set[int] = set()

    # ---- receiving ----------------------------------------------------------------
    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Received]:
        if self.state is State.CLOSED:
            if data:
                raise _violation("bytes received after the connection was closed")
            return []
        return [self._handle(f) for f in self._decoder.feed(data)]

    def receive_eof(self) -> ConnectionClosed:
        self.state = State.CLOSED
        return ConnectionClosed(mid_message=self._decoder.buffered > 0)

    def _handle(self, f: Frame) -> Received:
        if self.state is State.CLOSED:
            raise _violation(f"{f.opcode.name} message after the connection was closed")
        if f.opcode is Opcode.SETUP:
            if self.state is not State.AWAIT_SETUP:
                raise _violation("a second Setup message")
            self.state = State.READY
            return SetupReceived(f.payload)
        if self.state is State.AWAIT_SETUP:
            raise _violation(f"{f.opcode.name} message before Setup")
        if f.opcode is Opcode.RESULT:
            if f.seq not in self.outstanding:
                raise _violation(f"Result for sequence number {f.seq}, which no call awaits")
            if f.tag != 0:
                # LLVM's own controller rejects this too ("Unexpected TagAddr in result message").
                raise _violation(f"Result with non-zero TagAddr {f.tag:#x}")
            self.outstanding.discard(f.seq)
            return ResultReceived(f.seq, f.payload)
        if f.opcode is Opcode.CALL_WRAPPER:
            if f.seq in self._incoming:
                raise _violation(f"executor reused sequence number {f.seq} of an unanswered call")
            self._incoming.add(f.seq)
            return IncomingCall(f.seq, f.tag, f.payload)
        self.state = State.CLOSED
        return HangupReceived(f.payload)

    # ---- sending -------------------------------------------------------------------
    def _require_ready(self, what: str) -> None:
        if self.state is State.AWAIT_SETUP:
            raise ProtocolError(f"cannot send {what} before the executor's Setup arrived")
        if self.state is State.CLOSED:
            raise ProtocolError(f"cannot send {what}: the connection is closed")

    def send_call(self, tag: int, payload: bytes) -> tuple[int, bytes]:
        """A CallWrapper to ``tag`` in the executor; returns (seq, bytes to send)."""
        self._require_ready("a call")
        seq = self._next_seq
        self._next_seq += 1
        self.outstanding.add(seq)
        return seq, encode_frame(Opcode.CALL_WRAPPER, seq, tag, payload)

    def send_result(self, seq: int, payload: bytes) -> bytes:
        """The answer to an ``IncomingCall``; an empty payload is an out-of-band error."""
        self._require_ready("a result")
        if seq not in self._incoming:
            raise ProtocolError(f"cannot answer sequence number {seq}: no such incoming call")
        self._incoming.discard(seq)
        return encode_frame(Opcode.RESULT, seq, 0, payload)

    def send_hangup(self) -> bytes:
        """Bytes of an orderly Hangup; the connection is closed afterwards."""
        self.state = State.CLOSED
        return encode_frame(Opcode.HANGUP, 0, 0, HANGUP_PAYLOAD)

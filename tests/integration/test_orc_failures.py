"""Failure paths: a killed executor, garbage, an unknown dialect, a silent peer.

Fake peers (a thread on the other end of a socketpair) are used where the point is a peer
that misbehaves; the kill test uses a real executor.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from crossjit.errors import (
    DialectError,
    ExecutorDisconnected,
    ExecutorTimeout,
    ProtocolError,
    RemoteError,
)
from crossjit.orc.client import OrcClient
from crossjit.orc.dialect import SETUP_WITH_MAP
from crossjit.orc.frames import FrameDecoder, Opcode, encode_frame
from crossjit.orc.messages import Prot, SegmentRequest
from crossjit.orc.transport import SocketTransport, SpawnedTransport
from tests.integration import orc_code as code
from tests.prereq import LLVM_VERSIONS, llvm_executor

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "orc"
Peer = Callable[[socket.socket], None]


@pytest.mark.parametrize("version", LLVM_VERSIONS, ids=[f"llvm{v}" for v in LLVM_VERSIONS])
def test_executor_killed_during_run_as_main(version: int) -> None:
    c = OrcClient.spawn(str(llvm_executor(version)), timeout=10)
    try:
        base = c.reserve(0x1000)
        c.finalize([SegmentRequest(base, 0x1000, Prot.R | Prot.X, code.LOOP)])
        assert isinstance(c.transport, SpawnedTransport)
        proc = c.transport.proc
        killer = threading.Timer(0.3, proc.send_signal, (signal.SIGKILL,))
        killer.start()
        t0 = time.monotonic()
        with pytest.raises(ExecutorDisconnected) as ei:
            c.run_as_main(base, [], timeout=30)  # the kill, not this deadline, must end it
        assert time.monotonic() - t0 < 10
        assert ei.value.signal == signal.SIGKILL
        assert ei.value.exit_status is None
        assert "SIGKILL" in str(ei.value)
        # The session is over: further calls fail at once instead of hanging.
        with pytest.raises(Exception, match="already failed"):
            c.reserve(0x1000)
    finally:
        c.close(timeout=5)


def test_executor_exit_status_reported() -> None:
    # A call to tag 0 makes LLVM's executor segfault (doc §1.4): the error names SIGSEGV.
    with (
        OrcClient.spawn(str(llvm_executor(16)), timeout=10) as c,
        pytest.raises(ExecutorDisconnected, match="SIGSEGV"),
    ):
        c.call(0, b"", what="a call to address 0")


@pytest.fixture
def fake_peer() -> Iterator[Callable[[Peer], SocketTransport]]:
    """Start ``peer(sock)`` in a thread on the far end of a socketpair; give us our end."""
    threads: list[threading.Thread] = []
    socks: list[socket.socket] = []

    def start(peer: Peer) -> SocketTransport:
        ours, theirs = socket.socketpair()
        socks.extend((ours, theirs))
        t = threading.Thread(target=peer, args=(theirs,), daemon=True)
        t.start()
        threads.append(t)
        return SocketTransport(ours, description="fake executor")

    yield start
    for s in socks:
        s.close()  # unblocks any peer still reading (its own socket: no cross-thread issue)
    for t in threads:
        t.join(5)


def golden_setup(version: int = 16) -> bytes:
    return (GOLDEN / f"setup-llvm-{version}.bin").read_bytes()


def read_frames(sock: socket.socket, n: int) -> list[int]:
    """Read n frames; return their SeqNos."""
    dec = FrameDecoder()
    out: list[int] = []
    while len(out) < n:
        data = sock.recv(65536)
        if not data:
            break
        out += [f.seq for f in dec.feed(data)]
    return out


def send_then_wait(*chunks: bytes) -> Peer:
    def peer(sock: socket.socket) -> None:
        for c in chunks:
            sock.sendall(c)
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass

    return peer


@pytest.mark.parametrize(
    ("garbage", "needle"),
    [
        (b"\x05" + bytes(31), "smaller"),
        (b"\x20" + bytes(7) + b"\x07" + bytes(23), "opcode"),
        ((1 << 40).to_bytes(8, "little") + bytes(24), "exceeds"),
        (encode_frame(Opcode.RESULT, 0, 0, b""), "before Setup"),
    ],
)
def test_garbage_instead_of_setup(
    fake_peer: Callable[[Peer], SocketTransport], garbage: bytes, needle: str
) -> None:
    with pytest.raises(ProtocolError, match=needle):
        OrcClient(fake_peer(send_then_wait(garbage)), timeout=5)


@pytest.mark.parametrize(
    ("reply", "needle"),
    [
        (lambda seq: b"\x20" + bytes(7) + b"\x09" + bytes(23), "opcode"),
        (lambda seq: encode_frame(Opcode.RESULT, seq + 5, 0, b"\x00"), "sequence number"),
        (lambda seq: encode_frame(Opcode.RESULT, seq, 0x99, b"\x00"), "TagAddr"),
        (lambda seq: encode_frame(Opcode.SETUP, 0, 0, b""), "second Setup"),
    ],
)
def test_garbage_answer(
    fake_peer: Callable[[Peer], SocketTransport],
    reply: Callable[[int], bytes],
    needle: str,
) -> None:
    def peer(sock: socket.socket) -> None:
        sock.sendall(golden_setup())
        for seq in read_frames(sock, 1):
            sock.sendall(reply(seq))
        send_then_wait()(sock)

    with OrcClient(fake_peer(peer), timeout=5) as c, pytest.raises(ProtocolError, match=needle):
        c.reserve(4096)


def test_unknown_dialect(fake_peer: Callable[[Peer], SocketTransport]) -> None:
    payload = SETUP_WITH_MAP.encode(
        ("aarch64-unknown-linux-musl", 16384, [], [("orc_rt_ci_Something", 0x10), ("x", 0x20)])
    )
    setup = encode_frame(Opcode.SETUP, 0, 0, payload)
    with pytest.raises(DialectError) as ei:
        OrcClient(fake_peer(send_then_wait(setup)), timeout=5)
    text = str(ei.value)
    for seen in ("aarch64-unknown-linux-musl", "16384", "bootstrap map", "orc_rt_ci_Something"):
        assert seen in text
    assert "llvm-14" in text and "llvm-22" in text  # what crossjit supports


def test_silent_peer_times_out(fake_peer: Callable[[Peer], SocketTransport]) -> None:
    with OrcClient(fake_peer(send_then_wait(golden_setup())), timeout=0.5) as c:
        t0 = time.monotonic()
        with pytest.raises(ExecutorTimeout, match="reserve"):
            c.reserve(4096)
        assert 0.4 < time.monotonic() - t0 < 3


def test_no_setup_times_out(fake_peer: Callable[[Peer], SocketTransport]) -> None:
    t0 = time.monotonic()
    with pytest.raises(ExecutorTimeout, match="Setup"):
        OrcClient(fake_peer(send_then_wait()), timeout=0.5)
    assert time.monotonic() - t0 < 3


def test_peer_closes_mid_message(fake_peer: Callable[[Peer], SocketTransport]) -> None:
    def peer(sock: socket.socket) -> None:
        sock.sendall(golden_setup())
        read_frames(sock, 1)
        sock.sendall(encode_frame(Opcode.RESULT, 0, 0, b"\x01" + bytes(8))[:40])
        sock.shutdown(socket.SHUT_RDWR)

    with (
        OrcClient(fake_peer(peer), timeout=5) as c,
        pytest.raises(ExecutorDisconnected, match="middle of a message"),
    ):
        c.reserve(4096)


def test_empty_result_is_remote_error(fake_peer: Callable[[Peer], SocketTransport]) -> None:
    def peer(sock: socket.socket) -> None:
        sock.sendall(golden_setup())
        for seq in read_frames(sock, 1):
            sock.sendall(encode_frame(Opcode.RESULT, seq, 0, b""))
        send_then_wait()(sock)

    with (
        OrcClient(fake_peer(peer), timeout=5) as c,
        pytest.raises(RemoteError, match="could not decode the arguments of reserve"),
    ):
        c.reserve(4096)

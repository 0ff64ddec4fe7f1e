"""Byte transports to an executor: the only module of crossjit.orc that touches sockets or
processes.

* ``spawn_executor``: ``socket.socketpair()``; the executor gets one end as
  ``filedescs=N,N`` and inherits our stdin/stdout/stderr, so the JIT'd program's output
  reaches the user's terminal directly.
* ``connect_tcp``: one TCP connection (retried until a deadline, the executor may still be
  starting).
* ``connect_unix``: to an executor listening on a unix socket (containers).
* ``UnixListener``: *we* listen on a unix socket in a private directory and the executor
  connects to us (over ``ssh -R``: SSH devices, docs/targets.md).

Every read waits with a deadline (``poll``). EOF and resets become ``ExecutorDisconnected``
carrying the exit status / signal of a spawned child. Closing never relies on ``close()``
from another thread (protocol doc §1.5): we shut the socket down first.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import shlex
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Sequence

from crossjit.errors import (
    CrossjitError,
    ExecutorDisconnected,
    ExecutorError,
    ExecutorTimeout,
    signal_name,
)

RECV_CHUNK = 256 << 10
#: how long we give an executor to exit after Hangup, and a dying one to be reaped
REAP_TIMEOUT = 5.0


Fate = Callable[[float], int | None]


def process_fate(proc: subprocess.Popen[bytes]) -> Fate:
    """The exit status of a local child process, as a ``Fate``."""
    def fate(timeout: float) -> int | None:
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    return fate


class SocketTransport:
    """A connected stream socket to an executor (socketpair end, unix socket or TCP).

    ``fate(timeout)``: the executor process's exit status once it has ended (waiting
    up to ``timeout``; None if it still runs), Popen-style (-N: killed by signal N), so a
    disconnect can say how the executor ended; ``signal_as_status``: that status shows
    a signal N as 128+N, as ``docker exec`` does.
    """

    def __init__(self, sock: socket.socket, *, description: str = "executor",
                 fate: Fate | None = None, signal_as_status: bool = False) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.description = description
        self.fate = fate
        self.signal_as_status = signal_as_status
        self._closed = False

    # ---- I/O -------------------------------------------------------------------------
    def peer_pid(self) -> int | None:
        """The pid of the process at the other end of a unix socket (SO_PEERCRED, in our
        pid namespace; 0 when that process is not visible there), or None for other
        sockets."""
        if self.sock.family != socket.AF_UNIX:
            return None
        raw = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                   struct.calcsize("3i"))
        return int(struct.unpack("3i", raw)[0])

    def send(self, data: bytes, deadline: float | None = None) -> None:
        view = memoryview(data)
        while view:
            try:
                n = self.sock.send(view)
            except BlockingIOError:
                self._wait(select.POLLOUT, deadline, "send to")
                continue
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as e:
                raise self.disconnected(f"while sending ({e.strerror})") from None
            view = view[n:]

    def recv(self, deadline: float | None) -> bytes:
        """The next chunk of bytes, ``b""`` at EOF. Raises ``ExecutorTimeout`` at the deadline."""
        while True:
            try:
                return self.sock.recv(RECV_CHUNK)
            except BlockingIOError:
                self._wait(select.POLLIN | select.POLLPRI, deadline, "an answer from")
            except (ConnectionResetError, ConnectionAbortedError):
                return b""

    def _wait(self, events: int, deadline: float | None, what: str) -> None:
        p = select.poll()
        p.register(self.sock.fileno(), events)
        while True:
            timeout_ms: int | None = None
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ExecutorTimeout(
                        f"timed out waiting for {what} the {self.description}",
                        hint="the executor may be busy or stuck; raise the timeout if the "
                        "operation is legitimately slow",
                    )
                timeout_ms = max(1, int(left * 1000))
            if p.poll(timeout_ms):
                return

    # ---- ending ----------------------------------------------------------------------
    def _reap(self, timeout: float) -> int | None:
        return None if self.fate is None else self.fate(timeout)

    def disconnected(self, why: str) -> ExecutorDisconnected:
        """The error to raise after EOF / reset, with the executor's fate if known."""
        if self.fate is None:
            return ExecutorDisconnected(f"the {self.description} closed the connection",
                                        why=why)
        status = self._reap(REAP_TIMEOUT)
        sig = -status if status is not None and status < 0 else None
        if sig is not None:
            fate = f"it was killed by {signal_name(sig)}"
        elif status is not None:
            fate = f"it exited with status {status}"
        else:
            fate = "it is still running"
        return ExecutorDisconnected(
            f"the {self.description} closed the connection: {fate}",
            why=why,
            hint="the executor's own messages (stderr) above may say why",
            exit_status=status if status is not None and status >= 0 else None,
            signal=sig,
            signal_as_status=self.signal_as_status,
        )

    def close(self, final: bytes = b"", timeout: float = REAP_TIMEOUT) -> int | None:
        """Send ``final`` (a Hangup), shut the socket down and close it."""
        if self._closed:
            return None
        self._closed = True
        if final:
            # If the peer is already gone, closing is all that is left to do.
            with contextlib.suppress(ExecutorError, OSError):
                self.send(final, time.monotonic() + timeout)
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        return None


class SpawnedTransport(SocketTransport):
    """An executor child process connected by a socketpair."""

    proc: subprocess.Popen[bytes]

    def __init__(self, sock: socket.socket, proc: subprocess.Popen[bytes], argv: Sequence[str],
                 path: str | None = None):
        super().__init__(sock, description=f"executor {path or argv[0]} (pid {proc.pid})",
                         fate=process_fate(proc))
        self.proc = proc
        self.argv = list(argv)

    def close(self, final: bytes = b"", timeout: float = REAP_TIMEOUT) -> int | None:
        """Hang up, then wait for the child (killing it after ``timeout``); its exit status."""
        super().close(final, timeout)
        status = self._reap(timeout)
        if status is None:
            self.proc.kill()
            status = self.proc.wait()
        return status


def spawn_executor(
    path: str, args: Sequence[str] = (), *, env: dict[str, str] | None = None,
    new_session: bool = False, stdin: int | None = None, wrapper: Sequence[str] = (),
) -> SpawnedTransport:
    """Start ``[wrapper...] path filedescs=N,N args...`` connected to us by a socketpair.

    ``wrapper``: an emulator and its options (``qemu-aarch64-static -L ROOT``); qemu-user
    runs the executor in its own process, so the socket and the pid stay the executor's.
    ``new_session``/``stdin`` (e.g. subprocess.DEVNULL) keep the terminal and its Ctrl-C
    for someone else, as when a debugger owns it."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    fd = theirs.fileno()
    argv = [*wrapper, path, f"filedescs={fd},{fd}", *args]
    try:
        # stdin/stdout/stderr are inherited: program output goes straight to the terminal.
        proc = subprocess.Popen(argv, pass_fds=(fd,), env=env, start_new_session=new_session,
                                stdin=stdin)
    except OSError as e:
        ours.close()
        theirs.close()
        raise ExecutorError(
            f"cannot start the executor {shlex.join([*wrapper, path])}",
            why=e.strerror or str(e),
            hint="check the path, or install one (apt-get install llvm-16; for AArch64: "
            "apt-get install qemu-user-static and scripts/arm64-root)",
        ) from None
    finally:
        # Our copy of the child's end must go, or we would never see EOF when it dies.
        theirs.close()
    return SpawnedTransport(ours, proc, argv, path)


def connect_tcp(host: str, port: int, *, timeout: float = 10.0) -> SocketTransport:
    """Connect to an executor listening on ``host:port``, retrying until ``timeout``."""
    deadline = time.monotonic() + timeout
    last: OSError | None = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            sock = socket.create_connection((host, port), timeout=left)
        except OSError as e:
            last = e
            if e.errno in (errno.ECONNREFUSED, errno.ENOENT, errno.EAGAIN):
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
                continue
            break
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return SocketTransport(sock, description=f"executor at {host}:{port}")
    reason = (last.strerror or str(last)) if last else f"no connection within {timeout:g} s"
    raise ExecutorError(
        f"cannot connect to the executor at {host}:{port}",
        why=reason,
        hint="is an executor listening there (llvm-jitlink-executor listen=HOST:PORT)?",
    )


def connect_unix(path: str, *, deadline: float, description: str, hint: str | None = None,
                 gone: Callable[[], CrossjitError | None] | None = None,
                 fate: Fate | None = None, signal_as_status: bool = False
                 ) -> SocketTransport:
    """Connect to an executor that is about to listen on unix socket ``path`` (by
    ``deadline``, a time.monotonic() value). ``gone`` says why the process that should
    listen has died, raised at once instead of waiting out the deadline. ``fate`` and
    ``signal_as_status``: see ``SocketTransport``."""
    while True:
        if gone is not None and (err := gone()) is not None:
            raise err
        if os.path.exists(path):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
                return SocketTransport(sock, description=description, fate=fate,
                                       signal_as_status=signal_as_status)
            except OSError:
                sock.close()  # bound but not yet listening
        if time.monotonic() > deadline:
            raise ExecutorTimeout(f"the {description} did not start listening in time",
                                  why=f"no connectable {path}", hint=hint)
        time.sleep(0.02)


class UnixListener:
    """A unix socket we listen on for one executor to connect to (``connect=PATH``).

    Bound at construction, so whoever forwards connections to it (``ssh -R``) never finds
    it missing; ``accept`` waits until a deadline, asking ``gone`` whether the process
    that should bring the executor died."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.bind(path)
            self.sock.listen(1)
        except OSError as e:
            self.sock.close()
            raise ExecutorError(f"cannot listen on {path}", why=e.strerror or str(e)) from None

    def accept(self, *, deadline: float, description: str, hint: str | None = None,
               gone: Callable[[], CrossjitError | None] | None = None,
               make: Callable[[socket.socket], SocketTransport] | None = None,
               ) -> SocketTransport:
        """The first connection, as ``make(sock)`` (default: a SocketTransport)."""
        p = select.poll()
        p.register(self.sock.fileno(), select.POLLIN)
        while True:
            if gone is not None and (err := gone()) is not None:
                raise err
            left = deadline - time.monotonic()
            if left <= 0:
                raise ExecutorTimeout(f"the {description} did not connect in time",
                                      why=f"nothing connected to {self.path}", hint=hint)
            if p.poll(min(100, max(1, int(left * 1000)))):
                conn, _ = self.sock.accept()
                self.close()
                return make(conn) if make else SocketTransport(conn, description=description)

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)


__all__ = [
    "Fate",
    "SocketTransport",
    "SpawnedTransport",
    "UnixListener",
    "connect_tcp",
    "connect_unix",
    "process_fate",
    "spawn_executor",
]

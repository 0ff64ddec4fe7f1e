"""Byte transports to an executor: the only module of crossjit.orc that touches sockets or
processes.

* ``spawn_executor``: ``socket.socketpair()``; the executor gets one end as
  ``filedescs=N,N`` and inherits our stdin/stdout/stderr, so the JIT'd program's output
  reaches the user's terminal directly.
* ``connect_tcp``: one TCP connection (retried until a deadline, the executor may still be
  starting).

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


class SocketTransport:
    """A connected stream socket to an executor (socketpair end or TCP)."""

    def __init__(self, sock: socket.socket, *, description: str = "executor") -> None:
        sock.setblocking(False)
        self.sock = sock
        self.description = description
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
    def disconnected(self, why: str) -> ExecutorDisconnected:
        """The error to raise after EOF / reset (subclasses add the child's fate)."""
        return ExecutorDisconnected(f"the {self.description} closed the connection", why=why)

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

    def __init__(self, sock: socket.socket, proc: subprocess.Popen[bytes], argv: Sequence[str],
                 path: str | None = None):
        super().__init__(sock, description=f"executor {path or argv[0]} (pid {proc.pid})")
        self.proc = proc
        self.argv = list(argv)

    def _reap(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def disconnected(self, why: str) -> ExecutorDisconnected:
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
        )

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
                 gone: Callable[[], CrossjitError | None] | None = None) -> SocketTransport:
    """Connect to an executor that is about to listen on unix socket ``path`` (by
    ``deadline``, a time.monotonic() value). ``gone`` says why the process that should
    listen has died, raised at once instead of waiting out the deadline."""
    while True:
        if gone is not None and (err := gone()) is not None:
            raise err
        if os.path.exists(path):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
                return SocketTransport(sock, description=description)
            except OSError:
                sock.close()  # bound but not yet listening
        if time.monotonic() > deadline:
            raise ExecutorTimeout(f"the {description} did not start listening in time",
                                  why=f"no connectable {path}", hint=hint)
        time.sleep(0.02)


__all__ = [
    "SocketTransport",
    "SpawnedTransport",
    "connect_tcp",
    "connect_unix",
    "spawn_executor",
]

"""Spare executor sessions: what a daemon keeps ready per running executor container.

Opening a container session (``docker exec`` + the Setup handshake) costs ~0.15 s, as
much as the rest of a one-shot `crossjit run`. `run --watch` opens its next session in the
background (watch.py); the daemon does the same across commands: it holds one connected
session per container that `run` commands used, and the child it forks for the next
`run` of that container takes it. The daemon then opens a fresh one for the run after.

A spare was opened by the daemon, so its ``docker exec`` cannot have the command's
terminal: its stdin, stdout and stderr are pipes, which the command copies from/to its own
fds 0, 1 and 2 while it runs (a ``docker exec -i`` streams through pipes anyway: the
program sees the same bytes, the same EOF). The parent hands a spare to at most one child
and never touches it again; the child closes it like any session (hang-up, the session's
processes ended).
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from crossjit.records import record

if TYPE_CHECKING:
    from crossjit.orc.client import OrcClient
    from crossjit.targets.executors import Session

PUMP_DRAIN_S = 5.0  # after the session ended: for the program's last output to arrive


@record
class Spare:
    session: Session
    stdin_w: int  # our ends of the session's pipes
    stdout_r: int
    stderr_r: int

    @property
    def container(self) -> str:
        return self.session.name

    def alive(self) -> bool:
        """Still connected: an idle executor sends nothing after Setup, so a readable
        socket means it went away (its container stopped, a crash)."""
        from crossjit.orc.transport import SocketTransport

        transport = self.session.client.transport
        if not isinstance(transport, SocketTransport):
            return False
        try:
            readable, _, _ = select.select([transport.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        if readable:
            return False
        try:  # not poll(): in a forked child the `docker exec` is not our child
            os.kill(self.session.proc.pid, 0)
        except OSError:
            return False
        return True

    def fds(self) -> tuple[int, ...]:
        """Every descriptor the holder of this spare has open for it."""
        from crossjit.orc.transport import SocketTransport

        transport = self.session.client.transport
        sock = transport.sock.fileno() if isinstance(transport, SocketTransport) else -1
        return tuple(fd for fd in (sock, self.stdin_w, self.stdout_r, self.stderr_r) if fd >= 0)

    def drop(self) -> None:
        """Forget it without ending it: it belongs to a forked child now. Closing our
        copies of its descriptors does not hang up (no shutdown(): the child's copies
        keep the connection and the pipes open)."""
        for fd in self.fds():
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        """End it (the daemon's spare for a container that went away, or at exit)."""
        self.session.close()
        for fd in (self.stdin_w, self.stdout_r, self.stderr_r):
            with contextlib.suppress(OSError):
                os.close(fd)


def open_spare(container: str, timeout: float = 30.0) -> Spare:
    """A connected session in ``container`` whose program stdio are pipes."""
    from crossjit.targets import containers, executors

    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    ok = False
    try:
        # Its own engine connection: after the fork it is the command's, never shared.
        session = executors.open_session(container, timeout=timeout,
                                         engine=containers.connect(), stdin=in_r,
                                         stdout=out_w, stderr=err_w)
        ok = True
    finally:
        for fd in (in_r, out_w, err_w) if ok else (in_r, in_w, out_r, out_w, err_r, err_w):
            os.close(fd)
    return Spare(session, in_w, out_r, err_r)


# --- the process-wide registry -------------------------------------------------------------

_HELD: dict[str, Spare] = {}


def held() -> dict[str, Spare]:
    """The spares this process holds, by container (the daemon manages this dict)."""
    return _HELD


def keep_only(container: str | None) -> None:
    """In a forked child: the spare of ``container`` is ours; the others stay the
    daemon's (our copies of their descriptors close with us, which ends nothing)."""
    for name in list(_HELD):
        if name != container:
            _HELD.pop(name)


def take(container: str) -> Spare | None:
    """This process's spare for ``container``, if it holds a live one."""
    spare = _HELD.pop(container, None)
    if spare is None:
        return None
    if not spare.alive():
        spare.close()
        return None
    return spare


def ready(container: str) -> bool:
    """Whether this process holds a live spare for ``container`` (which then runs: the
    container target's ``running`` need not ask the engine). A dead one is dropped."""
    spare = _HELD.get(container)
    if spare is None:
        return False
    if not spare.alive():
        _HELD.pop(container)
        spare.close()
        return False
    return True


@contextlib.contextmanager
def session(container: str, spare: Spare | None = None) -> Iterator[OrcClient]:
    """Like ``executors.session(container)``, from ``spare`` or the spare this process
    holds (a daemon's child), its stdio copied to and from ours for the run."""
    spare = spare or take(container)
    if spare is None:
        from crossjit.targets import executors

        with executors.session(container) as client:
            yield client
        return
    pumps = [_pump(spare.stdout_r, 1), _pump(spare.stderr_r, 2)]
    _pump(0, spare.stdin_w, close_dst=True)  # not joined: it may wait on a terminal
    try:
        yield spare.session.client
    finally:
        spare.session.close()  # hang up: the executor exits, `docker exec` with it
        for pump in pumps:
            pump.join(PUMP_DRAIN_S)  # until EOF: the program's last bytes are out


def _pump(src: int, dst: int, *, close_dst: bool = False) -> threading.Thread:
    """Copy ``src`` to ``dst`` until EOF (or an error on either side)."""

    def run() -> None:
        try:
            while data := os.read(src, 1 << 16):
                view = memoryview(data)
                while view:
                    view = view[os.write(dst, view):]
        except OSError:
            pass
        finally:
            if close_dst:
                with contextlib.suppress(OSError):
                    os.close(dst)

    thread = threading.Thread(target=run, daemon=True, name=f"crossjit-pump-{src}-{dst}")
    thread.start()
    return thread

"""The interface every kind of target answers (docs/targets.md).

A *target* is a place where an executor runs. The session asks each kind the same few
questions — what the target is, which executor binary it needs and how that gets there,
how the protocol channel is opened, how the program's stdio travels, how a debugger would
attach, how it is cleaned up. One module per kind: ``spawn.py`` (local spawn), ``tcp.py``,
``container.py`` (a container of this host's Docker engine), ``remote_engine.py`` (a
container of another machine's engine), ``ssh.py`` (an SSH device); ``kinds.py`` picks
the kind of a spec. ``Place`` adds the lifecycle of a place crossjit itself starts (a
container). docs/targets.md says what still goes below the interface.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from crossjit.errors import Progress
from crossjit.records import record

if TYPE_CHECKING:
    from crossjit.orc.client import OrcClient


@record(frozen=True)
class TargetInfo:
    """What a target is, as probed before any executor runs there."""

    arch: str  # x86_64 | aarch64 (normalised `uname -m`)
    libc: str  # glibc | musl | none (only a static executor can run)
    page_size: int
    triple: str  # the triple code is generated for (what its executor reports)


@record(frozen=True)
class Attach:
    """How a debugger reaches a session's executor (``Target.attach``)."""

    pid: int  # in this host's pid namespace; with ``remote``: in the target's
    container: str | None = None  # a container of this host's engine it runs in
    # a command whose stdin/stdout speak gdb's remote protocol to a gdbserver attached
    # to it (gdb's `target remote | COMMAND`): SSH devices, remote engines
    remote: tuple[str, ...] = ()


def info_of(client: OrcClient) -> TargetInfo:
    """A target's TargetInfo from its executor's Setup message (the kinds whose executor
    is already there to ask: local spawn, tcp, containers)."""
    from crossjit import arch_name

    triple = client.info.triple
    libc = "musl" if "musl" in triple else "glibc" if "gnu" in triple else "none"
    return TargetInfo(arch=arch_name(triple), libc=libc, page_size=client.info.page_size,
                      triple=triple)


class Target(Protocol):
    """One kind of place where code runs; see docs/targets.md for the contract."""

    @property
    def spec(self) -> str:
        """How the user named it, e.g. ``ssh:pi@board:2222``."""
        ...

    #: how the program's stdin/stdout/stderr travel, for messages and docs
    stdio: str
    #: a session's carrier (`docker exec -i`, ssh) copies stdin as soon as it starts, so a
    #: session opened ahead of its program (run --watch's next one) gets /dev/null; a
    #: spawned executor only reads when the program does, and keeps the terminal
    reads_stdin_ahead: bool
    #: it can open a fresh session for every reload (run --watch); a tcp executor serves
    #: one connection
    fresh_sessions: bool

    def probe(self) -> TargetInfo:
        """Ask the target what it is (cached for the object's lifetime)."""
        ...

    def session(self, *, triple: str | None = None, stdin: int | None = None,
                progress: Progress | None = None, new_session: bool = False,
                ) -> contextlib.AbstractContextManager[OrcClient]:
        """A fresh executor for code of ``triple`` (None: the target's own), with the
        right binary put in place first; the program's stdio is the caller's (``stdin``
        may replace stdin; ``new_session`` keeps the terminal's Ctrl-C away from the
        session's processes, for a debugger that owns the terminal). Everything it
        started is gone when the block exits, also after Ctrl-C or a lost connection."""
        ...

    def local_pids(self, client: OrcClient) -> tuple[int, ...]:
        """The processes on this host that carry a session (``run --watch`` kills them to
        stop a program at once); killing them must end the executor on the far side."""
        ...

    def resolve_libraries(self, names: Sequence[str]) -> tuple[str, ...]:
        """dlopen names as the target's own loader must be given them (SONAMEs)."""
        ...

    def attach(self, client: OrcClient) -> Attach:
        """How a debugger reaches ``client``'s executor: its pid here (local spawn, a
        local container), or a gdbserver command (SSH devices, remote engines). Raises
        a clear error where no debugger can attach (tcp)."""
        ...

    def running(self, progress: Progress | None = None, keep: bool = False
                ) -> contextlib.AbstractContextManager[None]:
        """The place exists for the block: a profile's own container is started if it
        does not run, and removed afterwards unless ``keep`` (``Place``). Nothing to do
        for the places crossjit does not start (a spawn starts per session; a tcp
        executor, an SSH device, someone's `executor up` container are there already)."""
        ...


class Place(Target, Protocol):
    """A Target that is a place crossjit starts and removes itself (a container it has
    the ``config`` of): `executor up`/`down`, and what `run --watch` restarts when the
    profile's executor settings change."""

    def up(self, progress: Progress = ...) -> object:
        """Build what it needs and (re)start it; ready when a Setup handshake succeeds."""
        ...

    def down(self) -> bool:
        """Remove it; whether it existed."""
        ...

    def is_running(self) -> bool:
        ...


# --- machine-readable events (CROSSJIT_EVENTS=FILE) ----------------------------------------


def record_event(event: str, **fields: Any) -> None:
    """Append one JSON line to $CROSSJIT_EVENTS (if set): what a target did, e.g. that an
    executor was uploaded or found in the device's cache. Tests and tools read these
    instead of parsing progress messages."""
    path = os.environ.get("CROSSJIT_EVENTS")
    if not path:
        return
    line = json.dumps({"event": event, "time": time.time(), **fields}, sort_keys=True)
    with contextlib.suppress(OSError), open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def read_events(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The events ``record`` wrote to ``path`` (for tests and tools)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)

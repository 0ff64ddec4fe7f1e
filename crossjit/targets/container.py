"""A container of this host's Docker engine (``docker:VARIANT``, a profile's container):
a Target (base.py) over ``executors``' sessions.

Channel: the session's unix socket in a 0700 host directory mounted at /run/crossjit;
program stdio: the session's ``docker exec -i``; a debugger attaches by host pid. A
container of another machine's engine is ``remote_engine.RemoteContainer``; which one a
name is, ``container_target`` asks the engine.

The container's lifecycle (``executor up``/``down``, a profile's own container started
for one run) stays ``executors.up`` / ``running`` / ``down``: a Target is where sessions
open, not what starts the place.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from crossjit.errors import Progress
from crossjit.targets import containers, executors
from crossjit.targets.base import Attach, TargetInfo

if TYPE_CHECKING:
    from crossjit.orc.client import OrcClient

#: a session context for the plain case (no stdin or terminal change): how a daemon's
#: child takes the session its daemon opened ahead (run/spares.py injects it)
Opener = Callable[[str], contextlib.AbstractContextManager["OrcClient"]]


class Container:
    """Sessions in container ``name`` of this host's engine."""

    stdio = "the session's `docker exec -i` (the user's terminal)"

    def __init__(self, name: str, *, engine: containers.Engine | None = None,
                 opener: Opener | None = None) -> None:
        self.name = name
        self._engine = engine
        self._opener = opener
        self._info: TargetInfo | None = None

    @property
    def spec(self) -> str:
        return f"docker:{self.name.removeprefix('crossjit-')}"

    @property
    def engine(self) -> containers.Engine:
        if self._engine is None:
            self._engine = containers.connect()
        return self._engine

    def probe(self) -> TargetInfo:
        if self._info is None:
            info = executors.probe(self.name, engine=self.engine)
            libc = "musl" if "musl" in info.triple else "glibc"
            from crossjit import arch_name

            self._info = TargetInfo(arch_name(info.triple), libc, info.page_size, info.triple)
        return self._info

    @contextlib.contextmanager
    def session(self, *, triple: str | None = None, stdin: int | None = None,
                progress: Progress | None = None, new_session: bool = False,
                ) -> Iterator[OrcClient]:
        # new_session: a session for a debugger (base.Target), so also ``debuggable``:
        # a remote engine's executor lets the gdbserver next to it attach
        if stdin is None and not new_session and self._opener:
            cm = self._opener(self.name)
        else:
            # its own engine connection (executors connects): sessions may open on
            # several threads (run --watch), and docker-py's client is not shared across them
            cm = executors.session(self.name, stdin=stdin, new_session=new_session,
                                   debuggable=new_session)
        with cm as client:
            if progress:
                progress(f"executor {self.name}: {client.info.triple}, {client.info.dialect}")
            yield client

    def local_pids(self, client: OrcClient) -> tuple[int, ...]:
        return tuple(sorted(executors.session_processes(client, self.name)))

    def resolve_libraries(self, names: Sequence[str]) -> tuple[str, ...]:
        # the image carries the profile's dlopen closure under the SONAMEs plan time
        # resolved them to (soname.py), so names are opened as given
        return tuple(names)

    def attach(self, client: OrcClient) -> Attach:
        return Attach(executors.session_executor_pid(client, self.name), container=self.name)


def container_target(name: str, *, opener: Opener | None = None,
                     engine: containers.Engine | None = None) -> Container:
    """The Target of container ``name``: this host's engine's, or (``Engine.remote``)
    another machine's."""
    engine = engine or containers.connect()
    if engine.remote:
        from crossjit.targets.remote_engine import RemoteContainer

        return RemoteContainer(name, engine=engine, opener=opener)
    return Container(name, engine=engine, opener=opener)



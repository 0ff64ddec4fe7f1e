"""A container of this host's Docker engine (``docker:VARIANT``, a profile's container):
a Target (base.py) over ``executors``' sessions.

Channel: the session's unix socket in a 0700 host directory mounted at /run/crossjit;
program stdio: the session's ``docker exec -i``; a debugger attaches by host pid. A
container of another machine's engine is ``remote_engine.RemoteContainer``; which one a
name is, ``container_target`` asks the engine.

Its lifecycle is the Target's too (base.Place): ``running`` makes a profile's own
container exist for a block (started if it was not running, removed afterwards if this
block started it), ``up`` / ``down`` / ``is_running`` are `executor up`/`down` and what
`run --watch` restarts. A plain ``docker:VARIANT`` (someone's `executor up`) has no
``config``: crossjit does not start it for a run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from crossjit.errors import Progress, UsageError, quiet
from crossjit.targets import containers, executors
from crossjit.targets.base import Attach, TargetInfo

if TYPE_CHECKING:
    from pathlib import Path

    from crossjit.orc.client import ExecutorInfo, OrcClient
    from crossjit.project.profile import Profile
    from crossjit.targets.executors import ExecutorConfig

#: a session context for the plain case (no stdin or terminal change): how a daemon's
#: child takes the session its daemon opened ahead (run/spares.py injects it)
Opener = Callable[[str], contextlib.AbstractContextManager["OrcClient"]]
#: whether the opener holds a live session of that container already (a daemon's spare):
#: then the container runs, and ``running`` need not ask the engine
Ready = Callable[[str], bool]


class Container:
    """Sessions in container ``name`` of this host's engine."""

    stdio = "the session's `docker exec -i` (the user's terminal)"
    # `docker exec -i` copies stdin as soon as it starts: a session opened ahead
    # (run --watch's next one) must not have the terminal
    reads_stdin_ahead = True
    fresh_sessions = True

    def __init__(self, name: str, *, engine: containers.Engine | None = None,
                 opener: Opener | None = None, ready: Ready | None = None,
                 config: ExecutorConfig | None = None) -> None:
        self.name = name
        self._engine = engine
        self._opener = opener
        self._ready = ready
        #: what the container is made of, when crossjit may start it (a profile's own,
        #: `executor up VARIANT`); None: someone else's, used as it runs
        self.config = config
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

    def declared_triple(self) -> str | None:
        """What the container is by its labels (variant → libc, CPU), without opening a
        session (a fleet plans its builds from it); None when it does not run."""
        info = self.engine.get(self.name)
        if info is None or info.status != "running":
            return None
        from crossjit import arch_name

        arch = arch_name(info.labels.get(executors.L_ARCH, "x86_64"))
        libc = "gnu" if info.labels.get(executors.L_VARIANT) == "debian" else "musl"
        return f"{arch}-linux-{libc}"

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

    # --- the place's lifecycle (base.Place) ---------------------------------------------

    @contextlib.contextmanager
    def running(self, progress: Progress | None = None, keep: bool = False
                ) -> Iterator[None]:
        """With a ``config``: the container runs inside this block — started here if it
        was not running, and then removed afterwards (unless ``keep``); a running one is
        left as it is (a live spare session proves it runs). Without: nothing to do."""
        if self.config is None or (self._ready is not None and self._ready(self.name)):
            yield
            return
        with executors.running(self.config, progress=progress or quiet, keep=keep):
            yield

    def up(self, progress: Progress = quiet,
           deadline: float = executors.READY_DEADLINE) -> ExecutorInfo:
        """Build the image and (re)start the container; ready = a Setup handshake done."""
        if self.config is None:
            raise UsageError(f"crossjit does not know how {self.name} is made",
                             hint="start it with `crossjit executor up VARIANT` or "
                                  "`--profile PROFILE`")
        return executors.up(self.config, progress=progress, deadline=deadline)

    def down(self) -> bool:
        """Remove the container (and its session folder); whether there was one."""
        return bool(executors.down(self.name))

    def is_running(self) -> bool:
        return executors.is_running(self.name, self.engine)

    def logs(self, tail: int | None = None) -> bytes:
        """The container's own output (`executor logs`)."""
        return executors.logs(self.name, tail)


# --- every executor container of the engine (`executor down` without a name, `status`) --

VARIANTS = executors.VARIANTS


def down_all() -> list[str]:
    """Remove every executor container of the engine; the names removed."""
    return executors.down()


def status() -> list[dict[str, Any]]:
    """Each executor container of the engine: name, variant, arch, profile, state, image."""
    return executors.status()


def container_target(name: str, *, opener: Opener | None = None, ready: Ready | None = None,
                     engine: containers.Engine | None = None,
                     config: ExecutorConfig | None = None) -> Container:
    """The Target of container ``name``: this host's engine's, or (``Engine.remote``)
    another machine's. ``config``: how to start it (``profile_container``)."""
    engine = engine or containers.connect()
    if engine.remote:
        from crossjit.targets.remote_engine import RemoteContainer

        return RemoteContainer(name, engine=engine, opener=opener, ready=ready, config=config)
    return Container(name, engine=engine, opener=opener, ready=ready, config=config)


def config_of(profile: Profile | None = None, mounts: Sequence[tuple[Path, str]] = (),
              variant: str | None = None) -> ExecutorConfig:
    """What the container of ``profile`` (or of a bare ``variant``) is made of: its name,
    image recipe and settings (no engine is asked)."""
    return executors.config(variant, profile, mounts)


def profile_container(config: ExecutorConfig, *, opener: Opener | None = None,
                      ready: Ready | None = None) -> Container:
    """The Target of the container ``config`` describes (a profile's own, or `executor up
    VARIANT`'s): one crossjit may start (``running``, ``up``)."""
    return container_target(config.name, opener=opener, ready=ready, config=config)



"""tcp: an executor someone started with ``listen=HOST:PORT`` (``tcp:HOST:PORT``). A Target
(base.py). Anyone who can reach that address can run code as the executor's user: use it
on loopback or inside a network namespace only (docs/targets.md)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from crossjit.errors import NotSupportedError, Progress, UsageError
from crossjit.targets.base import Attach, TargetInfo, info_of

if TYPE_CHECKING:
    from crossjit.orc.client import ExecutorSpec, OrcClient


class TcpExecutor:
    stdio = "wherever that executor's own stdin/stdout/stderr go"
    reads_stdin_ahead = False
    fresh_sessions = False

    def __init__(self, spec: str) -> None:
        from crossjit.orc.client import ExecutorSpec

        self.parsed: ExecutorSpec = ExecutorSpec.parse(spec)
        self._info: TargetInfo | None = None

    @property
    def spec(self) -> str:
        return str(self.parsed)

    def probe(self) -> TargetInfo:
        # An executor serves one connection: what it is comes from a session's Setup.
        raise NotSupportedError(f"{self.spec} serves one connection only",
                                why="probing it would use that connection up",
                                hint="read what it is from the session's client.info")

    @contextlib.contextmanager
    def session(self, *, triple: str | None = None, stdin: int | None = None,
                progress: Progress | None = None, new_session: bool = False,
                ) -> Iterator[OrcClient]:
        from crossjit.orc.client import OrcClient

        if new_session:  # a debugger's session (base.Target): refused before connecting
            self.attach(None)  # raises
        # stdin cannot apply: the program's stdio is that executor's own
        with OrcClient.open(self.parsed) as client:
            self._info = info_of(client)
            if progress:
                progress(f"executor {self.spec}: {client.info.triple}, {client.info.dialect}")
            yield client

    def local_pids(self, client: OrcClient) -> tuple[int, ...]:
        return ()  # nothing of it runs here: only hanging up ends its program

    def running(self, progress: Progress | None = None, keep: bool = False
                ) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()  # nothing to start: base.Target.running

    def resolve_libraries(self, names: Sequence[str]) -> tuple[str, ...]:
        return tuple(names)

    def attach(self, client: OrcClient | None) -> Attach:
        raise UsageError(
            f"crossjit debug needs a local executor (spawn:PATH) or a container "
            f"(docker:VARIANT), not {self.spec}",
            hint="the debugger attaches to the executor process, so it must run on this "
            "host, in a container, or on an SSH device")

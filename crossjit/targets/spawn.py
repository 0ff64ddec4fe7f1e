"""Local spawn: an executor started on this host as crossjit's child (``spawn:PATH``, the
default Debian LLVM executor, an AArch64 one under qemu-user). A Target (base.py).

Channel: a socketpair (``filedescs=N,N``); the program's stdio is inherited from
crossjit; nobody but crossjit can reach the executor.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from crossjit.errors import NotSupportedError, Progress
from crossjit.targets.base import Attach, TargetInfo, info_of

if TYPE_CHECKING:
    from crossjit.orc.client import ExecutorSpec, OrcClient


class LocalSpawn:
    """``spawn:PATH ARGS`` (``spec`` None: Debian's default LLVM executor)."""

    stdio = "inherited from crossjit (the executor is its child process)"
    reads_stdin_ahead = False
    fresh_sessions = True

    def __init__(self, spec: str | None) -> None:
        self._text = spec
        self._info: TargetInfo | None = None

    @property
    def spec(self) -> str:
        return str(self.parsed)

    @property
    def parsed(self) -> ExecutorSpec:
        from crossjit.orc.client import ExecutorSpec

        return ExecutorSpec.parse(self._text) if self._text else ExecutorSpec.default()

    def probe(self) -> TargetInfo:
        """The executor's own answer (its Setup): what it runs code for."""
        if self._info is None:
            with self.session(stdin=subprocess.DEVNULL) as client:
                self._info = info_of(client)
        return self._info

    @contextlib.contextmanager
    def session(self, *, triple: str | None = None, stdin: int | None = None,
                progress: Progress | None = None, new_session: bool = False,
                ) -> Iterator[OrcClient]:
        from crossjit.orc.client import OrcClient
        from crossjit.orc.transport import spawn_executor

        spec = self.parsed
        transport = spawn_executor(spec.path, spec.args, wrapper=spec.wrapper,
                                   new_session=new_session, stdin=stdin)
        try:
            client = OrcClient(transport)
        except BaseException:
            transport.close()
            raise
        with client:
            if progress:
                progress(f"executor {spec}: {client.info.triple}, {client.info.dialect}")
            yield client

    def local_pids(self, client: OrcClient) -> tuple[int, ...]:
        from crossjit.orc.transport import SpawnedTransport

        transport = client.transport
        assert isinstance(transport, SpawnedTransport)
        return (transport.proc.pid,)

    def running(self, progress: Progress | None = None, keep: bool = False
                ) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()  # nothing to start: base.Target.running

    def resolve_libraries(self, names: Sequence[str]) -> tuple[str, ...]:
        return tuple(names)  # this host's loader: dlopen finds them as given

    def attach(self, client: OrcClient) -> Attach:
        if self.parsed.wrapper:  # crossjit debug serves qemu-user's through its gdbstub
            raise NotSupportedError(f"a debugger cannot attach to {self.spec} by pid",
                                    why="it runs under an emulator")
        return Attach(self.local_pids(client)[0])

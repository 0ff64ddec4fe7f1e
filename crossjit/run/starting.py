"""An executor spawned (or connected to) whose Setup message is read only when its
client is asked for: what crossjit does meanwhile (imports, the build, planning the
link) overlaps the executor's start — qemu-user takes ~40 ms to boot an emulated one.

``early(spec)``: the launcher starts a ``jit --executor spawn:...`` command's executor
before typer and the rest of crossjit are imported (a fresh process, no daemon);
``take(spec)`` hands it to run_jit, or starts one. Light on purpose: only the spec and
transport modules.
"""

from __future__ import annotations

import atexit
from typing import TYPE_CHECKING

from crossjit.errors import CrossjitError
from crossjit.orc.spec import ExecutorSpec, start

if TYPE_CHECKING:
    from crossjit.errors import Progress
    from crossjit.orc.client import OrcClient


class Starting:
    """``close()``: the client's, or the bare transport's when none was made."""

    def __init__(self, spec: str | None) -> None:
        self.spec = ExecutorSpec.parse(spec) if spec else ExecutorSpec.default()
        self._transport = start(self.spec)
        self._client: OrcClient | None = None
        self._closed = False

    def client(self, progress: Progress | None = None) -> OrcClient:
        if self._client is None:
            from crossjit.orc.client import OrcClient

            self._client = OrcClient(self._transport)  # closes the transport if it fails
            if progress:
                info = self._client.info
                progress(f"executor {self.spec}: {info.triple}, {info.dialect}")
        return self._client

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._client is not None:
            self._client.close()
        else:
            self._transport.close()


_EARLY: dict[str, Starting] = {}


def early(spec: str | None) -> None:
    """Start ``spec``'s executor (None: the default LLVM executor) now for a later
    ``take(spec)``; any failure is left for that ordinary start to report. One nobody
    takes is closed at exit."""
    key = spec or ""
    if key in _EARLY or not (spec is None or spec.startswith("spawn:")):
        return
    try:
        _EARLY[key] = Starting(spec)
    except (CrossjitError, OSError):
        return
    if len(_EARLY) == 1:
        atexit.register(_close_unclaimed)


def take(spec: str | None) -> Starting:
    found = _EARLY.pop(spec or "", None)
    return found if found is not None else Starting(spec)


def _close_unclaimed() -> None:
    while _EARLY:
        _EARLY.popitem()[1].close()

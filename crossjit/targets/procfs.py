"""Processes on this host as /proc shows them: the one reader of ``/proc/PID/stat``.

Used to find and watch executor processes (a container session's executor by its host
pid, a debugger's tracing stop, a killed session's end).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from crossjit.records import record


@record(frozen=True, slots=True)
class ProcStat:
    comm: str
    state: str  # R, S, D, T, t, Z, X …
    ppid: int


def parse_stat(text: str) -> ProcStat:
    """One ``stat`` line; ``comm`` may hold spaces and parentheses, so split at the last ')'."""
    head, rest = text.rsplit(")", 1)
    fields = rest.split()
    return ProcStat(head.split("(", 1)[1], fields[0], int(fields[1]))


def stat(pid: int, task: int | None = None) -> ProcStat | None:
    """A process's (or one of its threads') stat; None when it is gone."""
    path = f"/proc/{pid}/stat" if task is None else f"/proc/{pid}/task/{task}/stat"
    try:
        return parse_stat(Path(path).read_text())
    except (FileNotFoundError, ProcessLookupError):
        return None


def gone(pid: int) -> bool:
    """Dead: reaped, or a zombie nobody reaped yet."""
    st = stat(pid)
    return st is None or st.state in ("Z", "X")


def thread_states(pid: int) -> list[str] | None:
    """The state of each thread of ``pid``; None when it is gone."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return None
    states = []
    for t in tasks:
        with contextlib.suppress(ValueError):
            st = stat(pid, int(t))
            if st is not None:
                states.append(st.state)
    return states


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = stat(int(entry))
            if st is not None and st.ppid == pid:
                kids.append(int(entry))
    return kids

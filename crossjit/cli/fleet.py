"""`crossjit run PROFILE --on TARGET...`: how a fleet run looks (run/fleet.py runs it).

Text: every line a target's program writes, prefixed ``[NAME] `` on the stream it was
written to; at the end a table (target, triple, status, wall time) and, with
``--compare``, a unified diff per disagreeing target, on stdout. ``--json``: one JSON
object per line on stdout — ``{target, stream, text}`` per line as it comes, then a final
status object per target (after the run, so --compare's verdict is in it), and
``{"fleet": …}`` last. The exit status is 0, or 1 naming the targets that
failed (or disagreed, with --compare), printed as crossjit's error paragraph on stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from crossjit.errors import CrossjitError, Progress
from crossjit.run import fleet

EXIT_FLEET_FAILED = 1


def _out(text: str, stream: str = "stdout") -> None:
    print(text, file=sys.stdout if stream == "stdout" else sys.stderr, flush=True)


def run(profile_path: Path, on: list[str], *, args: tuple[str, ...] | None, as_json: bool,
        compare: bool, timeout: float | None, progress: Progress | None) -> int:
    """The fleet run's exit status (see the module's docstring)."""
    from crossjit.project.profile import load_profile

    profile = load_profile(profile_path)
    specs = fleet.choose(profile, on)

    def emit(ev: fleet.Line | fleet.Result) -> None:
        if isinstance(ev, fleet.Line):
            if as_json:
                _out(json.dumps({"target": ev.target, "stream": ev.stream, "text": ev.text}))
            else:
                _out(f"[{ev.target}] {ev.text}", ev.stream)
        elif as_json:
            pass  # its final object comes after the run, with --compare's verdict in it
        elif ev.error is not None and ev.status is None:
            # a child's own paragraph went by on its stderr; this one never started
            for line in ev.error.splitlines():
                _out(f"[{ev.target}] {line}", "stderr")

    report = fleet.Fleet(profile_path, profile, specs, args=args, emit=emit, compare=compare,
                         timeout=timeout, progress=progress, launch=fork_child,
                         prewarm=True).run()
    if as_json:
        for r in report.results:
            _out(json.dumps(r.as_json()))
        _out(json.dumps({"fleet": {
            "ok": report.ok, "reference": report.reference, "wall_s": round(report.wall_s, 3),
            "failed": [r.target for r in report.failed],
            "nonzero": [r.target for r in report.nonzero],
            "disagreed": [r.target for r in report.disagreeing]}}))
    else:
        _table(report)
        for r in report.disagreeing:
            _out(r.diff.rstrip("\n"))
    if report.ok:
        return 0
    _out(_failure(report).render(), "stderr")
    return EXIT_FLEET_FAILED


def _table(report: fleet.Report) -> None:
    rows = [("target", "triple", "status", "wall"), *fleet.summary_rows(report)]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    _out("")
    for r in rows:
        _out("  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3])
    _out(f"fleet: {len(report.results)} targets in {report.wall_s:.2f} s"
         + (f", reference {report.reference}" if report.reference else ""))


def _failure(report: fleet.Report) -> CrossjitError:
    parts, why = [], []
    if report.failed:
        parts.append("failed on " + ", ".join(r.target for r in report.failed))
        for r in report.failed:
            first = (r.error or "").removeprefix("error: ").splitlines()[0:1]
            why.append(f"{r.target} ({r.spec}): {first[0] if first else 'failed'}")
    if report.compared and report.disagreeing:
        parts.append(f"disagreed with {report.reference}: "
                     + ", ".join(r.target for r in report.disagreeing))
    if not report.compared and report.nonzero:
        parts.append("exited non-zero on " + ", ".join(
            f"{r.target} ({r.status})" for r in report.nonzero))
    return CrossjitError(
        "the fleet run " + "; ".join(parts), why="\n".join(why) or None,
        hint="each target's output is above, prefixed with its name; run one alone with "
        "`crossjit run PROFILE -e SPEC`")


# --- children forked from this process ------------------------------------------------------


def fork_child(argv: list[str], env: dict[str, str], stdout: int, stderr: int,
               close: Sequence[int]) -> fleet.Child:
    """A target's ``crossjit run`` as a fork of this process, which has imported and
    built everything already: a fresh interpreter per target would spend ~0.3 s of CPU
    each on imports alone, and a fleet's targets share two cores with everything else.
    The child runs the ordinary CLI, as the daemon's children do (cli/daemon.py). Only
    forks with no other thread alive (fleet.Fleet guarantees it); ``CROSSJIT_FLEET_FORK=0``
    starts ``python -m crossjit`` instead."""
    if threading.active_count() > 1 or os.environ.get("CROSSJIT_FLEET_FORK") == "0":
        return fleet.spawn_child(argv, env, stdout, stderr, close)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(argv, env, stdout, stderr, close)
    with contextlib.suppress(OSError):  # the child does it too: whoever is first
        os.setpgid(pid, pid)
    return _Forked(pid)


def _child(argv: list[str], env: dict[str, str], stdout: int, stderr: int,
           close: Sequence[int]) -> None:
    """Run ``crossjit ARGV`` in this forked process (never returns)."""
    status = 125
    try:
        os.setpgid(0, 0)  # its own group: the fleet stops a target by its group
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        for fd, target in ((null, 0), (stdout, 1), (stderr, 2)):
            os.dup2(fd, target)
        for fd in {null, stdout, stderr, *close}:
            with contextlib.suppress(OSError):
                os.close(fd)
        os.environ.clear()
        os.environ.update(env)
        from crossjit.cli.app import status_of

        status = status_of(argv)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(status)


class _Forked:
    """subprocess.Popen's poll/wait for a forked child."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        with self._lock:
            if self.returncode is None:
                try:
                    pid, st = os.waitpid(self.pid, os.WNOHANG)
                except ChildProcessError:
                    self.returncode = 255  # reaped by someone else: status unknown
                else:
                    if pid:
                        self.returncode = os.waitstatus_to_exitcode(st)
            return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (status := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
            time.sleep(0.02)
        return status

"""Fleets: one profile's program on many targets at once (docs/targets.md, "Fleets").

1. **Targets** — ``--on`` items or the profile's ``targets:`` (project/targetspec.py).
2. **Triples** — each target's triple is its entry's ``target:``, else what the target is:
   an SSH device's probe, a container's labels (variant, CPU); anything else builds for
   the profile's triple (as ``crossjit run -e SPEC`` does). Probes run in parallel.
3. **Build once per distinct triple** — here, into the content-addressed cache, in
   parallel across triples.
4. **Run** — every target in a ``crossjit run PROFILE -e SPEC --target TRIPLE`` child
   of its own, all at once (cli/fleet.py forks them from this warm process; the plain
   Launch starts ``python -m crossjit``). A child process per target, not a thread, because the
   program's stdout/stderr *are* its executor's (a spawned executor inherits them, a
   container's come through ``docker exec``, a device's through ssh): only separate
   processes give each target separate streams to prefix. The child finds every object
   in the cache (its timings file says it compiled nothing), and a target that cannot
   start, loses its device or crashes is that target's result alone.

Each child runs in a process group of its own; Ctrl-C (KeyboardInterrupt here) is passed
on to every group as SIGINT, as a terminal would, so each child stops its own target and
cleans up; SIGTERM, then SIGKILL, follow for one that does not end. Library code: events
go to the caller's callback, nothing prints.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from crossjit.errors import (
    EXIT_CROSSJIT_FAILURE,
    CrossjitError,
    NotSupportedError,
    Progress,
    UsageError,
)
from crossjit.project import targetspec
from crossjit.project.targetspec import TargetSpec
from crossjit.records import field, record

if TYPE_CHECKING:
    from crossjit.project.profile import Profile

STOP_GRACE_S = 5.0  # after SIGTERM, before SIGKILL (a child's cleanup: containers, ssh)
INTERRUPT_GRACE_S = 2.0  # Ctrl-C reached the children too: give them this to stop alone


@record(frozen=True)
class Line:
    """One line a target's program (or its crossjit) wrote."""

    target: str
    stream: str  # stdout | stderr
    text: str  # without its newline


@record
class Result:
    """How one target's run ended."""

    target: str
    spec: str
    triple: str
    status: int | None = None  # the program's exit status (None: it never ran)
    error: str | None = None  # crossjit's own message when it failed for this target
    wall_s: float = 0.0
    stdout: bytes = b""
    compiled: int | None = None  # sources the child compiled (0: the fleet's build reused)
    generated: int | None = None
    agrees: bool | None = None  # with --compare: same stdout and status as the reference
    diff: str = ""

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def outcome(self) -> str:
        if self.error is not None:
            return "error"
        return f"exit {self.status}"

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "target": self.target, "spec": self.spec, "triple": self.triple or None,
            "status": self.status, "wall_s": round(self.wall_s, 3), "error": self.error,
            "compiled": self.compiled, "generated": self.generated,
        }
        if self.agrees is not None:
            out |= {"agrees": self.agrees, "diff": self.diff}
        return out


@record
class Report:
    results: list[Result]
    compared: bool
    reference: str | None = None
    wall_s: float = 0.0
    interrupted: bool = False

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.failed]

    @property
    def nonzero(self) -> list[Result]:
        return [r for r in self.results if not r.failed and r.status != 0]

    @property
    def disagreeing(self) -> list[Result]:
        return [r for r in self.results if r.agrees is False]

    @property
    def ok(self) -> bool:
        if self.interrupted or self.failed:
            return False
        return not self.disagreeing if self.compared else not self.nonzero


Emit = Callable[[Line | Result], None]


# --- choosing targets ----------------------------------------------------------------------


def choose(profile: Profile, on: Sequence[str]) -> list[TargetSpec]:
    """``--on`` items (names of the profile's entries, or specs), else the profile's
    ``targets:``. Raises UsageError for a bad item."""
    named = {s.name: s for s in profile_targets(profile)}
    if not on:
        if not named:
            raise UsageError(f"profile {profile.file} has no targets",
                             hint="add a `targets:` list (docs/profiles.md) or pass "
                             "--on TARGET,TARGET...")
        return list(named.values())
    out = []
    for item in targetspec.split_cli(list(on)):
        if item in named:
            out.append(named[item])
            continue
        try:
            out.append(targetspec.parse_cli(item))
        except targetspec.BadTargetSpec as exc:
            known = (f"or name one of the profile's targets: {', '.join(named)}" if named
                     else "or list them in the profile's `targets:` (docs/profiles.md)")
            raise UsageError(f"bad --on target {item!r}", why=str(exc),
                             hint=f"NAME=SPEC names a target; {known}") from None
    return targetspec.unique_names(out)


def profile_targets(profile: Profile) -> list[TargetSpec]:
    return targetspec.unique_names([targetspec.parse(t.executor, name=t.name, triple=t.target)
                                    for t in profile.targets])


def normal_triple(triple: str) -> str:
    """``x86_64-pc-linux-gnu`` → ``x86_64-linux-gnu``: one build for both spellings."""
    parts = triple.split("-")
    return "-".join(parts[:1] + parts[2:]) if len(parts) == 4 else triple


def probe_triple(spec: TargetSpec, default: str) -> str:
    """The triple to build for ``spec`` (see the module's docstring); raises the
    target's own error when it cannot be reached (a down device)."""

    if spec.triple:
        return normal_triple(spec.triple)
    if spec.kind == "ssh":
        from crossjit.project.plan import ExecutorChoice
        from crossjit.run.session import target_for

        device = target_for(ExecutorChoice(spec=spec.executor))
        assert device is not None
        return normal_triple(device.probe().triple)
    if spec.kind == "docker":
        from crossjit.project.plan import docker_container
        from crossjit.targets.container import container_target

        name = docker_container(spec.executor)
        assert name is not None
        # not running: the child says what is wrong, as `run -e docker:…` would
        return container_target(name).declared_triple() or default
    return normal_triple(default)


def executor_spec(spec: TargetSpec, triple: str) -> str:
    """What the child gets as ``-e``: ``local`` is the host executor for the triple."""
    if spec.executor is not None:
        return spec.executor
    from crossjit.project.plan import local_executor_for

    return local_executor_for(triple) or "spawn"


# --- running --------------------------------------------------------------------------------


class Child(Protocol):
    """A started target's crossjit process (subprocess.Popen is one)."""

    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


#: Start ``crossjit ARGV`` with that environment, stdin /dev/null, stdout and stderr on
#: the given descriptors, in a process group of its own; ``close``: descriptors of the
#: other targets the child must not keep.
Launch = Callable[[list[str], dict[str, str], int, int, Sequence[int]], Child]


def spawn_child(argv: list[str], env: dict[str, str], stdout: int, stderr: int,
                close: Sequence[int]) -> Child:
    """The plain Launch: a fresh ``python -m crossjit`` (the launcher, so a running
    daemon serves it)."""
    # A process group per target: stopping one (Ctrl-C, --timeout) signals its whole
    # group — crossjit, its executor or ssh or docker exec — as a terminal's Ctrl-C
    # would, and SIGKILL there releases the output pipes the readers wait on.
    return subprocess.Popen([sys.executable, "-m", "crossjit", *argv], stdin=subprocess.DEVNULL,
                            stdout=stdout, stderr=stderr, env=env, process_group=0)


@record
class _Target:
    spec: TargetSpec
    result: Result
    proc: Child | None = None
    timings: Path | None = None
    started: float = 0.0
    stderr_tail: list[str] = field(default_factory=list)


class Fleet:
    """One fleet run; ``run()`` returns the Report, events go to ``emit`` (called on the
    caller's thread only).

    Probes and builds run on worker threads that are all gone before the first child
    starts, and every child is started from the calling thread before any reader thread
    exists: a Launch may fork (cli/fleet.py's does, to start children warm)."""

    def __init__(self, profile_path: Path, profile: Profile, specs: Sequence[TargetSpec], *,
                 args: tuple[str, ...] | None, emit: Emit, compare: bool = False,
                 timeout: float | None = None, progress: Progress | None = None,
                 launch: Launch = spawn_child, prewarm: bool = False) -> None:
        self.path, self.profile = profile_path, profile
        self.args, self.emit, self.compare, self.timeout = args, emit, compare, timeout
        self.progress, self.launch, self.prewarm = progress, launch, prewarm
        self.targets = [_Target(s, Result(s.name, s.text, "")) for s in specs]
        self._events: queue.Queue[Line | Result] = queue.Queue()
        self._stopping = threading.Event()
        self._timed_out = False
        self._start = 0.0
        self._tmp = Path(tempfile.mkdtemp(prefix="crossjit-fleet-"))

    def run(self) -> Report:
        self._start = time.monotonic()
        report = Report([t.result for t in self.targets], self.compare)
        try:
            self._prepare()
            self._launch_all()
            self._drain(self._start)
        except BaseException:  # Ctrl-C, SIGTERM: stop every target, then say so
            report.interrupted = True
            self._stop(interrupted=True)
            with contextlib.suppress(BaseException):
                self._drain(time.monotonic(), limit=INTERRUPT_GRACE_S + STOP_GRACE_S + 5)
            raise
        finally:
            report.wall_s = time.monotonic() - self._start
            shutil.rmtree(self._tmp, ignore_errors=True)
        if self.compare:
            compare(report)
        return report

    # -- before any child: each target's triple, then one build per distinct triple --
    def _prepare(self) -> None:
        pool = ThreadPoolExecutor(max_workers=max(1, len(self.targets)),
                                  thread_name_prefix="crossjit-fleet")
        try:
            if self.prewarm:
                pool.submit(_warm_up)
            probes = [pool.submit(probe_triple, t.spec, self.profile.target.triple)
                      for t in self.targets]
            for t, fut in zip(self.targets, probes, strict=True):
                if self._settled(t, fut):
                    t.result.triple = fut.result()
            wanted = sorted({t.result.triple for t in self.targets if not t.result.failed})
            builds = {tr: pool.submit(self._build, tr) for tr in wanted}
            for t in self.targets:
                if not t.result.failed:
                    self._settled(t, builds[t.result.triple])
        finally:
            # on Ctrl-C do not wait for a probe's ssh; otherwise every worker is joined
            pool.shutdown(wait=not sys.exc_info()[0], cancel_futures=True)

    def _settled(self, t: _Target, fut: Future[Any]) -> bool:
        """Did ``fut`` succeed? If not, ``t`` failed with its error."""
        try:
            fut.result()
            return True
        except CrossjitError as exc:
            self._fail(t, exc.render())
        except Exception as exc:  # a bug must not take the other targets down
            self._fail(t, f"error: {type(exc).__name__}: {exc}")
        return False

    def _fail(self, t: _Target, message: str) -> None:
        t.result.error = message
        t.result.wall_s = time.monotonic() - self._start
        self._events.put(t.result)

    def _build(self, triple: str) -> None:
        from crossjit.compile import build as _build
        from crossjit.run.session import prepare_profile

        run = prepare_profile(self.path, self.args, None, self.progress,
                              build_sysroot=self.progress, triple=triple)
        _build.build(run.plan.inputs, run.plan.build, self.progress)

    # -- the children --
    def _launch_all(self) -> None:
        reads: list[int] = []
        started = []
        for i, t in enumerate(self.targets):
            if t.result.failed:
                continue
            try:
                exe = executor_spec(t.spec, t.result.triple)
            except CrossjitError as exc:
                self._fail(t, exc.render())
                continue
            argv = ["run", str(self.path), "-e", exe, "--target", t.result.triple]
            if self.args is not None:
                argv += ["--", *self.args]
            t.timings = self._tmp / f"{i}.json"
            env = dict(os.environ, CROSSJIT_TIMINGS=str(t.timings))
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            try:
                t.started = time.monotonic()
                t.proc = self.launch(argv, env, out_w, err_w, [*reads, out_r, err_r])
            except OSError as exc:
                os.close(out_r)
                os.close(err_r)
                self._fail(t, f"error: cannot start crossjit for {t.spec.name}: {exc}")
                continue
            finally:
                os.close(out_w)
                os.close(err_w)
            reads += [out_r, err_r]
            started.append((t, out_r, err_r))
        for t, out_r, err_r in started:  # only now: threads (a Launch may fork)
            threading.Thread(target=self._pump, args=(t, out_r, err_r), daemon=True,
                             name=f"crossjit-fleet-{t.spec.name}").start()

    def _pump(self, t: _Target, out_fd: int, err_fd: int) -> None:
        proc = t.proc
        assert proc is not None
        r = t.result
        try:
            chunks: list[bytes] = []
            err = threading.Thread(target=self._lines, daemon=True,
                                   args=(t, "stderr", os.fdopen(err_fd, "rb"), None))
            err.start()
            self._lines(t, "stdout", os.fdopen(out_fd, "rb"), chunks)
            err.join()
            status = proc.wait()  # its output ended: it has exited or is about to
            r.stdout = b"".join(chunks)
            r.status = 128 - status if status < 0 else status
            r.compiled, r.generated = _built_by_child(t.timings)
            if self._stopping.is_set() and r.status in (130, 137, 143):
                r.error = (f"error: timed out after {self.timeout:g} s (stopped)"
                           if self._timed_out else "error: interrupted")
            elif status == EXIT_CROSSJIT_FAILURE:
                r.error = (_last_error(t.stderr_tail)
                           or f"error: crossjit ended with status {status}")
        except Exception as exc:  # a bug must not take the other targets down
            r.error = f"error: {type(exc).__name__}: {exc}"
        finally:
            r.wall_s = time.monotonic() - t.started
            self._events.put(r)

    def _lines(self, t: _Target, stream: str, f: IO[bytes], keep: list[bytes] | None) -> None:
        with f:
            for raw in iter(f.readline, b""):
                if keep is not None:
                    keep.append(raw)
                text = raw.decode("utf-8", "replace").rstrip("\n")
                if stream == "stderr":
                    t.stderr_tail = [*t.stderr_tail[-40:], text]
                self._events.put(Line(t.result.target, stream, text))

    def _drain(self, start: float, limit: float | None = None) -> None:
        pending = {t.result.target for t in self.targets}
        while pending:
            now = time.monotonic()
            if limit is not None and now - start > limit:
                return
            if self.timeout is not None and now - start > self.timeout and \
                    not self._stopping.is_set():
                self._timed_out = True
                self._stop(interrupted=False)
            try:
                ev = self._events.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(ev, Result):
                pending.discard(ev.target)
            self.emit(ev)

    def _stop(self, *, interrupted: bool) -> None:
        """Stop every target still running, each by its process group: SIGINT on Ctrl-C
        (what a terminal sends), SIGTERM (crossjit cleans up as for Ctrl-C), SIGKILL."""
        self._stopping.set()
        live = [t.proc for t in self.targets if t.proc is not None and t.proc.poll() is None]
        everyone = live
        first = signal.SIGINT if interrupted else signal.SIGTERM
        for sig, grace in ((first, INTERRUPT_GRACE_S if interrupted else STOP_GRACE_S),
                           (signal.SIGTERM, STOP_GRACE_S)):
            live = [p for p in live if p.poll() is None]
            for p in live:
                with contextlib.suppress(OSError):
                    os.killpg(p.pid, sig)
            _wait_all(live, grace)
        for p in everyone:  # also what is left of a group whose crossjit has ended
            with contextlib.suppress(OSError):
                os.killpg(p.pid, signal.SIGKILL)


def _warm_up() -> None:
    """Import what every target's run imports (linker, ORC client, target kinds: ~0.2 s
    of CPU), once, while the probes run: children forked afterwards start with it."""
    import crossjit.orc.client
    import crossjit.run.loader
    import crossjit.run.spares
    import crossjit.targets.executors
    import crossjit.targets.soname
    import crossjit.targets.ssh  # noqa: F401


def _built_by_child(timings: Path | None) -> tuple[int | None, int | None]:
    """(compiled, generated) from the child's CROSSJIT_TIMINGS file: 0 and 0 when it
    found every object of the fleet's build in the cache."""
    if timings is None or not timings.is_file():
        return None, None
    try:
        steps = json.loads(timings.read_text())["steps"]
        return (sum(1 for s in steps if s["compiled"]), sum(1 for s in steps if s["generated"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


def _wait_all(procs: Sequence[Child], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(max(0.0, deadline - time.monotonic()))


def _last_error(lines: Sequence[str]) -> str | None:
    """The child's error paragraph: from its last ``error:`` line to the end."""
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("error:"):
            return "\n".join(lines[i:]).strip()
    return None


# --- comparing ------------------------------------------------------------------------------


def compare(report: Report) -> None:
    """Mark each target that ran as agreeing or not with the reference: the majority's
    (stdout, exit status), ties going to the earliest target; unified diffs for the others."""
    import difflib

    ran = [r for r in report.results if not r.failed]
    if not ran:
        return
    votes = Counter((r.stdout, r.status) for r in ran)
    best = max(votes.values())
    ref = next(r for r in ran if votes[(r.stdout, r.status)] == best)
    report.reference = ref.target
    for r in ran:
        r.agrees = (r.stdout, r.status) == (ref.stdout, ref.status)
        if r.agrees:
            continue
        lines = list(difflib.unified_diff(
            ref.stdout.decode("utf-8", "replace").splitlines(keepends=True),
            r.stdout.decode("utf-8", "replace").splitlines(keepends=True),
            fromfile=f"{ref.target} (reference)", tofile=r.target))
        text = "".join(ln if ln.endswith("\n") else ln + "\n\\ No newline at end of file\n"
                       for ln in lines)
        if r.status != ref.status:
            text += f"exit status: {ref.target} {ref.status}, {r.target} {r.status}\n"
        r.diff = text


def check_options(*, watch: bool, executor: str | None, keep: bool) -> None:
    if watch:
        raise NotSupportedError("run --watch on a fleet is not supported yet",
                                hint="pick one target with -e TARGET, or leave out --watch")
    if executor is not None:
        raise UsageError("-e/--executor and --on choose targets both",
                         hint="list every target in --on (e.g. --on local,docker:musl)")
    if keep:
        raise NotSupportedError("--keep on a fleet is not supported yet",
                                hint="start containers with `crossjit executor up`; a fleet "
                                "uses running ones")


def summary_rows(report: Report) -> list[tuple[str, str, str, str]]:
    """(target, triple, status, wall time) for the table at the end."""
    rows = []
    for r in report.results:
        status = r.outcome
        if r.agrees is not None:
            status += ", agrees" if r.agrees else ", DIFFERS"
        rows.append((r.target, r.triple or "?", status, f"{r.wall_s:.2f} s"))
    return rows

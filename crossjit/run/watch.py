"""`crossjit run PROFILE --watch`: stay resident, rebuild on every saved change, swap programs.

An edit then costs only what it must: the changed sources' compile and codegen (the
caches skip the rest), one link, and the load into a *spare* executor session that was
opened (``docker exec`` + Setup handshake) in the background after the previous swap.
Python's start-up, the profile's imports and the session set-up are off the path.

Order of a swap: load the new program into the spare, *then* kill the old program's
executor processes and wait until they are gone (their sockets, the listening port
too, are closed by then), then start the new program — so it can bind the same port.
``run_as_main`` cannot be interrupted over the wire, so killing the session's executor
is the only way to stop a program; its worker thread sees the disconnect and treats
it as the expected end. See docs/watch.md.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import TYPE_CHECKING

from crossjit import records
from crossjit.compile import build as _build
from crossjit.compile import codegen, toolchain
from crossjit.errors import (
    CrossjitError,
    ExecutorDisconnected,
    ExecutorTimeout,
    LinkError,
    Progress,
    UsageError,
    quiet,
)
from crossjit.orc.client import OrcClient
from crossjit.project.plan import RunPlan, local_executor_for
from crossjit.records import field, record
from crossjit.run import loader, session
from crossjit.run.live import LiveProgram, LiveRefusal, refusal_line, refusal_paragraph
from crossjit.targets import procfs

if TYPE_CHECKING:
    from crossjit.targets.base import Place as BasePlace
    from crossjit.targets.base import Target

Event = dict[str, object]  # one --json event (docs/watch.md#json-events)
Events = Callable[[Event], None]

POLL_S = 0.005  # mtime polling: ≤5 ms to notice a save; a few stat()s (~20 µs) per poll
STOP_DEADLINE_S = 10.0  # for a killed executor to be gone
SPARE_DEADLINE_S = 60.0  # for a spare session to open (a container's docker exec + Setup)


# --- watched files ------------------------------------------------------------------------

Signature = tuple[int, int, int] | None  # (mtime_ns, size, inode); None: missing


def signature(path: Path) -> Signature:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)  # inode: editors that save by rename


class WatchedFiles:
    """Paths and the signatures they had when the running build read them.

    Polling, not inotify: it needs no dependency, survives editors that replace files
    (rename) or delete and recreate them, and costs a few stat() calls per poll.
    """

    def __init__(self) -> None:
        self._sigs: dict[Path, Signature] = {}

    @property
    def paths(self) -> set[Path]:
        return set(self._sigs)

    def snapshot(self) -> dict[Path, Signature]:
        """Signatures now: taken *before* a build, so edits during it are not lost."""
        return {p: signature(p) for p in self._sigs}

    def set(self, paths: Iterable[Path], before: dict[Path, Signature]) -> None:
        self._sigs = {p: before[p] if p in before else signature(p) for p in paths}

    def changed(self) -> list[Path]:
        return [p for p, s in self._sigs.items() if signature(p) != s]


def inputs_of(profile: Path, plan_inputs: Sequence[Path], built: _build.BuildResult | None,
              sysroot: Path | None) -> set[Path]:
    """What a build read that the user may edit: the profile, its inputs, and the headers
    of each compile except the sysroot's (rebuilt only by `sysroot build`, which a
    profile change triggers anyway)."""
    paths = {profile.resolve(), *(p.resolve() for p in plan_inputs)}
    for step in built.steps if built is not None else ():
        paths.update(h for h in step.headers
                     if sysroot is None or not h.is_relative_to(sysroot))
    return paths


# --- executor sessions --------------------------------------------------------------------


@record(eq=False)
class Slot:
    """One executor session: the client, the executor processes behind it, and (once
    loaded) the program and the worker thread that runs it."""

    client: OrcClient
    pids: tuple[int, ...]
    closer: Callable[[], object]
    program: loader.LoadedProgram | None = None
    live: LiveProgram | None = None  # --live: what reloads patch (run/live.py)
    thread: threading.Thread | None = None
    stopping: bool = False  # set before we kill it: the disconnect is then expected
    _pidfds: list[int] = field(default_factory=list)
    _closed: bool = False

    def __post_init__(self) -> None:
        # pidfds: signalling and waiting cannot hit a reused pid, and poll() says when
        # the process has exited (its files, sockets included, are closed by then).
        for pid in self.pids:
            with contextlib.suppress(OSError, AttributeError):
                self._pidfds.append(os.pidfd_open(pid))

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def kill(self, deadline_s: float = STOP_DEADLINE_S) -> bool:
        """Kill the executor processes and wait until they are gone; False at the deadline."""
        self.stopping = True
        end = time.monotonic() + deadline_s
        if len(self._pidfds) == len(self.pids):
            for fd in self._pidfds:
                with contextlib.suppress(OSError):
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
            poller = select.poll()
            for fd in self._pidfds:
                poller.register(fd, select.POLLIN)
            pending = set(self._pidfds)
            while pending:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                for fd, _ev in poller.poll(max(1, int(left * 1000))):
                    pending.discard(fd)
                    poller.unregister(fd)
            return True
        for pid in self.pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        while not all(procfs.gone(pid) for pid in self.pids):
            if time.monotonic() > end:
                return False
            time.sleep(0.001)
        return True

    def close(self) -> None:
        """Hang up and clean up the session (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.closer()
        finally:
            for fd in self._pidfds:
                with contextlib.suppress(OSError):
                    os.close(fd)


def open_on_target(target: Target, triple: str | None,
                   stdin: int | None = subprocess.DEVNULL) -> Slot:
    """A fresh session on a target (targets.base). Its stdin is /dev/null unless
    ``stdin`` says otherwise; killing its local processes (``local_pids``: the executor,
    a container session's processes, the session's ssh or ``docker exec`` relay) ends
    the executor wherever it runs."""
    stack = contextlib.ExitStack()
    try:
        client = stack.enter_context(target.session(triple=triple, stdin=stdin))
        pids = target.local_pids(client)
    except BaseException:
        stack.close()
        raise
    return Slot(client, pids, stack.close)


@record(frozen=True)
class Place:
    """Where sessions open: a target (targets.base) — a spawn, a container, an SSH device
    (the object keeps what it learnt about the device from one reload to the next).
    Places compare by ``spec``, the code's ``triple`` and ``key`` (what else the sessions
    are made with); ``own``: the profile's own container, which this run may start."""

    spec: str
    target: Target = field(compare=False)
    triple: str | None = None
    key: tuple[object, ...] = ()
    own: BasePlace | None = field(default=None, compare=False)
    container: str | None = None  # the own container's name, for messages

    def open(self) -> Slot:
        """A fresh session. Its stdin is /dev/null where the session's carrier (`docker
        exec -i`, ssh) would copy the terminal away from the running program as soon as
        it opens; a spawned executor keeps crossjit's, as with `run`."""
        stdin = subprocess.DEVNULL if self.target.reads_stdin_ahead else None
        return open_on_target(self.target, self.triple, stdin=stdin)


def place_of(run: session.ProfileRun, say: Progress | None) -> Place:
    plan = run.plan
    if plan.executor.profile_container:
        own = session.profile_target(run.profile, run.mounts)
        return Place(spec=own.spec, target=own, key=(own.config,), own=own,
                     container=own.name)
    spec = plan.executor.spec
    if spec is None:
        spec = local_executor_for(plan.build.target)
        if say:
            say(f"profile {plan.name} has no container executor: running it on this host "
                f"({spec or 'the default LLVM executor'})")
    target = session.target_for(records.replace(plan.executor, spec=spec))
    if not target.fresh_sessions:
        raise UsageError(
            f"--watch cannot use the executor {target.spec}",
            why="it opens a fresh session for every reload, which a tcp: executor cannot give",
            hint="use spawn:PATH, docker:VARIANT or the profile's container executor",
        )
    return Place(spec=target.spec, target=target, triple=plan.build.target,
                 key=(plan.executor.env, plan.executor.workdir))


# --- the loop -----------------------------------------------------------------------------


@record
class Phases:
    """Wall times of one reload, for its report line (perf_counter seconds)."""

    t0: float
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        self.marks[name] = time.perf_counter()

    def ms(self, built: _build.BuildResult) -> dict[str, float]:
        """Each phase in milliseconds (the report line's and the --json event's)."""
        m = self.marks
        compile_s = sum(s.compile_s for s in built.steps if s.compiled)
        codegen_s = sum(s.codegen_s for s in built.steps if s.generated)
        other = max(0.0, m["built"] - self.t0 - compile_s - codegen_s)
        seconds = {"total": m["started"] - self.t0, "compile": compile_s, "codegen": codegen_s,
                   "other_build": other, "link": m["linked"] - m["built"],
                   "load": m["loaded"] - m["linked"], "stop": m["stopped"] - m["loaded"],
                   "start": m["started"] - m["stopped"]}
        return {k: round(v * 1000, 1) for k, v in seconds.items()}

    def line(self, built: _build.BuildResult) -> str:
        p = {k: f"{v:.0f}" for k, v in self.ms(built).items()}
        return (f"{p['total']} ms (compile {p['compile']}, codegen {p['codegen']}, other build "
                f"{p['other_build']}, link {p['link']}, load {p['load']}, stop {p['stop']}, "
                f"start {p['start']})")


def _names(paths: Sequence[Path]) -> str:
    first = paths[0].name
    return first if len(paths) == 1 else f"{first} and {len(paths) - 1} more"


class Watcher:
    def __init__(self, profile: Path, args: tuple[str, ...] | None, executor: str | None,
                 keep: bool, say: Progress, progress: Progress | None,
                 live: bool = False, events: Events | None = None) -> None:
        self.profile, self.args, self.executor, self.keep = profile, args, executor, keep
        self.live = live  # --live (the profile's `live: true` is read at each prepare)
        self.profile_changed = False  # in the change being handled: no live reload
        self.say, self.progress = say, progress
        self.note: Progress = lambda msg: say(f"crossjit: {msg}")
        self._events = events  # --json: one object per reload, refusal, error, exit
        self.changed: list[Path] = []  # the saved files the change being handled is about
        self.fallback: str | None = None  # why the change being handled restarts (--live)
        self.files = WatchedFiles()
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="crossjit-session")
        self.place: Place | None = None
        self.started: BasePlace | None = None  # the container this run started
        self.spare: Future[Slot] | None = None
        self.current: Slot | None = None
        self.identity: tuple[object, ...] | None = None  # what the current program is
        self.slots: list[Slot] = []  # every slot a worker thread ran in

    # ---- the loop ---------------------------------------------------------------------
    def run(self) -> int:
        """Build, run, then rebuild on every change until interrupted (Ctrl-C, SIGTERM)."""
        try:
            t0 = time.perf_counter()
            # A resident clang and code generator for the edits (compile/resident.py,
            # codegen.py): started beside the first build, which execs clang until then.
            self.pool.submit(self._start_resident)
            # Failures before the first build (bad profile, no executor) end the run.
            prepared = self._prepare()
            self._use_place(place_of(prepared, self.note))
            self.changed, self.fallback = [], None
            self._reload(prepared, {}, Phases(t0), "started")
            while True:
                time.sleep(POLL_S)
                changed = self.files.changed()
                if changed:
                    self._on_change(changed)
        finally:
            self.close()

    def _start_resident(self) -> None:
        codegen.start_worker()  # one forked code generator for every edit (codegen.py)
        try:
            if not toolchain.start_resident() and self.progress:
                self.progress("no resident clang here: every compile starts clang")
        except CrossjitError:
            pass  # no compiler: the first build says so

    def _prepare(self) -> session.ProfileRun:
        run = session.prepare_profile(self.profile, self.args, self.executor, self.progress,
                                      build_sysroot=self.note)
        if self.live and not run.plan.build.live:
            plan = records.replace(
                run.plan, build=records.replace(run.plan.build, live=True))
            run = records.replace(run, plan=plan)
        return run

    def emit(self, event: str, **fields: object) -> None:
        """A --json event (nothing without --json)."""
        if self._events is not None:
            self._events({"event": event, **fields})

    def _on_change(self, changed: list[Path]) -> None:
        t0 = time.perf_counter()
        self.changed, self.fallback = changed, None
        self.profile_changed = self.profile.resolve() in {p.resolve() for p in changed}
        before = self.files.snapshot()
        try:
            prepared = self._prepare()
            self._use_place(place_of(prepared, None))
        except CrossjitError as err:
            self.files.set(before, before)
            self._failed(err)
            return
        self._reload(prepared, before, Phases(t0), f"{_names(changed)}: reloaded")

    def _failed(self, err: CrossjitError) -> None:
        if self.files.changed():
            return  # the user saved again meanwhile: the next round reports on that
        self.say(err.render())
        self.note("the previous program keeps running" if self.running
                  else "waiting for changes")
        self.emit("error", files=[str(p) for p in self.changed], message=err.render(),
                  running=self.running)

    @property
    def running(self) -> bool:
        return self.current is not None and self.current.running

    def _reload(self, prepared: session.ProfileRun, before: dict[Path, Signature],
                phases: Phases, verb: str) -> None:
        plan = prepared.plan
        target = self._place().target
        if target is not None:  # by SONAME, against the target's own libraries (once)
            try:
                plan = records.replace(plan, dlopen=target.resolve_libraries(plan.dlopen))
            except CrossjitError as err:
                self._failed(err)
                return
        sysroot = plan.build.sysroot.resolve() if plan.build.sysroot else None
        try:
            built = _build.build(plan.inputs, plan.build, self.progress)
        except CrossjitError as err:
            self.files.set(self.files.paths | inputs_of(self.profile, plan.inputs, None, sysroot),
                           before)
            self._failed(err)
            return
        phases.mark("built")
        self.files.set(inputs_of(self.profile, plan.inputs, built, sysroot), before)
        if self.files.changed():
            return  # superseded while it built: build the newer state instead
        objects = session.program_objects(plan, built)
        argv = [plan.name, *plan.args]
        identity = (tuple(o.data for o in objects), tuple(argv), plan.dlopen)
        if identity == self.identity and self.running:
            self.note("no change to the program; it keeps running")
            self.emit("unchanged", files=[str(p) for p in self.changed])
            return
        if self._live_reload(plan, built, objects, identity, phases):
            return
        try:
            slot = self._take_spare()
            program = self._load(slot, plan, built, objects, phases)
        except CrossjitError as err:
            self._failed(err)
            return
        self._stop_current()
        phases.mark("stopped")
        self._start(slot, program, argv, identity)
        phases.mark("started")
        self.spare = self.pool.submit(self._place().open)  # off the path of the next edit
        self.note(f"{verb} in {phases.line(built)}")
        self.emit("started" if not self.changed else "restarted",
                  files=[str(p) for p in self.changed], live=plan.build.live,
                  reason=self.fallback, ms=phases.ms(built))

    def _live_reload(self, plan: RunPlan, built: _build.BuildResult,
                     objects: list[_build.ObjectFile], identity: tuple[object, ...],
                     phases: Phases) -> bool:
        """--live: patch the running program; False when it must restart instead."""
        slot = self.current
        if slot is None or slot.live is None or not self.running or not plan.build.live:
            return False
        assert self.identity is not None
        try:
            if self.profile_changed:
                raise LiveRefusal("the profile changed (its flags, sources or settings may "
                                  "no longer match the running program)")
            if identity[1:] != self.identity[1:]:
                raise LiveRefusal("the program's arguments or dlopen list changed")
            report = slot.live.reload(objects)
        except LiveRefusal as err:
            self.fallback = refusal_paragraph(err)
            self.note(self.fallback)
            self.emit("refused", files=[str(p) for p in self.changed], reason=err.what,
                      why=err.why, unit=err.obj or None, symbol=err.symbol or None,
                      line=refusal_line(err), message=self.fallback)
            return False
        except LinkError as err:
            # The program's own link error (an undefined symbol...): a restart would fail
            # the same way, so report it like a compile error; the program keeps running.
            self._failed(err)
            return True
        except CrossjitError as err:
            self.say(err.render())
            self.note("the live reload failed; restarting (state lost)")
            self.fallback = f"the live reload failed: {err.what}"
            self.emit("live_failed", files=[str(p) for p in self.changed],
                      reason=self.fallback, message=err.render())
            return False
        except Exception as exc:  # a bug of ours must not end the watch with a traceback
            self.note(f"the live reload failed ({type(exc).__name__}: {exc}); "
                      "restarting (state lost)")
            self.fallback = f"the live reload failed ({type(exc).__name__}: {exc})"
            self.emit("live_failed", files=[str(p) for p in self.changed],
                      reason=self.fallback, message=self.fallback)
            return False
        self.identity = identity
        total = (time.perf_counter() - phases.t0) * 1000
        if report is None:
            self.note("no change to the program; it keeps running")
            self.emit("unchanged", files=[str(p) for p in self.changed])
        else:
            build_ms = (phases.marks["built"] - phases.t0) * 1000
            self.note(f"{report.line(total)} (build {build_ms:.0f}, patch {report.ms:.0f}; "
                      f"{slot.live.patch_bytes} bytes of patches mapped, "
                      f"{slot.live.retired_bytes} bytes of old code retired)")
            self.emit("reloaded", files=[str(p) for p in self.changed],
                      units=list(report.files), functions=report.replaced,
                      new_functions=report.new_functions, variables_kept=report.kept,
                      new_variables=report.new_variables, deferred=report.deferred,
                      ms={"total": round(total, 1), "build": round(build_ms, 1),
                          "compile": round(1000 * sum(s.compile_s for s in built.steps
                                                      if s.compiled), 1),
                          "codegen": round(1000 * sum(s.codegen_s for s in built.steps
                                                      if s.generated), 1),
                          "patch": round(report.ms, 1), **{
                              f"patch_{k}": v for k, v in report.phases.items()}},
                      patch_bytes=report.patch_bytes,
                      patches_mapped_bytes=slot.live.patch_bytes,
                      retired_bytes=slot.live.retired_bytes)
        return True

    # ---- sessions ---------------------------------------------------------------------
    def _place(self) -> Place:
        assert self.place is not None
        return self.place

    def _take_spare(self) -> Slot:
        fut, self.spare = self.spare, None
        if fut is None:
            fut = self.pool.submit(self._place().open)
        try:
            return fut.result(timeout=SPARE_DEADLINE_S)
        except FutureTimeout:
            self._retire(fut)
            raise ExecutorTimeout(
                f"no executor session opened within {SPARE_DEADLINE_S:.0f} s") from None

    def _load(self, slot: Slot, plan: RunPlan, built: _build.BuildResult,
              objects: list[_build.ObjectFile], phases: Phases) -> loader.LoadedProgram:
        def linked(msg: str) -> None:  # the loader says "loading N bytes" after the link
            phases.mark("linked")
            if self.progress:
                self.progress(msg)

        try:
            session.check_target(plan.build.target, slot.client.info.triple)
            program = session.load_plan(slot.client, plan, built, objects, progress=linked,
                                        warn=self.progress)
        except BaseException:
            # A failed load leaves reservations behind: a fresh spare instead.
            self.pool.submit(slot.close)
            self.spare = self.pool.submit(self._place().open)
            raise
        phases.mark("loaded")
        if plan.build.live:
            slot.live = LiveProgram.start(
                slot.client, program, objects, plan.dlopen,
                loader.implicit_libraries(plan.build.target, built.has_cxx))
        return program

    def _start(self, slot: Slot, program: loader.LoadedProgram, argv: list[str],
               identity: tuple[object, ...]) -> None:
        slot.program = program
        slot.thread = threading.Thread(target=self._serve, args=(slot, argv), daemon=True,
                                       name="crossjit-program")
        self.slots.append(slot)
        slot.thread.start()
        self.current, self.identity = slot, identity

    def _serve(self, slot: Slot, argv: list[str]) -> None:
        """Worker thread: run the program; report how it ended unless we ended it."""
        assert slot.program is not None
        try:
            outcome = session.run_loaded(slot.client, slot.program, argv)
        except ExecutorDisconnected as exc:
            if slot.stopping:
                pass
            elif exc.signal is not None or exc.exit_status is not None:
                # The program ended the executor process (exit() from a library...).
                status = session.ended_executor(exc, self.note)
                self.note(f"program exited with status {status}; waiting for changes")
                self.emit("exited", status=status, signal=exc.signal)
            else:
                self.note(f"the executor ended while running the program ({exc.what});"
                         " waiting for changes")
                self.emit("exited", status=None, signal=None, message=exc.what)
        except CrossjitError as err:
            if not slot.stopping:
                self.say(err.render())
        else:
            if not slot.stopping:
                crash = None
                if outcome.signal is not None:
                    where = (slot.live.program_at(outcome.fault_pc) if slot.live is not None
                             else slot.program)
                    crash = session.describe_crash(outcome, where)
                    self.note(crash)
                self.note(f"program exited with status {outcome.status}; "
                         "waiting for changes")
                self.emit("exited", status=outcome.status, signal=outcome.signal,
                          crash=crash)
        finally:
            with contextlib.suppress(Exception):
                slot.close()

    def _stop_current(self) -> None:
        slot, self.current = self.current, None
        if slot is None:
            return
        slot.stopping = True
        if slot.running and not slot.kill():
            self.note(f"the previous program's executor (pid {slot.pids}) did not "
                     f"exit within {STOP_DEADLINE_S:.0f} s")

    def _retire(self, fut: Future[Slot]) -> None:
        """Close a spare once it has opened (in the pool: closing waits for processes)."""
        def close_when_open() -> None:
            with contextlib.suppress(Exception):
                fut.result().close()

        self.pool.submit(close_when_open)

    def _use_place(self, place: Place) -> None:
        """Sessions open in ``place`` from now on; (re)start the profile's container if it
        is not running, or if this run started it and its settings changed."""
        if place == self.place:
            return
        old, self.place = self.place, place
        self._stop_current()
        if self.spare is not None:
            self._retire(self.spare)
            self.spare = None
        if self.started is not None and self.started.spec != place.spec:
            self._join_workers()
            if not self.keep:
                self.started.down()
            self.started = None
        if place.own is not None:
            report = self.progress or quiet
            if self.started is not None:  # the same container, with other settings
                self._join_workers()
                self.note(f"restarting {place.container} with the profile's new "
                         "executor settings")
                place.own.up(report)  # replaces the running one
                self.started = place.own
            elif not place.own.is_running():
                place.own.up(report)
                self.started = place.own
            elif old is not None:
                self.note(f"{place.container} was not started by this run and keeps "
                         "its settings; restart it: crossjit executor up --profile "
                         f"{self.profile}")
        self.spare = self.pool.submit(place.open)

    def _join_workers(self, timeout: float = STOP_DEADLINE_S) -> None:
        end = time.monotonic() + timeout
        for slot in self.slots:
            if slot.thread is not None:
                slot.thread.join(max(0.0, end - time.monotonic()))
        self.slots = [s for s in self.slots if s.running]

    def close(self) -> None:
        """Stop the program, close every session, remove a container this run started."""
        with contextlib.suppress(Exception):
            self._stop_current()
        if self.spare is not None:
            self._retire(self.spare)
            self.spare = None
        for slot in self.slots:  # Ctrl-C reached local executors too: no reports
            slot.stopping = True
        self._join_workers()
        self.pool.shutdown(wait=True, cancel_futures=False)
        toolchain.stop_resident()
        codegen.stop_worker()
        if self.started is not None and not self.keep:
            self.started.down()


def watch_profile(path: Path, args: tuple[str, ...] | None, *, executor: str | None = None,
                  keep: bool = False, say: Progress, progress: Progress | None = None,
                  live: bool = False, events: Events | None = None) -> int:
    """`crossjit run PROFILE --watch [--live] [--json]`; returns only by an exception
    (Ctrl-C, SIGTERM) or a failure before the first build. ``events``: --json's sink."""
    return Watcher(path, args, executor, keep, say, progress, live, events).run()

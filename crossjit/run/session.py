"""Execute a plan: connect → build → link → load → run → teardown.

Returns the program's exit status per design.md: main's return value, the status given
to exit(), or 128+N when signal N ended it (named on stderr).
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from crossjit import records
from crossjit.compile import build as _build
from crossjit.errors import (
    CrossjitError,
    ExecutorDisconnected,
    Progress,
    UsageError,
    signal_name,
)
from crossjit.project.plan import (
    ExecutorChoice,
    RunPlan,
    default_sysroot_for,
    is_foreign,
    local_executor_for,
)
from crossjit.records import record

if TYPE_CHECKING:  # the linker and the ORC client load only where a program is loaded
    from crossjit.orc.client import OrcClient
    from crossjit.project.profile import Profile
    from crossjit.run import loader
    from crossjit.targets.base import Target
    from crossjit.targets.container import Container


# Outcome kinds returned by runtime/crt.c's __crossjit_start as (kind << 8) | status.
OUT_RETURNED, OUT_EXITED, OUT_SIGNALLED = 0, 1, 2
START_SYMBOL = "__crossjit_start"
FAULT_SYMBOL = "__crossjit_fault"


@record(frozen=True)
class JitRequest:
    inputs: tuple[Path, ...]
    program_args: tuple[str, ...] = ()
    executor: str | None = None
    target: str | None = None
    opt_level: int = 0
    debug: bool = False
    include_dirs: tuple[Path, ...] = ()
    defines: tuple[str, ...] = ()
    dlopen: tuple[str, ...] = ()
    sysroot: Path | None = None
    program_name: str | None = None
    libs: tuple[str, ...] = ()  # -l NAME
    lib_dirs: tuple[Path, ...] = ()  # -L DIR


@record(frozen=True)
class Outcome:
    status: int  # what crossjit exits with
    kind: int
    signal: int | None = None
    fault_addr: int | None = None
    fault_pc: int | None = None



def check_target(triple: str, executor_triple: str) -> None:
    from crossjit import arch_name

    want, have = arch_name(triple), arch_name(executor_triple)
    if want != have:
        raise UsageError(
            f"target {triple} does not match the executor ({executor_triple})",
            hint="leave out --target to use the executor's own triple",
        )


# --- executors ----------------------------------------------------------------------------


def connect(spec: str | None, progress: Progress | None = None) -> OrcClient:
    """An executor given by a spawn:/tcp: spec (None: Debian's default LLVM executor)."""
    from crossjit.run.starting import Starting

    return Starting(spec).client(progress)


def target_for(choice: ExecutorChoice) -> Target:
    """The target behind a spec (targets/kinds.py): every kind answers the targets.base
    interface — local spawn (None: the default LLVM executor), tcp, a container (of this
    host's engine or a remote one's; a daemon's child takes its spare session there), an
    SSH device."""
    from crossjit.project.plan import docker_container
    from crossjit.targets.kinds import target_of

    if docker_container(choice.spec) is None:  # spares only matter to containers
        return target_of(choice)
    from crossjit.run import spares

    return target_of(choice, opener=spares.session)


@contextlib.contextmanager
def open_executor(spec: str | None, progress: Progress | None = None, *,
                  target: Target | None = None, triple: str | None = None,
                  ) -> Iterator[OrcClient]:
    """A session on any executor spec: spawn:, tcp:, docker:VARIANT (the container
    `executor up` started), ssh:HOST (``target``: its Target if made already;
    ``triple``: what code it must run)."""
    target = target or target_for(ExecutorChoice(spec=spec))
    with target.session(triple=triple, progress=progress) as client:
        yield client


def profile_target(profile: Profile, mounts: Sequence[tuple[Path, str]]) -> Container:
    """The profile's own container as a Target that may start it (``running``); a
    daemon's child takes the daemon's spare session there (run/spares.py), through the
    target's opener."""
    from crossjit.run import spares
    from crossjit.targets.container import config_of, profile_container

    return profile_container(config_of(profile, mounts), opener=spares.session,
                             ready=spares.ready)


@contextlib.contextmanager
def open_profile_container(profile: Profile, mounts: Sequence[tuple[Path, str]],
                           progress: Progress | None, keep: bool) -> Iterator[OrcClient]:
    """The profile's container; started (and afterwards removed) if it is not running
    (a live spare session of a daemon's child proves it runs)."""
    target = profile_target(profile, mounts)
    with target.running(progress, keep), target.session() as client:
        yield client


# --- timings (CROSSJIT_TIMINGS=FILE) -------------------------------------------------------

_MARKS: dict[str, float] = {}


def _mark(name: str) -> None:
    """Wall-clock mark of this run's phases; the first of a name counts."""
    if "CROSSJIT_TIMINGS" in os.environ:
        _MARKS.setdefault(name, time.time())


def _write_timings(built: _build.BuildResult) -> None:
    """Written just before main starts (a server's main may never return), for
    bench/edit_loop.py's breakdown: phase marks (time.time()) and per-input build times."""
    path = os.environ.get("CROSSJIT_TIMINGS")
    if not path:
        return
    import json

    steps = [{"input": str(st.input), "compiled": st.compiled, "generated": st.generated,
              "compile_s": st.compile_s, "codegen_s": st.codegen_s} for st in built.steps]
    Path(path).write_text(json.dumps({"marks": _MARKS, "steps": steps}))


# --- running ------------------------------------------------------------------------------


def run_loaded(client: OrcClient, program: loader.LoadedProgram, argv: Sequence[str]) -> Outcome:
    """Run __crossjit_start(argc, argv) and decode what happened."""
    raw = client.run_as_main(program.symbol(START_SYMBOL), list(argv))
    kind, status = (raw >> 8) & 0xFF, raw & 0xFF
    if kind != OUT_SIGNALLED:
        return Outcome(status, kind)
    fault = program.symbol(FAULT_SYMBOL)
    halves = [client.run_as_main(fault, ["x"] * n) & 0xFFFFFFFF for n in (1, 2, 3, 4)]
    addr, pc = halves[0] | halves[1] << 32, halves[2] | halves[3] << 32
    return Outcome(128 + status, kind, status, addr, pc)


def ended_executor(exc: ExecutorDisconnected, warn: Progress | None) -> int:
    """The executor process ended while the program ran: the program ended it (the C
    library's exit() from a library, _exit(), a signal it did not survive) or something
    killed it. Its status is what the native program's would have been."""
    if exc.lost:
        raise exc
    if exc.signal is not None:
        if warn:
            warn(f"program killed by {signal_name(exc.signal)} (with the executor process "
                 "running it)")
        return 128 + exc.signal
    if exc.exit_status is not None:
        status = exc.exit_status
        if exc.signal_as_status and 128 < status < 128 + 65 and warn:
            warn(f"the executor process ended with status {status}, as one killed by "
                 f"{signal_name(status - 128)} does")
        return status
    raise ExecutorDisconnected(
        "the executor process ended while the program ran, and this connection cannot "
        "tell its exit status",
        why=f"{exc.what}{': ' + exc.why if exc.why else ''}; the program probably ended "
        "the process itself (exit() from a library, _exit(), a signal)",
        hint="run it with a spawned executor (--executor spawn:PATH) or in a container "
        "(docker:VARIANT) to get the program's own exit status",
    ) from exc


def describe_crash(outcome: Outcome, program: loader.LoadedProgram) -> str:
    assert outcome.signal is not None
    where = ""
    if outcome.fault_pc:
        hit = program.image.symbol_at(outcome.fault_pc)
        where = f" in {hit[0]}" if hit else f" at pc {outcome.fault_pc:#x}"
        if hit:  # with -g: the source line from the object's DWARF line table
            from crossjit.run.dwarf import source_line

            line = source_line(program.image.debug_sections().get(hit[1], {}), outcome.fault_pc)
            where += f" ({line.short})" if line else ""
    addr = f" (fault address {outcome.fault_addr:#x})" if outcome.signal in (7, 11) else ""
    return f"program killed by {signal_name(outcome.signal)}{where}{addr}"


def program_objects(plan: RunPlan, built: _build.BuildResult) -> list[_build.ObjectFile]:
    """The built objects plus crossjit's runtime; with -g also runtime/jitdebug.c, which
    deregisters the debug objects at teardown."""
    objects = [*built.objects, _build.runtime_object(plan.build)]
    from crossjit.link.tls import has_tls_sections

    if any(has_tls_sections(o.data) for o in built.objects):  # only then: runtime/tls.c
        objects.append(_build.runtime_object(plan.build, "tls.c", "<crossjit tls>"))
    if plan.build.debug:
        objects.append(_build.runtime_object(plan.build, "jitdebug.c", "<crossjit jitdebug>"))
    return objects


def resident_object(plan: RunPlan) -> _build.ObjectFile:
    return _build.runtime_object(plan.build, "resident.c", "<crossjit resident>")


def load_plan(client: OrcClient, plan: RunPlan, built: _build.BuildResult,
              objects: Sequence[_build.ObjectFile], progress: Progress | None,
              warn: Progress | None, prepared: loader.Prepared | None = None,
              ) -> loader.LoadedProgram:
    """Link and load a built plan (the plan's libraries, debug objects with -g).
    ``prepared``: its link planned ahead (see ``prepare_load``)."""
    from crossjit.run import loader

    return loader.load(
        client, objects, dlopen=plan.dlopen,
        implicit=loader.implicit_libraries(plan.build.target, built.has_cxx),
        progress=progress, warn=warn, debug=plan.build.debug, live=plan.build.live,
        resident=resident_object(plan), prepared=prepared,
    )


def prepare_load(plan: RunPlan, built: _build.BuildResult, triple: str,
                 page_size: int) -> loader.Prepared:
    """The link of a built plan, planned for an executor expected to report ``triple``
    and ``page_size`` (load_plan checks, and plans again if it reports otherwise)."""
    from crossjit.run import loader

    return loader.prepare(program_objects(plan, built), triple=triple, page_size=page_size,
                          live=plan.build.live, resident=resident_object(plan))


def execute(client: OrcClient, plan: RunPlan, progress: Progress | None,
            warn: Progress | None, built: _build.BuildResult | None = None,
            prepared: loader.Prepared | None = None) -> int:
    """Build (unless ``built``), load and run a plan on a connected executor; the
    program's exit status. ``prepared``: the link of ``built`` planned ahead."""
    _mark("connected")
    triple = plan.build.target
    check_target(triple, client.info.triple)
    if built is None:
        built = _build.build(plan.inputs, plan.build, progress)
    _mark("built")

    def loading(msg: str) -> None:  # the loader says "loading N bytes" between link and finalize
        _mark("linked")
        if progress:
            progress(msg)

    objects = prepared.objects if prepared is not None else program_objects(plan, built)
    program = load_plan(client, plan, built, objects,
                        progress=loading if progress or _MARKS else None, warn=progress,
                        prepared=prepared)
    _mark("loaded")
    _write_timings(built)
    _collect_from_now()
    try:
        outcome = run_loaded(client, program, [plan.name, *plan.args])
    except ExecutorDisconnected as exc:
        return ended_executor(exc, warn)
    if outcome.signal is not None and warn:
        warn(describe_crash(outcome, program))
    from crossjit.run import loader

    loader.unload(client, program)
    return outcome.status


def _collect_from_now() -> None:
    """A cold `jit` runs without garbage collection up to here (cli/launcher.py). Frozen
    first: what it allocated is either still in use or one link's worth, and a first
    collection over all of it would compete with the program's start."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _libraries(req: JitRequest, sysroot: Path | None
               ) -> tuple[tuple[Path, ...], tuple[str, ...]]:
    """-l/-L: (archives to link, shared libraries to dlopen), see targets/libraries.py."""
    if not req.libs:
        return (), ()
    from crossjit.targets import libraries

    local = req.executor is None or req.executor.startswith("spawn")
    found = libraries.resolve(req.libs, req.lib_dirs, sysroot=sysroot, local=local)
    return tuple(found.archives), tuple(found.dlopen)


def run_jit(req: JitRequest, progress: Progress | None = None,
            warn: Progress | None = None, client: OrcClient | None = None) -> int:
    """``client``: an executor already connected (crossjit debug attaches a debugger to
    it first); closed at the end like one run_jit connects itself."""
    _mark("start")
    for p in req.inputs:
        _build.classify(p)  # bad inputs fail before an executor starts
    executor = req.executor
    if client is None and executor is None and req.target and is_foreign(req.target):
        # Another CPU (AArch64 on x86-64): the host's default executor cannot run it.
        executor = local_executor_for(req.target)
    from crossjit.targets.kinds import starts_directly

    if client is None and starts_directly(executor):
        return _jit_while_starting(req, executor, progress, warn)
    # (with ``client`` given, only for its libraries' names)
    device = target_for(ExecutorChoice(spec=executor))
    ctx = (contextlib.closing(client) if client is not None
           else open_executor(executor, progress, target=device, triple=req.target))
    with ctx as client:
        return execute(client, _jit_plan(req, req.target or client.info.triple, executor,
                                         device), progress, warn)


def _jit_while_starting(req: JitRequest, executor: str | None, progress: Progress | None,
                        warn: Progress | None) -> int:
    """spawn:/tcp: — the executor is started first; while it boots (qemu-user: ~40 ms)
    the load path's modules are imported and, when the target is known (--target, or
    what this executor reported last time: run/known.py), the build runs and the link
    is planned. Its Setup is read after; a guess it contradicts is redone."""
    from crossjit.run import starting as _starting

    with contextlib.closing(_starting.take(executor)) as starting:
        from crossjit.run import known, loader  # noqa: F401  (imports while it boots)

        guess = known.recall(starting.spec)
        plan = built = prepared = None
        if req.target:
            plan = _jit_plan(req, req.target, executor, None)
            built = _build.build(plan.inputs, plan.build, progress)
        if guess is not None:
            try:
                if plan is None:
                    plan = _jit_plan(req, guess[0], executor, None)
                    built = _build.build(plan.inputs, plan.build, progress)
                assert built is not None
                prepared = prepare_load(plan, built, *guess)
            except CrossjitError:  # a guess's failure is no answer: planned again below
                if not req.target:
                    plan = built = None
        client = starting.client(progress)
        info = client.info
        known.remember(starting.spec, info.triple, info.page_size)
        if plan is None or (not req.target and plan.build.target != info.triple):
            plan, built, prepared = _jit_plan(req, info.triple, executor, None), None, None
        return execute(client, plan, progress, warn, built, prepared)


def _jit_plan(req: JitRequest, triple: str, executor: str | None,
              device: Target | None) -> RunPlan:
    """``device``: resolves the libraries' names for its loader (None: as given)."""
    sysroot = req.sysroot if req.sysroot is not None else default_sysroot_for(triple)
    archives, shared = _libraries(req, sysroot)
    return RunPlan(
        name=req.program_name or (req.inputs[0].stem if req.inputs else "a.out"),
        inputs=(*req.inputs, *archives),
        build=_build.BuildOptions(
            target=triple, opt_level=req.opt_level,
            debug=req.debug, include_dirs=req.include_dirs, defines=req.defines,
            sysroot=sysroot,
        ),
        executor=ExecutorChoice(spec=executor),
        dlopen=(device.resolve_libraries((*req.dlopen, *shared)) if device
                else (*req.dlopen, *shared)),
        args=req.program_args,
    )


# --- profiles -----------------------------------------------------------------------------


@record(frozen=True)
class ProfileRun:
    plan: RunPlan
    profile: Profile
    mounts: tuple[tuple[Path, str], ...]


def ensure_sysroot(recipe: str, packages: Sequence[str], say: Progress,
                   arch: str | None = None) -> None:
    """Build a recipe sysroot that is missing or stale, so a first `crossjit run` works
    on a fresh machine (a *path* sysroot is the user's and still fails with its hint).
    ``arch``: the target's CPU (a triple will do); default this host's."""
    from crossjit.targets import sysroot

    why = sysroot.staleness(recipe, packages, arch)
    if why is None:
        return
    say(f"sysroot {sysroot.key_of(recipe, arch)} is not ready ({why}): building it "
        "(once; takes a few minutes)")
    sysroot.build(recipe, sysroot.rebuild_packages(recipe, packages, arch), progress=say,
                  arch=arch)


def prepare_profile(path: Path, args: tuple[str, ...] | None, executor: str | None,
                    progress: Progress | None,
                    build_sysroot: Progress | None = None,
                    triple: str | None = None) -> ProfileRun:
    """Load, fetch, resolve: everything a profile needs before an executor is involved.

    ``build_sysroot``: build a missing recipe sysroot (reporting there) instead of failing.
    ``triple``: build for this triple instead of the profile's (`run --target`); the
    profile's sysroot is for its own triple only, another one gets the default sysroot.
    """
    from crossjit.project.plan import plan_profile
    from crossjit.project.profile import load_profile
    from crossjit.project.sources import fetch_all, resolve
    from crossjit.targets import soname, sysroot

    profile = load_profile(path)
    fetched = fetch_all(profile, progress)
    paths = resolve(profile, fetched)
    root = None
    own_triple = triple is None or _same_triple(triple, profile.target.triple)
    if profile.sysroot is not None and own_triple:
        s = profile.sysroot
        # The profile's target CPU picks the recipe sysroot's (debian-musl-aarch64, ...).
        cpu = profile.target.triple
        if s.recipe is not None and build_sysroot is not None:
            ensure_sysroot(s.recipe, s.packages, build_sysroot, cpu)
        root = sysroot.resolve_profile_sysroot(s.recipe, s.path, s.packages, profile.base_dir,
                                               cpu)
    wanted = profile.executor.dlopen if profile.executor is not None else ()
    # Plain names (libz.so) become the SONAME the target really has (libz.so.1).
    dlopen = tuple(soname.resolve(root, lib).soname if root is not None else lib
                   for lib in wanted)
    plan = plan_profile(profile, sources=paths.sources, include_dirs=paths.include_dirs,
                        sysroot=root, dlopen=dlopen, args=args, executor_override=executor,
                        target_override=None if own_triple else triple)
    if profile.libs:
        from crossjit.targets import libraries

        spec = plan.executor.spec
        local = not plan.executor.profile_container and (spec is None or
                                                         spec.startswith("spawn"))
        libs = libraries.resolve(profile.libs, profile.lib_dir_paths, sysroot=root,
                                 local=local)
        plan = records.replace(plan, inputs=(*plan.inputs, *libs.archives),
                                   dlopen=(*plan.dlopen, *libs.dlopen))
    return ProfileRun(plan, profile, paths.mounts)


def _same_triple(a: str, b: str) -> bool:
    """x86_64-pc-linux-gnu is x86_64-linux-gnu: the vendor field changes nothing here."""
    def key(t: str) -> tuple[str, ...]:
        parts = t.split("-")
        return tuple(parts[:1] + parts[2:]) if len(parts) == 4 else tuple(parts)

    return key(a) == key(b)


def build_profile(path: Path, progress: Progress | None = None,
                  compile_commands: Path | None = None) -> _build.BuildResult:
    """Compile a profile's sources into the cache; with ``compile_commands`` (a file or a
    directory) first write their compile_commands.json there — before building, so an
    editor gets it even while a source does not compile yet."""
    run = prepare_profile(path, None, None, progress, build_sysroot=progress)
    if compile_commands is not None:
        from crossjit.compile import commands

        items = commands.entries(run.plan.inputs, run.plan.build, run.profile.base_dir)
        dest = commands.write(compile_commands, items)
        if progress:
            progress(f"wrote {dest} ({len(items)} entr{'ies' if len(items) != 1 else 'y'})")
    return _build.build(run.plan.inputs, run.plan.build, progress)


class _Opening:
    """A session context entered on a thread: ``docker exec`` + Setup (~0.15 s, mostly
    waiting on the docker CLI and the engine) overlaps the build (clang, llvmlite)."""

    def __init__(self, cm: contextlib.AbstractContextManager[OrcClient]) -> None:
        self._cm = cm
        self._client: OrcClient | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._enter, daemon=True,
                                        name="crossjit-open-session")
        self._thread.start()

    def _enter(self) -> None:
        try:
            self._client = self._cm.__enter__()
            _mark("connected")
        except BaseException as exc:  # re-raised where the session is waited for
            self._error = exc

    def wait(self) -> OrcClient:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._client is not None
        return self._client

    def close(self, exc: BaseException | None) -> None:
        self._thread.join()
        if self._error is None:
            self._cm.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)


def _overlapped(cm: contextlib.AbstractContextManager[OrcClient], plan: RunPlan,
                progress: Progress | None, warn: Progress | None) -> int:
    """``with cm as client: execute(client, plan)``, the build running while ``cm``
    opens. Errors come out as they did in sequence: the session's first."""
    opening = _Opening(cm)
    raised: BaseException | None = None
    try:
        try:
            built = _build.build(plan.inputs, plan.build, progress)
            _mark("built")
        except BaseException:
            opening.wait()  # a session that failed to open is what the user sees first
            raise
        return execute(opening.wait(), plan, progress, warn, built)
    except BaseException as exc:
        raised = exc
        raise
    finally:
        opening.close(raised)


def run_profile(path: Path, args: tuple[str, ...] | None, *, executor: str | None = None,
                keep: bool = False, progress: Progress | None = None,
                warn: Progress | None = None, triple: str | None = None) -> int:
    _mark("start")
    run = prepare_profile(path, args, executor, progress, build_sysroot=progress or warn,
                          triple=triple)
    _mark("prepared")
    plan = run.plan
    if plan.executor.profile_container:
        # (a daemon's child takes its spare session there: the target's opener; opening
        # it is instant, the overlap costs nothing then)
        return _overlapped(open_profile_container(run.profile, run.mounts, progress, keep),
                           plan, progress, warn)
    spec = plan.executor.spec
    if spec is None:
        spec = local_executor_for(plan.build.target)
        if warn and run.profile.executor is None:  # `executor: local` asked for this
            warn(f"profile {plan.name} has no container executor: running it on this host "
                 f"({spec or 'the default LLVM executor'})")
    target = target_for(records.replace(plan.executor, spec=spec))
    with open_executor(spec, progress, target=target, triple=plan.build.target) as client:
        # by SONAME, against the target's own libraries (an SSH device's)
        plan = records.replace(plan, dlopen=target.resolve_libraries(plan.dlopen))
        return execute(client, plan, progress, warn)

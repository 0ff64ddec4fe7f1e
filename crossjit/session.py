"""Execute a plan: connect → build → link → load → run → teardown.

Returns the program's exit status per design.md: main's return value, the status given
to exit(), or 128+N when signal N ended it (named on stderr).
"""

from __future__ import annotations

import signal as _signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from crossjit import build as _build
from crossjit import loader
from crossjit.errors import ExecutorDisconnected, UsageError
from crossjit.orc.client import OrcClient

Progress = Callable[[str], None]

# Outcome kinds returned by runtime/crt.c's __crossjit_start as (kind << 8) | status.
OUT_RETURNED, OUT_EXITED, OUT_SIGNALLED = 0, 1, 2
START_SYMBOL = "__crossjit_start"
FAULT_SYMBOL = "__crossjit_fault"


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Outcome:
    status: int  # what crossjit exits with
    kind: int
    signal: int | None = None
    fault_addr: int | None = None
    fault_pc: int | None = None


def signal_name(sig: int) -> str:
    try:
        return _signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def check_target(triple: str, executor_triple: str) -> None:
    want, have = loader.triple_arch(triple), loader.triple_arch(executor_triple)
    if want != have:
        raise UsageError(
            f"target {triple} does not match the executor ({executor_triple})",
            hint="leave out --target to use the executor's own triple",
        )


def connect(spec: str | None, progress: Progress | None = None) -> OrcClient:
    from crossjit.orc.client import ExecutorSpec, connect_executor

    parsed = ExecutorSpec.parse(spec) if spec else ExecutorSpec.default()
    client = connect_executor(parsed)
    if progress:
        info = client.info
        progress(f"executor {parsed}: {info.triple}, {info.dialect}")
    return client


def run_loaded(client: OrcClient, program: loader.LoadedProgram, argv: Sequence[str],
               warn: Progress | None) -> Outcome:
    """Run __crossjit_start(argc, argv) and decode what happened."""
    raw = client.run_as_main(program.symbol(START_SYMBOL), list(argv))
    kind, status = (raw >> 8) & 0xFF, raw & 0xFF
    if kind != OUT_SIGNALLED:
        return Outcome(status, kind)
    fault = program.symbol(FAULT_SYMBOL)
    halves = [client.run_as_main(fault, ["x"] * n) & 0xFFFFFFFF for n in (1, 2, 3, 4)]
    addr, pc = halves[0] | halves[1] << 32, halves[2] | halves[3] << 32
    return Outcome(128 + status, kind, status, addr, pc)


def describe_crash(outcome: Outcome, program: loader.LoadedProgram) -> str:
    assert outcome.signal is not None
    where = ""
    if outcome.fault_pc:
        hit = program.image.symbol_at(outcome.fault_pc)
        where = f" in {hit[0]}" if hit else f" at pc {outcome.fault_pc:#x}"
        if hit:  # with -g: the source line from the object's DWARF line table
            from crossjit.dwarf import source_line

            line = source_line(program.image.debug_sections().get(hit[1], {}), outcome.fault_pc)
            where += f" ({line.short})" if line else ""
    addr = f" (fault address {outcome.fault_addr:#x})" if outcome.signal in (7, 11) else ""
    return f"crossjit: program killed by {signal_name(outcome.signal)}{where}{addr}"


def run_jit(req: JitRequest, progress: Progress | None = None,
            warn: Progress | None = None, client: OrcClient | None = None) -> int:
    """``client``: an executor already connected (crossjit debug attaches a debugger to
    it first); closed at the end like one run_jit connects itself."""
    argv0 = req.program_name or (req.inputs[0].stem if req.inputs else "a.out")
    for p in req.inputs:
        _build.classify(p)
    if client is None:
        client = connect(req.executor, progress)
    with client:
        triple = req.target or client.info.triple
        check_target(triple, client.info.triple)
        opts = _build.BuildOptions(
            target=triple, opt_level=req.opt_level, debug=req.debug,
            include_dirs=req.include_dirs, defines=req.defines, sysroot=req.sysroot,
        )
        built = _build.build(req.inputs, opts, progress)
        objects = [*built.objects, _build.runtime_object(opts)]
        if req.debug:  # deregisters debug objects at teardown (runtime/jitdebug.c)
            objects.append(_build.runtime_object(opts, "jitdebug.c", "<crossjit jitdebug>"))
        program = loader.load(
            client, objects, dlopen=req.dlopen,
            implicit=loader.implicit_libraries(triple, built.has_cxx),
            progress=progress, warn=progress, debug=req.debug,
        )
        try:
            outcome = run_loaded(client, program, [argv0, *req.program_args], warn)
        except ExecutorDisconnected as exc:
            if exc.signal is not None:
                if warn:
                    warn(f"the executor was killed by {signal_name(exc.signal)} "
                         "while running the program")
                return 128 + exc.signal
            raise
        if outcome.signal is not None and warn:
            warn(describe_crash(outcome, program)[len("crossjit: "):])
        loader.unload(client, program)
    return outcome.status

"""Inputs → ELF relocatable objects for one target: compile and codegen, parallel and cached.

`.c`/`.cpp` go through clang to bitcode, `.ll`/`.bc` straight to codegen, `.o` are used
as they are. Every step reports what it did (`BuildStep`), so callers can show progress
and tests can assert what was recompiled.

Parallelism: ``jobs`` worker threads, each taking one input at a time through clang (a
child process) and then codegen (a forked child, codegen.isolated), so at most ``jobs``
children exist at once and peak memory is about ``jobs`` × the largest child plus the
objects built so far (docs/internals.md). Results keep the inputs' order.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from crossjit import records
from crossjit.compile import cache as cachedir
from crossjit.compile import codegen, toolchain
from crossjit.errors import CodegenError, CompileError, Progress, UsageError
from crossjit.records import field, record

#: Overrides the default job count (the CPUs this process may run on); `-j N` sets it.
JOBS_ENV = "CROSSJIT_JOBS"

IR_SUFFIXES = frozenset({".ll", ".bc"})
OBJECT_SUFFIXES = frozenset({".o"})
ARCHIVE_SUFFIXES = frozenset({".a"})  # static archives: the linker pulls members in


def default_jobs() -> int:
    """How many inputs to build at once: $CROSSJIT_JOBS, else the usable CPUs."""
    raw = os.environ.get(JOBS_ENV, "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise UsageError(f"{JOBS_ENV}={raw!r} is not a job count",
                             hint=f"set {JOBS_ENV} (or -j) to a whole number of at least 1")
        return int(raw)
    try:
        return len(os.sched_getaffinity(0)) or 1  # respects taskset/cgroup CPU sets
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@record(frozen=True)
class BuildOptions(toolchain.CompileOptions):
    """What clang needs (the inherited fields), plus code generation and parallelism."""

    cpu: str = ""
    features: str = ""
    jobs: int = field(default_factory=default_jobs)
    live: bool = False  # --live: per-function sections for the live linker (docs/watch.md)

    def codegen_options(self, path: Path | None = None) -> codegen.CodegenOptions:
        """``path``: the input; a fetched one is not built for live reload (is_fixed)."""
        live = self.live and not (path is not None and is_fixed(path))
        return codegen.CodegenOptions(self.target, self.opt_level, self.cpu, self.features,
                                      live=live)


def is_fixed(path: Path) -> bool:
    """A source fetched into crossjit's cache (a profile's `fetch:`, third-party code
    nobody edits there): with --live it is built and linked as without it — optimised
    whole, called directly — and not reloadable (docs/watch.md)."""
    try:
        return path.resolve().is_relative_to(cachedir.root() / "fetch")
    except OSError:
        return False


@record(frozen=True)
class BuildStep:
    input: Path
    compiled: bool  # clang ran (False: bitcode cache hit, or no compile needed)
    generated: bool  # llvmlite ran (False: object cache hit, or a .o input)
    compile_s: float = 0.0  # wall time of the compile step, cache lookup included
    codegen_s: float = 0.0  # likewise for codegen
    headers: tuple[Path, ...] = ()  # files a source's compile read besides itself


@record(frozen=True)
class ObjectFile:
    name: str  # for messages: the input it came from
    data: bytes


@record(frozen=True)
class BuildResult:
    objects: tuple[ObjectFile, ...]
    steps: tuple[BuildStep, ...]
    has_cxx: bool

    @property
    def compiled(self) -> list[Path]:
        return [s.input for s in self.steps if s.compiled]


def classify(path: Path) -> str:
    suffix = path.suffix
    if suffix in toolchain.SOURCE_SUFFIXES:
        return "source"
    if suffix in IR_SUFFIXES:
        return "ir"
    if suffix in OBJECT_SUFFIXES:
        return "object"
    if suffix in ARCHIVE_SUFFIXES:
        return "archive"
    raise UsageError(
        f"don't know what to do with {path}",
        why=f"unknown input suffix {suffix or '(none)'}",
        hint="inputs are C/C++ sources (.c .cc .cpp .cxx), LLVM IR (.ll .bc), ELF objects "
        "(.o) or static archives (.a)",
    )


def _one(path: Path, opts: BuildOptions, compiler: toolchain.Compiler | None) -> tuple[
        ObjectFile, BuildStep]:
    kind = classify(path)
    if kind in ("object", "archive"):
        try:
            return ObjectFile(str(path), path.read_bytes()), BuildStep(path, False, False)
        except OSError as exc:
            raise UsageError(f"cannot read {path}", why=exc.strerror) from exc
    compiled = False
    ir = path
    headers: tuple[Path, ...] = ()
    t0 = time.perf_counter()
    if kind == "source":
        assert compiler is not None
        res = toolchain.compile_to_bitcode(path, opts, compiler,
                                           on_compile=codegen.warm_up_soon)
        ir, compiled, headers = res.bitcode, not res.cached, res.headers
    t1 = time.perf_counter()
    # No lock: each codegen runs in its own forked child (codegen.isolated), so several
    # run at once, each with its own LLVM context.
    data, hit = codegen.object_for(ir, opts.codegen_options(path), str(path))
    step = BuildStep(path, compiled, not hit, t1 - t0, time.perf_counter() - t1, headers)
    return ObjectFile(str(path), data), step


def build(inputs: Sequence[Path], opts: BuildOptions, progress: Progress | None = None,
          ) -> BuildResult:
    """Build every input, ``opts.jobs`` at a time; all failures are reported together."""
    kinds = [classify(p) for p in inputs]  # bad suffixes fail before any work starts
    if opts.live:  # crossjit.h (crossjit_reload_point) for live builds
        opts = records.replace(opts, include_dirs=(*opts.include_dirs, runtime_include()))
    for p in inputs:
        if not p.exists():
            raise UsageError(f"input {p} does not exist")
    compiler = toolchain.find_compiler() if "source" in kinds else None
    sources = sum(1 for k in kinds if k not in ("object", "archive"))
    if progress and sources:
        progress(f"building {sources} input{'s' if sources != 1 else ''} for {opts.target}")
    done = 0
    lock = threading.Lock()

    def task(p: Path) -> tuple[ObjectFile, BuildStep]:
        nonlocal done
        result = _one(p, opts, compiler)
        with lock:
            done += 1
            if progress and (result[1].compiled or result[1].generated):
                progress(f"[{done}/{len(inputs)}] {p}")
        return result

    def attempt(p: Path) -> tuple[ObjectFile, BuildStep] | CompileError | CodegenError:
        try:
            return task(p)
        except (CompileError, CodegenError) as exc:  # collected: every failure is reported
            return exc

    results: list[tuple[ObjectFile, BuildStep] | CompileError | CodegenError]
    if sources <= 1:  # nothing to overlap: no thread pool (its import alone is ~10 ms)
        results = [attempt(p) for p in inputs]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
            results = list(pool.map(attempt, inputs))
    errors = [r for r in results if isinstance(r, (CompileError, CodegenError))]
    if len(errors) == 1:
        raise errors[0]
    if errors:
        classes = {type(e) for e in errors}
        codegen_only = classes == {CodegenError}
        step = ("generate code" if codegen_only else
                "compile" if CodegenError not in classes else "build")
        raise (CodegenError if codegen_only else CompileError)(
            f"{len(errors)} inputs failed to {step}",
            why="\n\n".join(f"{e.what}\n{e.why or ''}".rstrip() for e in errors),
        )
    ok = [r for r in results if not isinstance(r, (CompileError, CodegenError))]
    return BuildResult(
        objects=tuple(o for o, _ in ok),
        steps=tuple(s for _, s in ok),
        has_cxx=any(toolchain.is_cxx(p) for p in inputs),
    )


# crossjit's runtime sources, beside the package's modules (not importlib.resources:
# ~7 ms of imports on every cold start, for a package that is never zipped).
RUNTIME = Path(__file__).resolve().parents[1] / "runtime"


def runtime_include() -> Path:
    """The folder of runtime/include/crossjit.h (crossjit_reload_point)."""
    return RUNTIME / "include"


def runtime_object(opts: BuildOptions, source: str = "crt.c",
                   label: str = "<crossjit runtime>") -> ObjectFile:
    """crossjit's program runtime (runtime/crt.c, or another freestanding runtime/
    ``source``) for this target, cached like any source."""
    rt_opts = BuildOptions(
        target=opts.target, opt_level=2, cpu=opts.cpu, features=opts.features,
        launcher=opts.launcher,
        extra_cflags=("-ffreestanding", "-fno-stack-protector", "-fno-builtin",
                      "-fasynchronous-unwind-tables"),  # debuggers unwind through it
    )
    # Freestanding: any clang will do, whatever the target's libc.
    obj, _ = _one(RUNTIME / source, rt_opts, toolchain.find_compiler())
    return ObjectFile(label, obj.data)

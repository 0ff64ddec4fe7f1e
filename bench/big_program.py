"""Big programs: crossjit's build + run vs the native build + run, wall time and peak memory.

    python -m bench.big_program [--program sqlite|mbedtls|all] [-O 2] [-j N]
                                [--executor crossjit|llvm16] [--no-serial]

The programs (tests/integration/realworld.py, fetched pinned by sha256): SQLite 3.50.4's
amalgamation (one translation unit of 262,916 lines) with tests/realworld/sqlite_workload.c,
and Mbed TLS 2.28.3 (97 files: the library and programs/test/selftest.c, run as
`selftest -x timing`).

Per program, in one run:
- native: `make -jN` (clang-16 -c -ON per source, linked by ld.lld-16), then the program;
- crossjit cold: `crossjit run -jN` from an empty bitcode/object cache — compile, codegen,
  link and run to the end, one command (no daemon); its output must equal native's;
- crossjit -j1 cold (unless --no-serial): the same with one job, to show what -jN buys;
- crossjit warm: the same command again (everything cached: link + run).
Peak memory (tests/integration/bigprogram.py): the largest single process (ru_maxrss) and
the largest sum of the process tree's PSS at one moment (sampled every 20 ms).
The bench's cache is its own ($XDG_CACHE_HOME of this process, default
~/.cache/crossjit-bench): only fetched sources are kept between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def _row(label: str, wall: float, cpu: float, largest: int, tree: int,
         ref: tuple[float, float, int, int] | None) -> str:
    cells = (f"{label:<24} {wall:8.2f} s {cpu:8.2f} s {largest / 1024:8.0f} MiB "
             f"{tree / 1024:8.0f} MiB")
    if ref is not None:
        cells += (f"   x{wall / ref[0]:5.2f} x{largest / max(ref[2], 1):5.2f}"
                  f" x{tree / max(ref[3], 1):5.2f}")
    return cells


def _phases(t: dict[str, Any], start: float, end: float) -> str:
    """Wall time per phase of one crossjit run, and the inputs' compile/codegen sums."""
    marks = t["marks"]
    order = [("start-up + executor", "start", "connected"),
             ("compile + codegen", "connected", "built"), ("link", "built", "linked"),
             ("load", "linked", "loaded")]
    parts = [f"{label} {marks[b] - marks[a]:.2f} s" for label, a, b in order
             if a in marks and b in marks]
    parts.insert(0, f"python start {marks['start'] - start:.2f} s")
    parts.append(f"run + exit {end - marks['loaded']:.2f} s")
    compile_s = sum(st["compile_s"] for st in t["steps"])
    codegen_s = sum(st["codegen_s"] for st in t["steps"])
    wall = marks["built"] - marks["connected"]
    # Inputs in flight at once, on average: ~jobs when both cores are kept busy.
    return (", ".join(parts) + f"; summed over inputs: clang {compile_s:.2f} s + codegen "
            f"{codegen_s:.2f} s = {(compile_s + codegen_s) / max(wall, 1e-9):.2f} inputs "
            "in flight on average")


def bench(name: str, opt: int, jobs: int, which: str, serial: bool, work: Path) -> None:
    import dataclasses

    from tests.integration import bigprogram as big
    from tests.integration import realworld as rw
    from tests.integration.test_realworld import executor

    prog = {"sqlite": rw.SQLITE, "mbedtls": rw.MBEDTLS}[name]
    prog = dataclasses.replace(prog, opt=opt)
    args = list(rw.MBEDTLS_ARGS) if name == "mbedtls" else []
    profile = prog.profile(work)  # fetches (not measured)
    exe, built = big.native_build(prog, work, opt=opt, jobs=jobs)
    ran = big.measure([str(exe), *args], timeout=300)
    assert ran.status == 0, ran.stderr.decode(errors="replace")
    env = dict(os.environ, PYTHONPATH=str(REPO), CROSSJIT_DAEMON="0")
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "crossjit"

    timings = work / f"{name}-timings.json"
    phases: list[str] = []

    def crossjit(j: int, cold: bool) -> big.Measured:
        if cold:
            for sub in ("bitcode", "objects"):
                shutil.rmtree(cache / sub, ignore_errors=True)
        timings.unlink(missing_ok=True)
        t0 = time.time()
        m = big.measure([sys.executable, "-m", "crossjit", "run", "-j", str(j), "-e",
                         f"spawn:{executor(which)}", str(profile), "--", *args],
                        env=dict(env, CROSSJIT_TIMINGS=str(timings)), cwd=REPO,
                        timeout=3600)
        if not phases:  # the first (cold -jN) run's breakdown (session._write_timings)
            phases.append(_phases(json.loads(timings.read_text()), t0, t0 + m.wall_s))
        if (m.stdout, m.status) != (ran.stdout, ran.status):
            raise SystemExit(f"crossjit's {name} differs from native (status {m.status}):\n"
                             f"{m.stderr.decode(errors='replace')[-3000:]}")
        return m

    cold = crossjit(jobs, True)
    one = crossjit(1, True) if serial and jobs != 1 else None
    warm = crossjit(jobs, False)
    files = len(prog.sources(prog.fetched()))
    native_total = (built.wall_s + ran.wall_s, built.cpu_s + ran.cpu_s,
                    max(built.largest_kib, ran.largest_kib), max(built.tree_kib, ran.tree_kib))
    print(f"\n{name}: {files} files, -O{opt}, -j{jobs}, executor {which}; output identical "
          f"({len(ran.stdout)} bytes, status {ran.status})")
    print(f"{'':<24} {'wall':>10} {'cpu':>10} {'largest':>12} {'tree':>12}   "
          "ratios (wall, largest, tree) vs native build+run")

    def row(label: str, m: big.Measured, ref: tuple[float, float, int, int] | None) -> None:
        print(_row(label, m.wall_s, m.cpu_s, m.largest_kib, m.tree_kib, ref))

    row("native build (make)", built, None)
    row("native run", ran, None)
    print(_row("native build + run", *native_total, None))
    row(f"crossjit cold -j{jobs}", cold, native_total)
    if one is not None:
        row("crossjit cold -j1", one, native_total)
    row(f"crossjit warm -j{jobs}", warm, native_total)
    print(f"crossjit cold -j{jobs}, where the time went: {phases[0]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--program", choices=("sqlite", "mbedtls", "all"), default="all")
    ap.add_argument("-O", dest="opt", type=int, default=2, choices=range(4))
    ap.add_argument("-j", dest="jobs", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--executor", choices=("crossjit", "llvm16"), default="crossjit")
    ap.add_argument("--no-serial", dest="serial", action="store_false",
                    help="skip the -j1 cold build")
    a = ap.parse_args()
    os.environ.setdefault("XDG_CACHE_HOME",
                          str(Path.home() / ".cache" / "crossjit-bench"))
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="crossjit-big-") as tmp:
        for name in ("sqlite", "mbedtls") if a.program == "all" else (a.program,):
            bench(name, a.opt, a.jobs, a.executor, a.serial, Path(tmp))
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

"""Big programs (issue 14 item 7): measured builds and runs, crossjit's and the native one.

The programs themselves (SQLite's 262,916-line amalgamation, Mbed TLS's 97 files) are
pinned in tests/integration/realworld.py. Here: a command run with its wall time and peak
memory, and the native build of a program with ``make -jN`` (clang-16, ld.lld-16), so the
test (test_big_programs.py) and the benchmark (bench/big_program.py) measure alike.

Peak memory, two ways: ``largest_kib`` is the largest single process of the command's
tree (the kernel's ru_maxrss of the command and its reaped descendants, from wait4);
``tree_kib`` is the largest *sum* over the tree at one moment (proportional set size, so
pages a forked codegen child shares with crossjit count once), sampled every 20 ms.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.integration.realworld import Program


@dataclass(frozen=True)
class Measured:
    status: int  # a shell's view: 128+N for signal N
    stdout: bytes
    stderr: bytes
    wall_s: float
    cpu_s: float  # user + system of the command and its reaped descendants
    largest_kib: int
    tree_kib: int


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):  # the process ended meanwhile
        pass
    return 0


def tree_pss_kib(root: int) -> int:
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += _pss_kib(pid)
        todo += _children(pid)
    return total


def measure(cmd: Sequence[str], *, env: Mapping[str, str] | None = None,
            cwd: Path | None = None, timeout: float = 900) -> Measured:
    """Run ``cmd`` to its end (killed after ``timeout`` s) and measure it."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, env=env, cwd=cwd,
                                start_new_session=True)
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], tree_pss_kib(proc.pid))
                done.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        deadline = time.monotonic() + timeout
        try:
            while True:
                pid, wstatus, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    os.killpg(proc.pid, signal.SIGKILL)
                    pid, wstatus, usage = os.wait4(proc.pid, 0)
                    proc.returncode = os.waitstatus_to_exitcode(wstatus)
                    raise TimeoutError(f"{shlex.join(cmd)} did not finish in {timeout:g} s")
                time.sleep(0.01)
        finally:
            done.set()
            sampler.join(5)
        wall = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(wstatus)
        proc.returncode = code  # reaped by wait4 above: Popen must not wait again
        with contextlib.suppress(ProcessLookupError):  # leftovers of the session, if any
            os.killpg(proc.pid, signal.SIGKILL)
        out.seek(0)
        err.seek(0)
        return Measured(128 - code if code < 0 else code, out.read(), err.read(), wall,
                        usage.ru_utime + usage.ru_stime, usage.ru_maxrss, peak[0])


def native_build(prog: Program, where: Path, *, opt: int, jobs: int) -> tuple[Path, Measured]:
    """``make -jJOBS`` of the program: each source with clang-16 -c (the same -O level,
    defines and include directories as its crossjit profile), linked with ld.lld-16."""
    tree = prog.fetched()
    build = where / f"native-{prog.name}-O{opt}"
    build.mkdir(parents=True, exist_ok=True)
    cc = "clang++-16" if prog.cxx else "clang-16"
    flags = shlex.join([f"-O{opt}", *prog.cflags, *(f"-D{d}" for d in prog.defines),
                        *(f"-I{tree / i}" for i in prog.include)])
    rules, objs = [], []
    for i, src in enumerate(prog.sources(tree)):
        obj = f"{i:03d}-{src.stem}.o"
        objs.append(obj)
        rules.append(f"{obj}: {src}\n\t{cc} {flags} -c $< -o $@\n")
    exe = build / prog.name
    link = shlex.join([cc, "-fuse-ld=lld", *objs, "-o", str(exe), "-lm",
                       *(["-pthread"] if prog.threads else [])])
    (build / "Makefile").write_text(f"{exe}: {' '.join(objs)}\n\t{link}\n\n" + "\n".join(rules))
    for stale in build.glob("*.o"):  # a cold build every time: what is measured
        stale.unlink()
    exe.unlink(missing_ok=True)
    made = measure(["make", "-s", f"-j{jobs}", "-C", str(build)], timeout=1800)
    if made.status != 0:
        raise RuntimeError(f"native build of {prog.name} failed:\n"
                           f"{made.stderr.decode(errors='replace')[-3000:]}")
    return exe, made

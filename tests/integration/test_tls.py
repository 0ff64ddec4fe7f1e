"""Thread-local storage and threads, through `crossjit jit`, compared with native builds.

tests/corpus/tls/: per-thread values with threads running at once (C: general and local
dynamic, hidden, extern across TUs, .tdata + .tbss, _Alignas(64), a .tdata pointer to a
string literal), many short-lived threads (fresh values, blocks freed), C++ thread_local
with destructors and across TUs, refusals (initial-exec, TLS defined outside the
program), JIT'd code on many threads at once (its own pthreads and a library's worker
threads calling back), and gdb listing every JIT'd thread.

Executors: crossjit-executor (glibc; musl for C) and Debian's LLVM 16 and 22 over spawn,
-O0/-O2, with and without -g; LLVM 14/15/19 at -O2 only (same code path, cheaper).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.corpus import (
    CORPUS,
    REPO,
    Case,
    Run,
    check,
    crossjit_cmd,
    crossjit_run,
    native_run,
    status_of,
)
from tests.integration.test_executor_support import executor
from tests.prereq import llvm_executor, require_tool

pytestmark = pytest.mark.integration

THREADS = Case("tls_threads", ("tls/threads.c", "tls/other.c"))
MANY = Case("tls_many", ("tls/many.c",))
CXX = Case("tls_cxx", ("tls/cxx.cpp",), cxx=True)
CXX_TUS = Case("tls_cxx_tus", ("tls/cxx_use.cpp", "tls/cxx_def.cpp"), cxx=True)
RUNS = (THREADS, MANY, CXX, CXX_TUS)
REFUSALS = (
    Case("tls_initial_exec", ("tls/initial_exec.c",), native=False,
         expect_stderr=("initial_exec.c:(.text+", "R_X86_64_GOTTPOFF against 'counter'",
                        "initial-exec", "hint: use the default (general-dynamic) model")),
    Case("tls_extern", ("tls/extern_tls.c",), native=False,
         expect_stderr=("R_X86_64_TLSGD against 'defined_nowhere'",
                        "not defined in the JIT'd program", "hint: define the variable")),
)


def exe_spec(name: str) -> str:
    if name.startswith("llvm"):
        return f"spawn:{llvm_executor(int(name[4:]))}"
    return f"spawn:{executor(name)}"


FULL = [(e, o, g) for e in ("glibc", "llvm16", "llvm22") for o in (0, 2) for g in (False, True)]
FULL += [("musl", o, g) for o in (0, 2) for g in (False, True)]
FULL += [(f"llvm{v}", 2, False) for v in (14, 15, 19)]
MATRIX = [
    pytest.param(c, e, o, g, id=f"{c}-{e}-O{o}{'-g' if g else ''}")
    for c in RUNS for e, o, g in FULL
    if not (c.cxx and e == "musl")  # Debian has no musl libstdc++
]


@pytest.mark.parametrize(("case", "exe", "opt", "debug"), MATRIX)
def test_tls_program(case: Case, exe: str, opt: int, debug: bool, native_dir: Path) -> None:
    expected = native_run(case, opt, debug, native_dir)
    assert expected.status == 0, expected.stderr  # the programs check themselves too
    got = crossjit_run(crossjit_cmd(case, exe_spec(exe), opt, debug))
    check(case, got, expected)


@pytest.mark.parametrize("exe", ["glibc", "musl", "llvm16", "llvm22"])
@pytest.mark.parametrize("case", REFUSALS, ids=str)
def test_tls_refusals(case: Case, exe: str) -> None:
    got = crossjit_run(crossjit_cmd(case, exe_spec(exe), 0, False))
    check(case, got, None)
    assert b"Traceback" not in got.stderr


# --- threads: JIT'd pthreads and a library's worker threads calling back, at once ------

CALLBACKS = CORPUS / "tls" / "callbacks.c"


@pytest.fixture(scope="module")
def spawnlib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/corpus/tls/spawnlib.c as a shared library (glibc, clang-16)."""
    cc = require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    out = tmp_path_factory.mktemp("spawnlib") / "libspawn.so"
    subprocess.run([cc, "-O2", "-shared", "-fPIC", str(CORPUS / "tls" / "spawnlib.c"), "-o",
                    str(out)], check=True, capture_output=True, timeout=120)
    return out


def native_callbacks(lib: Path, opt: int) -> Run:
    exe = lib.parent / f"callbacks-O{opt}"
    if not exe.exists():
        subprocess.run(["clang-16", f"-O{opt}", str(CALLBACKS), "-L", str(lib.parent),
                        "-lspawn", f"-Wl,-rpath,{lib.parent}", "-o", str(exe)],
                       check=True, capture_output=True, timeout=120)
    p = subprocess.run([str(exe)], capture_output=True, timeout=60, check=False)
    return Run(status_of(p.returncode), p.stdout, p.stderr)


@pytest.mark.parametrize("opt", [0, 2], ids=["O0", "O2"])
@pytest.mark.parametrize("exe", ["glibc", "llvm16", "llvm22"])
def test_threads_and_library_callbacks(exe: str, opt: int, spawnlib: Path) -> None:
    expected = native_callbacks(spawnlib, opt)
    assert expected.status == 0 and expected.stderr == b"", expected.stderr
    cmd = crossjit_cmd(Case("callbacks", ("tls/callbacks.c",)), exe_spec(exe), opt, False)
    cmd[cmd.index("--"):cmd.index("--")] = ["--dlopen", str(spawnlib)]
    got = crossjit_run(cmd, timeout=120)
    assert got.stderr.decode(errors="replace").strip() == ""
    assert got.stdout == expected.stdout
    assert got.status == 0
    assert b"total callbacks 5760000" in got.stdout  # 16 x 200000 + 128 x 20000


# --- the debugger sees every JIT'd thread -------------------------------------------------

@pytest.mark.parametrize("exe", ["glibc", "llvm16"])
def test_gdb_sees_all_jit_threads(exe: str, tmp_path: Path) -> None:
    require_tool("gdb", "gdb (apt-get install gdb)")
    src = CORPUS / "tls" / "debug_threads.c"
    # As gdb -x runs it: go until --break stops the program, then look at every thread.
    (tmp_path / "cmds").write_text("continue\nthread apply all bt\ncontinue\n")
    cmd = [sys.executable, "-m", "crossjit", "debug", str(src), "--batch", "cmds",
           "--debugger", "gdb", "--break", "stop_here", "-e", exe_spec(exe)]
    p = subprocess.run(cmd, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(REPO)),
                       capture_output=True, text=True, timeout=240, check=False)
    out = p.stdout + p.stderr
    assert "hit Breakpoint 1, stop_here (id=0)" in out, out
    # Every worker, each in its own thread, with its JIT'd frame (a thread just released
    # from the first barrier may not have left it yet: line 11).
    stacks = out.split("\nThread ")[1:]  # one per thread of `thread apply all bt`
    for i in range(4):
        frame = re.compile(rf"in worker \(arg=0x{i}\) at .*debug_threads\.c:1[1-3]")
        assert sum(1 for st in stacks if frame.search(st)) == 1, out
    # main may still be returning from the last pthread_create (line 20) or joining (21).
    assert re.search(r"in main \(\) at .*debug_threads\.c:2[01]", out), out
    assert "done" in out and p.returncode == 0, out

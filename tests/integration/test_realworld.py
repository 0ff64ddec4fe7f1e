"""Real third-party programs (tests/integration/realworld.py) JIT-run vs natively built.

Each runs through `crossjit run -e spawn:EXECUTOR` of a generated profile on LLVM 16's
llvm-jitlink-executor and on crossjit-executor (glibc), and must give the native build's
stdout (and output files) and exit status.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from tests.integration import realworld as rw
from tests.integration.corpus import REPO, Run, crossjit_run, status_of
from tests.prereq import llvm_executor, require_file

pytestmark = pytest.mark.integration

EXECUTORS = ("llvm16", "crossjit")


def executor(which: str) -> Path:
    if which == "llvm16":
        return llvm_executor(16)
    return require_file(REPO / "executor/build/crossjit-executor-glibc",
                        "crossjit-executor-glibc (make -C executor)")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory, native_dir: Path) -> Path:
    return tmp_path_factory.mktemp("realworld")


def run_native(prog: rw.Program, work: Path, args: list[str]) -> Run:
    import subprocess

    p = subprocess.run([str(prog.native(work)), *args], capture_output=True, timeout=120,
                       check=False)
    return Run(status_of(p.returncode), p.stdout, p.stderr)


def run_jit(prog: rw.Program, work: Path, which: str, args: list[str]) -> Run:
    cmd = [sys.executable, "-m", "crossjit", "run", "-e", f"spawn:{executor(which)}",
           str(prog.profile(work)), "--", *args]
    return crossjit_run(cmd, timeout=600)  # the first run compiles (cached afterwards)


def same(got: Run, want: Run) -> None:
    err = got.stderr.decode(errors="replace")
    assert got.stdout == want.stdout, err
    assert got.status == want.status, err


@pytest.mark.parametrize("which", EXECUTORS)
def test_lua_own_testes(which: str, work: Path) -> None:
    """Lua 5.4's interpreter runs twelve of its own test scripts, ending in 'done'."""
    args = rw.lua_args(rw.LUA.fetched())
    want = run_native(rw.LUA, work, args)
    assert want.status == 0 and want.stdout.endswith(b"OK\ndone\n"), want.stderr
    same(run_jit(rw.LUA, work, which, args), want)


def test_lua_own_testes_unoptimised_with_debug_info(work: Path) -> None:
    """The same at -O0 -g (debug sections linked too), on crossjit-executor."""
    prog = dataclasses.replace(rw.LUA, name="luag", opt=0, debug=True)
    args = rw.lua_args(prog.fetched())
    want = run_native(prog, work, args)
    assert want.status == 0 and want.stdout.endswith(b"OK\ndone\n"), want.stderr
    same(run_jit(prog, work, "crossjit", args), want)


@pytest.mark.parametrize("which", EXECUTORS)
def test_brotli_cli_round_trip(which: str, work: Path) -> None:
    """brotli's own CLI: quality-9 compression to stdout is byte-identical, and decodes."""
    text = rw.workload(work, 400_000)
    want = run_native(rw.BROTLI, work, ["-c", "-q", "9", str(text)])
    assert want.status == 0 and 0 < len(want.stdout) < 400_000, want.stderr
    same(run_jit(rw.BROTLI, work, which, ["-c", "-q", "9", str(text)]), want)
    packed = work / f"jit-{which}.br"
    packed.write_bytes(want.stdout)
    back = run_jit(rw.BROTLI, work, which, ["-d", "-c", str(packed)])
    assert back.status == 0, back.stderr.decode(errors="replace")
    assert back.stdout == text.read_bytes()


@pytest.mark.parametrize("which", EXECUTORS)
def test_zstd_four_worker_threads(which: str, work: Path) -> None:
    """zstd's multi-threaded compressor (4 workers, 9 jobs) writes the native build's bytes."""
    text = rw.workload(work)
    native_out, jit_out = work / "native.zst", work / f"jit-{which}.zst"
    want = run_native(rw.ZSTD, work, [str(text), str(native_out)])
    assert want.status == 0 and b"workers=4" in want.stdout and b"same=1" in want.stdout
    same(run_jit(rw.ZSTD, work, which, [str(text), str(jit_out)]), want)
    assert jit_out.read_bytes() == native_out.read_bytes()


@pytest.mark.parametrize("which", EXECUTORS)
def test_farmhash_cxx_self_test(which: str, work: Path) -> None:
    """farmhash's own C++ self-test: nine hash families, all OK, exit from a static init."""
    want = run_native(rw.FARMHASH, work, [])
    assert want.status == 0 and want.stdout.count(b"... OK\n") == 9, want.stdout
    same(run_jit(rw.FARMHASH, work, which, []), want)

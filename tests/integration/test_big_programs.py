"""Big programs JIT-run vs natively built (issue 14 item 7), with bounded memory.

SQLite's amalgamation (one translation unit of 262,916 lines) with a SQL workload of ours,
and Mbed TLS (97 files: the library and its own `selftest`), fetched pinned by sha256
(tests/integration/realworld.py), built by `crossjit run -j 2` at -O2 and run on LLVM 16's
executor and on crossjit-executor; stdout and status must equal the native build's
(clang-16, `make -j2`, ld.lld-16; -O2, SQLite's at -O0 to save CI time). The build's
largest process must stay under LARGEST_KIB and the whole tree under TREE_KIB
(docs/internals.md: at most -j children).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.integration import bigprogram as big
from tests.integration import realworld as rw
from tests.integration.corpus import REPO
from tests.integration.test_realworld import EXECUTORS, executor
from tests.prereq import require_tool

pytestmark = pytest.mark.integration

JOBS = 2
# Observed: ~240 MB for SQLite's codegen child at -O2, ~360 MB for the tree at once.
LARGEST_KIB = 1 << 20  # 1 GiB
TREE_KIB = 2 << 20  # 2 GiB


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for tool in ("clang-16", "ld.lld-16", "make"):
        require_tool(tool)
    return tmp_path_factory.mktemp("big")


_natives: dict[str, big.Measured] = {}


def native_run(prog: rw.Program, work: Path, args: list[str], opt: int | None = None,
               ) -> big.Measured:
    if prog.name not in _natives:
        exe, _ = big.native_build(prog, work, opt=prog.opt if opt is None else opt,
                                  jobs=JOBS)
        _natives[prog.name] = big.measure([str(exe), *args], timeout=120)
    return _natives[prog.name]


def jit_run(prog: rw.Program, work: Path, which: str, args: list[str]) -> big.Measured:
    cmd = [sys.executable, "-m", "crossjit", "run", "-j", str(JOBS), "-e",
           f"spawn:{executor(which)}", str(prog.profile(work)), "--", *args]
    # No daemon: the build must happen in the measured process tree.
    env = dict(os.environ, PYTHONPATH=str(REPO), CROSSJIT_DAEMON="0")
    return big.measure(cmd, env=env, cwd=REPO, timeout=900)


def same(got: big.Measured, want: big.Measured) -> None:
    err = got.stderr.decode(errors="replace")
    assert got.stdout == want.stdout, err
    assert got.status == want.status, err
    assert got.largest_kib < LARGEST_KIB, f"largest process {got.largest_kib} KiB"
    assert got.tree_kib < TREE_KIB, f"process tree {got.tree_kib} KiB at once"


@pytest.mark.parametrize("which", EXECUTORS)
def test_sqlite_amalgamation(which: str, work: Path) -> None:
    """262,916 lines in one translation unit: SQL with indexes, joins, window functions,
    JSON, FTS5 and R*Tree gives the native build's rows."""
    tree = rw.SQLITE.fetched()
    with (tree / "sqlite3.c").open("rb") as f:
        assert sum(1 for _ in f) == rw.SQLITE_LINES
    # The oracle at -O0 (1 s to build, not 20): the workload's output does not depend on
    # the -O level; bench/big_program.py compares -O2 with -O2.
    want = native_run(rw.SQLITE, work, [], opt=0)
    assert want.status == 0 and want.stdout.startswith(b"sqlite 3.50.4\n"), want.stderr
    assert want.stdout.endswith(b"ok\ndone\n")  # PRAGMA integrity_check, then the end
    same(jit_run(rw.SQLITE, work, which, []), want)


@pytest.mark.parametrize("which", EXECUTORS)
def test_mbedtls_selftest(which: str, work: Path) -> None:
    """97 files: Mbed TLS's own self-tests (26 suites, AES-NI inline assembly included)
    all pass, as natively."""
    assert len(rw.MBEDTLS.sources(rw.MBEDTLS.fetched())) == rw.MBEDTLS_FILES
    args = list(rw.MBEDTLS_ARGS)
    want = native_run(rw.MBEDTLS, work, args)
    assert want.status == 0, want.stderr
    assert b"Executed 26 test suites" in want.stdout
    assert b"[ All tests PASS ]" in want.stdout
    same(jit_run(rw.MBEDTLS, work, which, args), want)

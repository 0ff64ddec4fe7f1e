"""Interop (a): crossjit's own corpus through `crossjit jit` against crossjit-executor.

glibc and musl builds over spawn (socketpair) and unix/tcp-free transports; C++ cases on
glibc only (Debian has no musl libstdc++). Compared with a native build, as test_corpus.py
does for LLVM's executors.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.corpus import CASES, Case, Run, crossjit_cmd, crossjit_run, native_run
from tests.integration.test_executor_support import executor
from tests.prereq import require_tool

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def native_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    return tmp_path_factory.mktemp("native-executor-corpus")


def check(case: Case, got: Run, expected: Run | None) -> None:
    err = got.stderr.decode(errors="replace")
    if expected is None:
        assert got.status == 125, err
    else:
        assert got.stdout == expected.stdout, err
        assert got.status == expected.status, err
    for needle in case.expect_stderr:
        assert needle in err


# C++ cases on glibc only: Debian has no musl libstdc++.
MATRIX = [pytest.param(c, v, id=f"{c}-{v}") for c in CASES for v in ("glibc", "musl")
          if v == "glibc" or not c.cxx]


@pytest.mark.parametrize("debug", [False, True], ids=["nog", "g"])
@pytest.mark.parametrize(("case", "variant"), MATRIX)
def test_corpus_on_crossjit_executor(case: Case, variant: str, debug: bool,
                                     native_dir: Path) -> None:
    exe = executor(variant)
    expected = native_run(case, 0, debug, native_dir) if case.native else None
    got = crossjit_run(crossjit_cmd(case, f"spawn:{exe}", 0, debug), case.stdin)
    check(case, got, expected)

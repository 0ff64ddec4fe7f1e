"""Interop (a): crossjit's own corpus through `crossjit jit` against crossjit-executor.

glibc and musl builds over spawn (socketpair) and unix/tcp-free transports; C++ cases on
glibc only (Debian has no musl libstdc++). Compared with a native build, as test_corpus.py
does for LLVM's executors.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.corpus import CASES, Case, check, crossjit_cmd, crossjit_run, native_run
from tests.integration.test_executor_support import executor, launcher

pytestmark = pytest.mark.integration






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


@pytest.mark.parametrize("variant", ["glibc", "musl"])
def test_tcp_loopback_with_crossjit_controller(variant: str, native_dir: Path) -> None:
    """listen=127.0.0.1:0 + crossjit's tcp transport: its Hangup ends our executor with 0.

    Over tcp the program's output appears on the executor's stdout, not crossjit's.
    """
    case = next(c for c in CASES if c.name == "argc_sub1")
    proc = subprocess.Popen([*launcher(variant), "listen=127.0.0.1:0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert m, line
        got = crossjit_run(crossjit_cmd(case, f"tcp:127.0.0.1:{m.group(1)}", 0, False))
        expected = native_run(case, 0, False, native_dir)
        assert got.status == expected.status, got.stderr.decode(errors="replace")
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert out == expected.stdout
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()

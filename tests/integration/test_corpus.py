"""Every corpus program, through `crossjit jit`, against every executor, compared with native.

Matrix: Debian's LLVM 14/15/16/19/22 executors × spawn (socketpair) and tcp (inside a
private network namespace, since their listen= binds 0.0.0.0) × -O0/-O2 × with/without -g.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.integration.corpus import CASES, Case, check, crossjit_cmd, crossjit_run, native_run
from tests.prereq import LLVM_VERSIONS, llvm_executor, missing, require_tool

pytestmark = pytest.mark.integration


def tcp_cmd(executor: Path, inner: list[str]) -> list[str]:
    require_tool("unshare", "unshare (util-linux)")
    require_tool("ip", "ip (iproute2)")
    if os.geteuid() != 0:
        missing("tcp tests need root for a private network namespace")
    return ["unshare", "--net", sys.executable, "-m", "tests.integration.netns_tcp",
            str(executor), "--", *inner]


@pytest.mark.parametrize("debug", [False, True], ids=["nog", "g"])
@pytest.mark.parametrize("opt", [0, 2], ids=["O0", "O2"])
@pytest.mark.parametrize("transport", ["spawn", "tcp"])
@pytest.mark.parametrize("version", LLVM_VERSIONS, ids=[f"llvm{v}" for v in LLVM_VERSIONS])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_llvm_executor(case: Case, version: int, transport: str, opt: int, debug: bool,
                       native_dir: Path) -> None:
    exe = llvm_executor(version)
    expected = native_run(case, opt, debug, native_dir) if case.native else None
    if transport == "spawn":
        got = crossjit_run(crossjit_cmd(case, f"spawn:{exe}", opt, debug), case.stdin)
    else:
        cmd = crossjit_cmd(case, "tcp:127.0.0.1:{port}", opt, debug)
        got = crossjit_run(tcp_cmd(exe, cmd), case.stdin)
    check(case, got, expected)


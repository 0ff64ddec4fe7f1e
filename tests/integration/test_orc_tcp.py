"""OrcClient over TCP with each executor, inside a private network namespace.

LLVM's ``listen=HOST:PORT`` binds 0.0.0.0, so the executor and the client run in a
namespace of their own (``unshare --net``, as root); see orc_tcp_probe.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.prereq import LLVM_VERSIONS, llvm_executor, missing, require_tool

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DIALECTS = {14: "llvm-14", 15: "llvm-14", 16: "llvm-16", 19: "llvm-17", 22: "llvm-22"}


@pytest.fixture(scope="module")
def netns() -> list[str]:
    require_tool("ip", "ip (apt-get install iproute2)")
    unshare = require_tool("unshare", "unshare (util-linux)")
    probe = subprocess.run([unshare, "--net", "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        missing(f"unshare --net is not permitted here: {probe.stderr.decode().strip()}")
    return [unshare, "--net"]


@pytest.mark.parametrize("version", LLVM_VERSIONS, ids=[f"llvm{v}" for v in LLVM_VERSIONS])
def test_tcp_session(netns: list[str], version: int) -> None:
    exe = llvm_executor(version)
    cmd = [*netns, sys.executable, "-m", "tests.integration.orc_tcp_probe", str(exe)]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=60, check=False)
    err = run.stderr.decode(errors="replace")
    assert run.returncode == 0, err
    result = json.loads(run.stdout.decode().strip().splitlines()[-1])
    assert result["dialect"] == DIALECTS[version]
    assert result["main"] == 2
    if version >= 16:
        assert result["int"] == 42
    assert result["executor_exit"] == 0, err
    assert result["exit_seconds"] < 5

"""`crossjit doctor` reports qemu-user and the AArch64 executors it can find."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.integration import aarch64_env as a64
from tests.integration.corpus import REPO
from tests.integration.test_executor_support import executor, qemu_aarch64

pytestmark = pytest.mark.integration


def test_doctor_reports_qemu_and_aarch64_executors() -> None:
    qemu = qemu_aarch64()
    for v in a64.LLVM_VERSIONS:
        a64.llvm_executor(v)
    executor("aarch64-glibc")
    done = subprocess.run([sys.executable, "-m", "crossjit", "doctor"], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = {line[4:26].strip(): (line[:2], line[26:].strip())
             for line in done.stdout.splitlines() if line[:2] in ("ok", "--")}
    assert lines["qemu-aarch64 (AArch64)"] == ("ok", qemu)
    state, detail = lines["AArch64 executors"]
    assert state == "ok"
    for name in ("llvm-16", "llvm-19", "llvm-22", "crossjit-executor-aarch64-glibc"):
        assert name in detail
    assert str(a64.root()) in detail
    assert "binfmt (foreign CPUs)" in lines

"""`crossjit doctor` reports what crossjit itself would use."""

from __future__ import annotations

import subprocess
import sys

import pytest

from crossjit.compile.toolchain import find_compiler
from crossjit.orc.client import llvm_executors
from tests.integration.corpus import REPO
from tests.prereq import llvm_executor

pytestmark = pytest.mark.integration


def test_doctor_names_the_compiler_and_executors() -> None:
    llvm_executor(16)
    done = subprocess.run([sys.executable, "-m", "crossjit", "doctor"], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = {line[4:26].strip(): (line[:2], line[26:].strip())
             for line in done.stdout.splitlines() if line[:2] in ("ok", "--")}
    cc = find_compiler()
    assert lines["clang"] == ("ok", f"{' '.join(cc.argv_prefix)} ({cc.version}, from {cc.origin})")
    assert lines["LLVM executors"] == ("ok", ", ".join(f"llvm-{v}" for v in llvm_executors()))
    assert lines["llvmlite"][0] == "ok"

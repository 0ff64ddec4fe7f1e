"""`crossjit jit --target aarch64-*` on this x86-64 host: error paths of the qemu'd
executors and of code generation for another CPU (the corpus covers the working paths)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration import aarch64_env as a64
from tests.integration.corpus import REPO

pytestmark = pytest.mark.integration

ASM = 'int main(void) { __asm__ volatile("nop"); return 3; }\n'


def jit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crossjit", "jit", *args], capture_output=True,
                          text=True, timeout=120, check=False, cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO), **(env or {})))


def test_inline_asm_for_another_cpu_runs(tmp_path: Path) -> None:
    a64.spec("llvm16")  # prerequisites
    src = tmp_path / "asm.c"
    src.write_text(ASM)
    p = jit("--target", a64.GNU, str(src))
    assert p.returncode == 3, p.stderr


def test_inline_asm_that_does_not_assemble_for_the_target_is_a_clear_error(
        tmp_path: Path) -> None:
    """x86-64 assembly compiled for AArch64: llc's message, naming the input, status 125."""
    a64.spec("llvm16")
    src = tmp_path / "x86asm.c"
    src.write_text('int main(void) { int x = 1; __asm__("addl $1, %0" : "+r"(x)); '
                   'return x; }\n')
    p = jit("--target", a64.GNU, str(src))
    assert p.returncode == 125, p.stderr
    assert f"code generation failed for {src}" in p.stderr
    assert "addl" in p.stderr  # llc quotes the instruction it rejected
    assert "Traceback" not in p.stderr and "LLVM ERROR" not in p.stderr


def test_inline_asm_for_the_host_cpu_still_works(tmp_path: Path) -> None:
    src = tmp_path / "asm.c"
    src.write_text(ASM)
    p = jit(str(src))
    assert p.returncode == 3, p.stderr


def test_missing_arm64_root_names_the_script(tmp_path: Path) -> None:
    src = tmp_path / "t.c"
    src.write_text("int main(void) { return 0; }\n")
    p = jit("--target", a64.GNU, str(src), env={"CROSSJIT_ARM64_ROOT": str(tmp_path / "none")})
    assert p.returncode == 125, p.stderr
    assert "scripts/arm64-root" in p.stderr
    assert "Traceback" not in p.stderr


def test_wrapper_without_executor_is_a_usage_error(tmp_path: Path) -> None:
    src = tmp_path / "t.c"
    src.write_text("int main(void) { return 0; }\n")
    p = jit("--executor", "spawn:qemu-aarch64-static -L /x", str(src))
    assert p.returncode == 125, p.stderr
    assert "needs the executor's path" in p.stderr

"""Crash reports name the signal, the JIT'd function and (with -g) the source line:
``SIGSEGV in poke (segv.c:3)``, from the link map and the DWARF line table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.prereq import llvm_executor, require_file, require_tool

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SEGV = REPO / "tests/corpus/segv.c"
SEGV_LINE = 1 + SEGV.read_text().splitlines().index(
    "__attribute__((noinline)) void poke(int v) { *target = v; }")


def executor(name: str) -> Path:
    if name == "llvm-16":
        return llvm_executor(16)
    return require_file(REPO / "executor/build/crossjit-executor-glibc",
                        "crossjit-executor-glibc (make -C executor)")


def jit(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "crossjit", "jit", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240, check=False)


@pytest.mark.parametrize("exe", ["llvm-16", "crossjit-glibc"])
@pytest.mark.parametrize("opt", ["0", "2"])
def test_segv_symbolized_with_line(exe: str, opt: str) -> None:
    p = jit("-e", f"spawn:{executor(exe)}", "-g", "-O", opt, str(SEGV))
    assert p.returncode == 128 + 11, p.stderr
    assert f"crossjit: program killed by SIGSEGV in poke (segv.c:{SEGV_LINE})" in p.stderr


def test_segv_without_debug_info_names_the_function() -> None:
    p = jit("-e", f"spawn:{executor('llvm-16')}", str(SEGV))
    assert p.returncode == 139, p.stderr
    assert "crossjit: program killed by SIGSEGV in poke (fault address 0x0)" in p.stderr


def test_crash_in_second_object(tmp_path: Path) -> None:
    """The line comes from the DWARF of the object that holds the faulting code."""
    (tmp_path / "main.c").write_text("void crash(int);\nint main(void) {\n  crash(3);\n"
                                     "  return 0;\n}\n")
    (tmp_path / "crash.c").write_text("#include <stdlib.h>\n\nvoid crash(int n) {\n"
                                      "  if (n == 3)\n    abort();\n}\n")
    p = jit("-g", "main.c", "crash.c", cwd=tmp_path)
    assert p.returncode == 128 + 6, p.stderr
    # abort() raises in libc: the pc is there, so only the signal is named.
    assert "crossjit: program killed by SIGABRT" in p.stderr
    (tmp_path / "crash.c").write_text("\n\nvoid crash(int n) {\n  if (n == 3)\n"
                                      "    *(volatile int *)0 = n;\n}\n")
    p = jit("-g", "main.c", "crash.c", cwd=tmp_path)
    assert p.returncode == 139, p.stderr
    assert "SIGSEGV in crash (crash.c:5)" in p.stderr

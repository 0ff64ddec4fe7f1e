"""`crossjit debug --target aarch64-*`: the AArch64 program under qemu-user, debugged
through qemu's gdbstub (a unix socket) with gdb-multiarch and lldb-16.

The seed scenario: a breakpoint on sub1 set before any code exists hits with x == 1 (the
GDB JIT interface, through the stub), the line is read from the .c file, x = 42 is set
from the debugger and the program exits 41 — on Debian's arm64 LLVM 16 executor and
crossjit-executor (glibc and static musl), and on the LLVM 19 and 22 executors (their
debug-object registration differs: 17-19 wrapper + bool, 22 an allocation action).
Plus a backtrace through JIT'd callers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration import aarch64_env as a64
from tests.integration.corpus import REPO
from tests.integration.test_debug_local import (
    BT,
    GDB_SEED,
    LLDB_SEED,
    SEED,
    assert_seed_scenario,
    crossjit_debug,
)
from tests.prereq import require_file, require_tool

pytestmark = pytest.mark.integration


def debugger(name: str) -> str:
    if name == "gdb":
        return require_tool("gdb-multiarch", "gdb-multiarch (apt-get install gdb-multiarch)")
    return str(require_file("/usr/bin/lldb-16", "lldb-16 (apt-get install lldb-16)"))


def where(executor: str) -> list[str]:
    """--target (crossjit picks the executor) or an explicit -e spec."""
    spec, target = a64.spec(executor)
    if executor in ("llvm16", "cj-musl"):  # what `--target` alone picks
        return ["--target", target]
    return ["--target", target, "-e", spec]


@pytest.mark.parametrize("executor", ["llvm16", "llvm19", "llvm22", "cj-glibc", "cj-musl"])
@pytest.mark.parametrize("dbg", ["gdb", "lldb"])
def test_seed_scenario_through_qemus_gdbstub(tmp_path: Path, dbg: str, executor: str) -> None:
    debugger(dbg)
    p = crossjit_debug(tmp_path, SEED, "seed.c", GDB_SEED if dbg == "gdb" else LLDB_SEED,
                       "--debugger", dbg, "--break", "sub1", *where(executor))
    src = str(tmp_path / "seed.c")
    assert_seed_scenario(p, dbg, f"hit Breakpoint 1, sub1 (x=1) at {src}:1" if dbg == "gdb"
                         else "`sub1(x=1) at seed.c:1")


def test_gdb_backtrace_through_jit_callers(tmp_path: Path) -> None:
    debugger("gdb")
    p = crossjit_debug(tmp_path, BT, "bt.c", "continue\nbt\ncontinue\n", "--break", "leaf",
                       *where("llvm16"))
    out = p.stdout + p.stderr
    assert "#0  leaf (v=21) at " in out and "bt.c:3" in out, out
    assert "in middle (v=20) at " in out and "bt.c:6" in out, out
    assert "in main () at " in out and "bt.c:10" in out, out
    assert "r=43" in out and p.returncode == 0, out


def test_debugger_that_never_starts_the_program_is_a_clear_error(tmp_path: Path) -> None:
    """A debugger that exits without continuing: exit 125 naming it, no hang (qemu, held
    at its first instruction and deaf to SIGTERM, is killed)."""
    a64.spec("llvm16")
    fake = tmp_path / "bin" / "gdb-multiarch"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    (tmp_path / "seed.c").write_text(SEED)
    env = dict(os.environ, PYTHONPATH=str(REPO), PATH=f"{fake.parent}:{os.environ['PATH']}")
    p = subprocess.run([sys.executable, "-m", "crossjit", "debug", "seed.c", "--batch",
                        "/dev/null", "--target", a64.GNU], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 125, p.stdout + p.stderr
    assert "the debugger exited (status 3) before the program ran" in p.stderr, p.stderr

"""crossjit-executor: C unit tests, fuzz smoke run, exports and footprint goals."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_executor_support import (
    BUILD,
    EXECUTOR_DIR,
    executor,
    launcher,
    session,
)
from tests.prereq import require_tool

pytestmark = pytest.mark.integration


def stripped_size(path: Path, tmp: Path) -> int:
    """As bench/executor_footprint.py measures it."""
    strip = require_tool("/usr/lib/llvm-16/bin/llvm-strip", "llvm-strip (llvm-16)")
    out = tmp / "stripped"
    subprocess.run([strip, "--strip-all", "-o", str(out), str(path)], check=True)
    return out.stat().st_size


def idle_rss_kib(argv: list[str]) -> int:
    with session(argv) as s:
        time.sleep(0.5)
        m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{s.proc.pid}/status").read_text())
        assert m
        rss = int(m.group(1))
        assert s.hangup() == 0
        return rss


def make(target: str) -> None:
    p = subprocess.run(["make", "-C", str(EXECUTOR_DIR), target], capture_output=True,
                       text=True, timeout=900, check=False)
    assert p.returncode == 0, p.stdout + p.stderr


def test_c_unit_tests() -> None:
    require_tool("cc")
    make("check")


def test_fuzz_smoke(tmp_path: Path) -> None:
    """Regression smoke run of the libFuzzer target (long runs: see executor/README.md)."""
    require_tool("clang-16", "clang-16 + libclang-rt-16-dev (libFuzzer)")
    make("fuzz")
    corpus = tmp_path / "corpus"
    subprocess.run([sys.executable, str(EXECUTOR_DIR / "fuzz" / "make_seeds.py"), str(corpus)],
                   check=True)
    p = subprocess.run([str(BUILD / "fuzz-frames"), "-runs=20000", "-max_total_time=30",
                        "-rss_limit_mb=2048", str(corpus)],
                       capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "Done" in p.stderr, p.stderr[-3000:]


@pytest.mark.parametrize("variant", ["glibc", "musl"])
def test_exports_for_debuggers_and_llvm_jitlink(variant: str) -> None:
    require_tool("nm")
    out = subprocess.run(["nm", "-D", "--defined-only", str(executor(variant))],
                         capture_output=True, text=True, check=True).stdout
    names = {line.split()[-1] for line in out.splitlines() if line.strip()}
    for n in ("__jit_debug_descriptor", "__jit_debug_register_code",
              "llvm_orc_registerEHFrameSectionWrapper", "llvm_orc_deregisterEHFrameSectionWrapper",
              "llvm_orc_registerJITLoaderGDBWrapper", "llvm_orc_registerJITLoaderGDBAllocAction"):
        assert n in names, n
    # Only those are exported (plus the toolchain's own start-up symbols).
    ours = {n for n in names if "llvm" in n or "jit" in n}
    assert len(ours) == 6, ours


def test_musl_dynamic_size_goal(tmp_path: Path) -> None:
    """Goal: <= 64 KiB stripped for the musl dynamic build."""
    assert stripped_size(executor("musl"), tmp_path) <= 64 * 1024


@pytest.mark.parametrize("variant", ["musl", "musl-static"])
def test_idle_rss_goal(variant: str) -> None:
    """Goal: <= 1 MiB resident when idle (after Setup)."""
    assert idle_rss_kib(launcher(variant)) <= 1024

"""run/known.py: a spawned executor's last Setup (triple, page size) lets `crossjit jit`
plan the link while the executor boots; a wrong guess is redone, never trusted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.prereq import llvm_executor, require_tool

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent.parent
PROGRAM = ('#include <stdio.h>\n'
           'int main(int c, char **v) { printf("hi %s\\n", v[c - 1]); return c + 4; }\n')


def jit(cache: Path, spec: str, src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "CROSSJIT_DAEMON": "0",
           "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "crossjit", "jit", "--executor", spec,
                           str(src), "--", "a", "b"],
                          capture_output=True, text=True, timeout=120, env=env)


def test_a_wrong_guess_is_replanned(tmp_path: Path) -> None:
    require_tool("clang-16")
    spec = f"spawn:{llvm_executor(16)}"
    src = tmp_path / "hi.c"
    src.write_text(PROGRAM)
    cache = tmp_path / "cache"

    first = jit(cache, spec, src)
    assert (first.returncode, first.stdout) == (7, "hi b\n"), first.stderr
    [entry] = (cache / "crossjit" / "executors").iterdir()
    truth = entry.read_text()
    assert truth == "x86_64-pc-linux-gnu 4096\n"  # run/known.py: "TRIPLE PAGE_SIZE"

    for wrong in ("x86_64-pc-linux-gnu 16384\n", "aarch64-unknown-linux-gnu 65536\n"):
        entry.write_text(wrong)
        again = jit(cache, spec, src)
        assert (again.returncode, again.stdout) == (7, "hi b\n"), (wrong, again.stderr)
        assert entry.read_text() == truth  # what the Setup said, kept

    entry.write_text("x86_64-pc-linux-gnu four-k\n")  # a broken entry is no guess at all
    broken = jit(cache, spec, src)
    assert (broken.returncode, broken.stdout) == (7, "hi b\n"), broken.stderr

"""The launcher starts a `jit --executor spawn:...` command's executor before typer and
the rest of crossjit are imported (run/starting.py), and run_jit takes that one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.prereq import llvm_executor, require_tool

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent.parent

PROBE = """
import json, sys
from crossjit.cli import launcher
from crossjit.run import starting
launcher._start_executor_early(sys.argv[1:])
early = dict(starting._EARLY)
out = {"typer": "typer" in sys.modules, "click": "click" in sys.modules,
       "orc_client": "crossjit.orc.client" in sys.modules, "early": sorted(early)}
for spec in early:
    s = starting.take(spec)
    out["same"] = s is early[spec]
    out["triple"] = s.client().info.triple
    s.close()
print(json.dumps(out))
"""


def probe(*argv: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_spawned_before_the_cli_is_imported() -> None:
    spec = f"spawn:{llvm_executor(16)}"
    for argv in (["jit", "--executor", spec, "x.c"], ["jit", "-e", spec, "x.c", "--", "a"],
                 ["jit", f"--executor={spec}", "x.c"]):
        got = probe(*argv)
        assert got == {"typer": False, "click": False, "orc_client": False, "early": [spec],
                       "same": True, "triple": "x86_64-pc-linux-gnu"}, argv


def test_only_a_plain_spawn_option_before_dashdash() -> None:
    spec = f"spawn:{llvm_executor(16)}"
    for argv in (["jit", "x.c", "--", "--executor", spec], ["jit", "--executor", "tcp:127.0.0.1:9"],
                 ["jit", "--executor"]):
        assert probe(*argv)["early"] == [], argv


def test_jit_with_an_early_executor_and_a_bad_spec(tmp_path: Path) -> None:
    require_tool("clang-16")
    src = tmp_path / "p.c"
    src.write_text("int main(int c, char **v) { (void)v; return c + 40; }\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "CROSSJIT_DAEMON": "0"}
    ok = subprocess.run([sys.executable, "-m", "crossjit", "jit", "--executor",
                         f"spawn:{llvm_executor(16)}", str(src), "--", "a"],
                        capture_output=True, text=True, timeout=120, env=env)
    assert ok.returncode == 42, ok.stderr
    # A spec that cannot start: the ordinary start reports it (125), once.
    bad = subprocess.run([sys.executable, "-m", "crossjit", "jit", "--executor",
                          f"spawn:{tmp_path}/no-such-executor", str(src)],
                         capture_output=True, text=True, timeout=120, env=env)
    assert bad.returncode == 125
    assert bad.stderr.count("cannot start the executor") == 1, bad.stderr
    assert "Traceback" not in bad.stderr

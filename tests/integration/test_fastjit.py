"""The cold `jit` path without typer (cli/fastjit.py) behaves exactly as typer's `jit`.

Each command line runs twice, cold, in fresh processes: through the console script's
launcher (which takes the typer-free path for a plain jit command line) and through
typer's command (cli/app.py's main). stdout, stderr and the exit status must be equal —
for programs that succeed, fail to compile, miss symbols, get bad options or ask for help.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crossjit.cli import fastjit
from tests.integration.corpus import CORPUS, REPO
from tests.prereq import llvm_executor

pytestmark = pytest.mark.integration

VIA_LAUNCHER = ("import sys; from crossjit.cli.launcher import main; sys.argv[0] = 'crossjit'; "
                "main()")
VIA_TYPER = "import sys; from crossjit.cli.app import main; sys.argv[0] = 'crossjit'; main()"


def run(code: str, args: list[str], tmp_path: Path) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CROSSJIT_DAEMON": "0",
           "CROSSJIT_DAEMON_SOCKET": str(tmp_path / "nodaemon" / "d.sock")}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=120, check=False, cwd=tmp_path, env=env)
    return done.returncode, done.stdout, done.stderr


def cases(tmp_path: Path) -> dict[str, tuple[list[str], int | None]]:
    """name -> (jit's arguments, the exit status both must give)."""
    exe = str(llvm_executor(16))
    bad = tmp_path / "bad.c"
    bad.write_text("int main(void) { return undeclared_thing; }\n")
    c = str(CORPUS)
    return {
        "args after --": (["-e", f"spawn:{exe}", f"{c}/argc_sub1.c", "--", "a", "-g", "--x"],
                          3),
        "options interspersed and attached": (
            [f"{c}/defines.c", f"-I{c}/include", "-D", "WHO=\"fast\"", "-DLEVEL=5", "-O2",
             "--executor", f"spawn:{exe}"], 5),
        "-g and -v": (["-g", "-v", f"{c}/exit7.c", "-j", "1"], 7),
        "compile error": ([str(bad)], 125),
        "unresolved symbols": ([f"{c}/unresolved.c"], 125),
        "missing input": ([str(tmp_path / "nothere.c")], 125),
        "bad executor spec": (["-e", "bogus:thing", f"{c}/exit7.c"], 125),
        "out-of-range -O (typer's message)": (["-O7", f"{c}/exit7.c"], 125),
        "unknown option (typer's message)": (["--frobnicate", f"{c}/exit7.c"], 125),
        "--help": (["--help"], 0),
    }


def test_launcher_and_typer_agree(tmp_path: Path) -> None:
    for name, (args, status) in cases(tmp_path).items():
        run(VIA_LAUNCHER, ["jit", *args], tmp_path)  # both compare with the caches filled
        fast = run(VIA_LAUNCHER, ["jit", *args], tmp_path)
        typer = run(VIA_TYPER, ["jit", *args], tmp_path)
        # -v names load addresses and sizes: compare the lines, not the numbers in them.
        strip = ((lambda s: re.sub(r"0x[0-9a-f]+|\d+", "N", s)) if "-v" in args
                 else str)
        assert (fast[0], fast[1], strip(fast[2])) == (typer[0], typer[1], strip(typer[2])), name
        assert fast[0] == status, (name, fast)
    # The messages are the real ones, not empty agreement.
    assert "undeclared_thing" in run(VIA_LAUNCHER, ["jit", str(tmp_path / "bad.c")],
                                     tmp_path)[2]


def test_parse_hands_typer_what_it_does_not_know() -> None:
    assert fastjit.parse(["a.c", "-O3", "-lm", "-L/x", "--dlopen=libz.so.1", "--", "-O9"]) == {
        "inputs": ["a.c"], "opt_level": 3, "libs": ["m"], "lib_dirs": ["/x"],
        "dlopen": ["libz.so.1"], "program_args": ["-O9"]}
    for argv in (["--help"], ["-h", "a.c"], ["a.c", "-O"], ["a.c", "-O4"], ["-gv", "a.c"],
                 ["--", "a.c"], [], ["a.c", "--executor"], ["a.c", "--verbose=yes"],
                 ["a.c", "-j0"], ["a.c", "--jobs", "x"]):
        assert fastjit.parse(argv) is None, argv


def test_an_early_executor_is_not_left_behind(tmp_path: Path) -> None:
    """The executor starts before the compile; when the compile fails it must go."""
    exe = tmp_path / "early-executor"
    shutil.copy(llvm_executor(16), exe)
    bad = tmp_path / "bad.c"
    bad.write_text("int main(void) { return nope; }\n")
    status, _, err = run(VIA_LAUNCHER, ["jit", "-e", f"spawn:{exe}", str(bad)], tmp_path)
    assert status == 125 and "nope" in err, err
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = subprocess.run(["pgrep", "-f", str(exe)], capture_output=True, text=True,
                              check=False).stdout.split()
        if not left:
            break
        time.sleep(0.1)
    assert not left, f"executor processes left running: {left}"
    ok = run(VIA_LAUNCHER, ["jit", "-e", f"spawn:{exe}", str(CORPUS / "exit7.c")], tmp_path)
    assert ok[0] == 7, ok

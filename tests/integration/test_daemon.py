"""`crossjit daemon`: commands handed to a warm daemon behave exactly like in-process ones
(output, exit status, stdin, errors, Ctrl-C), and without a daemon nothing changes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.corpus import CORPUS, REPO
from tests.prereq import llvm_executor

pytestmark = pytest.mark.integration


def crossjit(env: dict[str, str], *args: str, stdin: bytes = b"",
             timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "crossjit", *args], input=stdin,
                          capture_output=True, timeout=timeout, check=False, cwd=REPO, env=env)


@pytest.fixture()
def daemon_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A daemon of this test's own (private socket), stopped afterwards."""
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "CROSSJIT_DAEMON_SOCKET": str(tmp_path / "d" / "daemon.sock")}
    env.pop("CROSSJIT_NO_DAEMON", None)
    started = crossjit(env, "daemon", "start")
    assert started.returncode == 0, started.stderr
    assert crossjit(env, "daemon", "status").returncode == 0
    yield env
    crossjit(env, "daemon", "stop")
    assert crossjit(env, "daemon", "status").returncode == 1


def daemon_log(env: dict[str, str]) -> str:
    return Path(env["CROSSJIT_DAEMON_SOCKET"]).with_suffix(".log").read_text()


def test_same_results_through_the_daemon(daemon_env: dict[str, str]) -> None:
    exe = f"spawn:{llvm_executor(16)}"
    direct = {**daemon_env, "CROSSJIT_NO_DAEMON": "1"}
    cases = [
        (("jit", "-e", exe, str(CORPUS / "argc_sub1.c"), "--", "a", "b c"), b""),
        (("jit", "-e", exe, str(CORPUS / "segv.c")), b""),          # 139, SIGSEGV named
        (("jit", "-e", exe, str(CORPUS / "exit7.c")), b""),         # exit(7)
        (("jit", "-e", exe, str(CORPUS / "stdin_echo.c")), b"one\ntwo\n"),  # stdin forwarded
        (("jit", "-e", exe, str(CORPUS / "unresolved.c")), b""),    # 125 + every symbol
        (("jit", "--bogus-flag", "x.c"), b""),                       # usage error: 125
    ]
    for args, stdin in cases:
        via = crossjit(daemon_env, *args, stdin=stdin)
        here = crossjit(direct, *args, stdin=stdin)
        assert (via.returncode, via.stdout, via.stderr) == \
            (here.returncode, here.stdout, here.stderr), args
    log = daemon_log(daemon_env)
    assert log.count("crossjit jit") == len(cases), log  # each one ran in the daemon


def test_ctrl_c_stops_the_program(daemon_env: dict[str, str], tmp_path: Path) -> None:
    src = tmp_path / "loop.c"
    src.write_text('#include <stdio.h>\n#include <unistd.h>\n'
                   'int main(void) { for (int i = 0;; i++) { printf("tick %d\\n", i); '
                   'fflush(stdout); usleep(100000); } }\n')
    proc = subprocess.Popen([sys.executable, "-m", "crossjit", "jit", "-e",
                             f"spawn:{llvm_executor(16)}", str(src)], cwd=REPO, env=daemon_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith(b"tick"), "the program did not start"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=5)  # no 5 s reap wait: the executor got SIGINT
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert b"interrupted" in err
    # Nothing keeps printing: the program's executor is gone.
    time.sleep(0.3)
    assert "crossjit jit" in daemon_log(daemon_env)


def test_without_a_daemon_commands_run_in_process(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "CROSSJIT_DAEMON_SOCKET": str(tmp_path / "none" / "daemon.sock")}
    assert crossjit(env, "daemon", "status").returncode == 1
    done = crossjit(env, "jit", "-e", f"spawn:{llvm_executor(16)}",
                    str(CORPUS / "argc_sub1.c"), "--", "x")
    assert done.returncode == 1 and b"arg 1: x" in done.stdout, done.stderr


def test_debug_runs_in_process_even_with_a_daemon(daemon_env: dict[str, str],
                                                   tmp_path: Path) -> None:
    """A debugger needs the real terminal: `crossjit debug` never goes through the daemon."""
    src = tmp_path / "seed.c"
    src.write_text("int sub1(int x) { return x - 1; } "
                   "int main(int argc, char **argv) { return sub1(argc); }\n")
    cmds = tmp_path / "cmds"
    cmds.write_text("continue\nprint x\ncontinue\n")  # runs from its first line, as gdb -x
    done = crossjit(daemon_env, "debug", str(src), "--break", "sub1", "--batch", str(cmds),
                    "-e", f"spawn:{llvm_executor(16)}", timeout=240)
    assert done.returncode == 0, done.stderr
    assert b"$1 = 1" in done.stdout + done.stderr
    assert "crossjit debug" not in daemon_log(daemon_env)


def test_a_socket_in_a_shared_folder_is_not_used(daemon_env: dict[str, str]) -> None:
    """The launcher hands over its environment and terminal only in a private (0700) folder."""
    folder = Path(daemon_env["CROSSJIT_DAEMON_SOCKET"]).parent
    folder.chmod(0o755)
    try:
        done = crossjit(daemon_env, "jit", "-e", f"spawn:{llvm_executor(16)}",
                        str(CORPUS / "argc_sub1.c"))
    finally:
        folder.chmod(0o700)
    assert done.returncode == 0, done.stderr  # ran in-process instead
    assert "crossjit jit" not in daemon_log(daemon_env)

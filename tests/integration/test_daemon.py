"""`crossjit daemon`: commands handed to a warm daemon behave exactly like in-process ones
(output, exit status, stdin, errors, Ctrl-C), and without a daemon nothing changes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.corpus import CORPUS, REPO
from tests.prereq import llvm_executor

pytestmark = pytest.mark.integration


def crossjit(env: dict[str, str], *args: str, stdin: bytes = b"",
             timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    # `python -m` puts the working directory first on sys.path: a test running another
    # copy of crossjit (PYTHONPATH) sets CWD elsewhere.
    return subprocess.run([sys.executable, "-m", "crossjit", *args], input=stdin,
                          capture_output=True, timeout=timeout, check=False,
                          cwd=env.get("CWD", REPO), env=env)


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


def test_a_client_in_another_network_namespace_runs_its_command_itself(
        daemon_env: dict[str, str]) -> None:
    """`ip netns exec …`/`unshare -n` crossjit must reach its own loopback: a daemon in
    the machine's namespace answers ELSEWHERE and the launcher runs the command here."""
    exe = f"spawn:{llvm_executor(16)}"
    args = ("jit", "-e", exe, str(CORPUS / "argc_sub1.c"), "--", "a", "b")
    done = subprocess.run(["unshare", "-n", sys.executable, "-m", "crossjit", *args],
                          capture_output=True, timeout=120, check=False, cwd=REPO,
                          env=daemon_env)
    assert done.returncode == 2, done.stderr  # argc - 1
    log = daemon_log(daemon_env)
    assert "another network or mount namespace" in log, log
    assert "crossjit jit" not in log, log  # no child of the daemon ran it
    assert crossjit(daemon_env, *args).returncode == 2  # this namespace: the daemon's
    assert "crossjit jit" in daemon_log(daemon_env)


def ctrl_c_at_first_tick(env: dict[str, str], timeout: float, *args: str) -> None:
    """`crossjit ARGS` runs a program printing "tick N" lines; SIGINT after the first
    one must end it within ``timeout`` s, with status 130 and "interrupted"."""
    proc = subprocess.Popen([sys.executable, "-m", "crossjit", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith(b"tick"), "the program did not start"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert b"interrupted" in err


def test_ctrl_c_stops_the_program(daemon_env: dict[str, str], tmp_path: Path) -> None:
    src = tmp_path / "loop.c"
    src.write_text('#include <stdio.h>\n#include <unistd.h>\n'
                   'int main(void) { for (int i = 0;; i++) { printf("tick %d\\n", i); '
                   'fflush(stdout); usleep(100000); } }\n')
    # timeout 5: no 5 s reap wait, the executor got SIGINT.
    ctrl_c_at_first_tick(daemon_env, 5, "jit", "-e", f"spawn:{llvm_executor(16)}", str(src))
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


# --- the daemon that starts itself ---------------------------------------------------------


def auto_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Auto-start asked for explicitly (pytest and CI never start one by themselves)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "CROSSJIT_DAEMON": "1",
           "CROSSJIT_DAEMON_SOCKET": str(tmp_path / "auto" / "daemon.sock"), **extra}
    env.pop("CROSSJIT_NO_DAEMON", None)
    return env


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def daemon_pid(env: dict[str, str]) -> int | None:
    try:
        pid = int(Path(env["CROSSJIT_DAEMON_SOCKET"]).with_suffix(".pid").read_text())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie its new parent has not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.fixture()
def stop_after(request: pytest.FixtureRequest) -> Iterator[list[dict[str, str]]]:
    """Environments whose daemons are stopped at the end, whatever the test did."""
    envs: list[dict[str, str]] = []
    yield envs
    for env in envs:
        crossjit(env, "daemon", "stop")
        assert daemon_pid(env) is None


def test_the_first_command_starts_a_daemon_the_next_ones_use_it(
        tmp_path: Path, stop_after: list[dict[str, str]]) -> None:
    env = auto_env(tmp_path)
    stop_after.append(env)
    direct = {**env, "CROSSJIT_DAEMON": "0"}
    exe = f"spawn:{llvm_executor(16)}"
    cases = [
        (("jit", "-e", exe, str(CORPUS / "argc_sub1.c"), "--", "a", "b c"), b""),
        (("jit", "-e", exe, str(CORPUS / "segv.c")), b""),
        (("jit", "-e", exe, str(CORPUS / "stdin_echo.c")), b"one\ntwo\n"),
        (("jit", "--bogus-flag", "x.c"), b""),
    ]
    assert crossjit(env, "daemon", "status").returncode == 1
    first = crossjit(env, *cases[0][0])  # runs here, and starts a daemon meanwhile
    assert first.returncode == 2 and b"arg 2: b c" in first.stdout, first.stderr
    wait_for(lambda: crossjit(env, "daemon", "status").returncode == 0, "no daemon started")
    status = crossjit(env, "daemon", "status")
    assert b"started by a command" in status.stdout and b"900 s idle" in status.stdout
    for args, stdin in cases:
        via = crossjit(env, *args, stdin=stdin)
        here = crossjit(direct, *args, stdin=stdin)
        assert (via.returncode, via.stdout, via.stderr) == \
            (here.returncode, here.stdout, here.stderr), args
    assert daemon_log(env).count("crossjit jit") == len(cases)  # all but the first
    # The socket and its folder are this user's alone.
    sock = Path(env["CROSSJIT_DAEMON_SOCKET"])
    assert sock.stat().st_mode & 0o777 == 0o600
    assert sock.parent.stat().st_mode & 0o777 == 0o700


def test_an_idle_daemon_exits(tmp_path: Path, stop_after: list[dict[str, str]]) -> None:
    env = auto_env(tmp_path, CROSSJIT_DAEMON_IDLE="2")
    stop_after.append(env)
    assert crossjit(env, "build", "--help").returncode == 0  # no work, but a command
    wait_for(lambda: daemon_pid(env) is not None, "no daemon started")
    pid = daemon_pid(env)
    wait_for(lambda: daemon_pid(env) is None, "the daemon did not exit when idle", 30)
    assert "idle for 2 s; exiting" in daemon_log(env)
    assert pid is not None
    wait_for(lambda: not alive(pid), "the daemon's process outlived its socket", 10)
    assert not Path(env["CROSSJIT_DAEMON_SOCKET"]).exists()


@pytest.mark.parametrize("setting", [{"CROSSJIT_DAEMON": "0"}, {"CROSSJIT_NO_DAEMON": "1"},
                                     {}, {"CI": "true"}],
                         ids=["DAEMON=0", "NO_DAEMON=1", "under-pytest", "CI"])
def test_no_daemon_is_started(tmp_path: Path, setting: dict[str, str]) -> None:
    env = {**auto_env(tmp_path), **setting}
    if "CROSSJIT_DAEMON" not in setting:
        env.pop("CROSSJIT_DAEMON")  # auto; PYTEST_CURRENT_TEST is inherited from pytest
    if setting == {}:
        env.pop("CI", None)
    done = crossjit(env, "jit", "-e", f"spawn:{llvm_executor(16)}",
                    str(CORPUS / "argc_sub1.c"))
    assert done.returncode == 0, done.stderr
    time.sleep(1.0)  # a daemon would have written its pid file by now
    assert daemon_pid(env) is None
    assert not Path(env["CROSSJIT_DAEMON_SOCKET"]).parent.exists()


def test_a_changed_crossjit_replaces_the_daemon(tmp_path: Path,
                                                 stop_after: list[dict[str, str]]) -> None:
    """The daemon runs the code it imported; after an edit (a checkout, an upgrade) the
    next command runs the new code here and a fresh daemon takes over."""
    tree = tmp_path / "tree"
    shutil.copytree(REPO / "crossjit", tree / "crossjit",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {**auto_env(tmp_path), "PYTHONPATH": str(tree), "CWD": str(tmp_path)}
    stop_after.append(env)
    args = ("jit", "-e", f"spawn:{llvm_executor(16)}", str(CORPUS / "exit7.c"))
    assert crossjit(env, *args).returncode == 7
    wait_for(lambda: daemon_pid(env) is not None, "no daemon started")
    old = daemon_pid(env)
    assert crossjit(env, *args).returncode == 7
    assert daemon_log(env).count("crossjit jit") == 1
    (tree / "crossjit" / "errors.py").write_text(
        (tree / "crossjit" / "errors.py").read_text() + "\n# edited\n")
    status = crossjit(env, "daemon", "status")
    assert b"stale" in status.stdout, status.stdout
    done = crossjit(env, *args)
    assert done.returncode == 7, done.stderr
    assert "crossjit changed on disk; exiting" in daemon_log(env)
    wait_for(lambda: daemon_pid(env) not in (None, old), "no fresh daemon started")
    assert crossjit(env, *args).returncode == 7
    assert daemon_log(env).count("crossjit jit") == 2  # the fresh one took it


def test_run_in_a_container_takes_the_daemons_spare_session(
        tmp_path: Path, stop_after: list[dict[str, str]]) -> None:
    """After a `run` of a container, the daemon keeps a connected session there; the next
    `run` takes it (no `docker exec` on its path) with the same output, stdin and status."""
    from tests.integration import containers_env

    containers_env.require_musl_executor_binary()
    containers_env.musl_sysroot()
    profile = tmp_path / "spare.yaml"
    profile.write_text("name: startup-daemon-spare\ntarget: {triple: x86_64-linux-musl}\n"
                       f"sysroot: debian-musl\nexecutor: musl\n"
                       f"sources: [{CORPUS / 'stdin_echo.c'}]\n")
    env = auto_env(tmp_path)
    stop_after.append(env)
    direct = {**env, "CROSSJIT_DAEMON": "0"}
    up = crossjit(direct, "executor", "up", "--profile", str(profile), timeout=600)
    assert up.returncode == 0, up.stderr
    name = "crossjit-startup-daemon-spare"
    try:
        first = crossjit(env, "run", str(profile), stdin=b"a\nb\n")  # here; starts a daemon
        assert (first.returncode, first.stdout) == (2, b"1: a\n2: b\n"), first.stderr
        wait_for(lambda: daemon_pid(env) is not None, "no daemon started")
        second = crossjit(env, "run", str(profile), stdin=b"a\n")  # the daemon learns it
        assert (second.returncode, second.stdout) == (1, b"1: a\n"), second.stderr
        wait_for(lambda: f"spare session ready in {name}" in daemon_log(env), "no spare")
        for i, stdin in enumerate((b"x\ny\nz\n", b"", b"no newline")):
            def fresh(made: int = i + 1) -> bool:  # each run takes one; the daemon makes more
                return daemon_log(env).count(f"spare session ready in {name}") >= made

            wait_for(fresh, "no fresh spare")
            via = crossjit(env, "run", str(profile), stdin=stdin)
            here = crossjit(direct, "run", str(profile), stdin=stdin)
            assert (via.returncode, via.stdout, via.stderr) == \
                (here.returncode, here.stdout, here.stderr), stdin
        assert daemon_log(env).count("(with the spare session)") == 3
    finally:
        down = crossjit(direct, "executor", "down", "--profile", str(profile))
    assert down.returncode == 0, down.stderr

    def spare_exec_gone() -> bool:
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        return not any(line.startswith("docker exec") and name in line
                       for line in ps.splitlines())

    wait_for(spare_exec_gone, "the spare's docker exec outlived its container", 30)


def session_pids(container: str) -> set[int]:
    """Host pids of the executor sessions in ``container`` (not its keep-alive process)."""
    top = subprocess.run(["docker", "top", container, "-eo", "pid,args"], capture_output=True,
                         text=True, timeout=30).stdout
    return {int(line.split()[0]) for line in top.splitlines()[1:]
            if "/run/crossjit/" in line and "docker-init" not in line}


def test_ctrl_c_stops_a_program_on_the_spare_session(
        tmp_path: Path, stop_after: list[dict[str, str]]) -> None:
    """Ctrl-C of a `run` that took the daemon's spare ends the program in the container
    (its session processes are killed), as it does without the daemon."""
    from tests.integration import containers_env

    containers_env.require_musl_executor_binary()
    containers_env.musl_sysroot()
    src = tmp_path / "loop.c"
    src.write_text('#include <stdio.h>\n#include <unistd.h>\n'
                   'int main(void) { for (int i = 0;; i++) { printf("tick %d\\n", i); '
                   'fflush(stdout); usleep(100000); } }\n')
    profile = tmp_path / "loop.yaml"
    profile.write_text("name: startup-daemon-ctrlc\ntarget: {triple: x86_64-linux-musl}\n"
                       f"sysroot: debian-musl\nexecutor: musl\nsources: [{src}]\n")
    env = auto_env(tmp_path)
    stop_after.append(env)
    direct = {**env, "CROSSJIT_DAEMON": "0"}
    name = "crossjit-startup-daemon-ctrlc"
    up = crossjit(direct, "executor", "up", "--profile", str(profile), timeout=600)
    assert up.returncode == 0, up.stderr
    try:
        assert crossjit(env, "daemon", "start").returncode == 0
        hello = tmp_path / "hello.yaml"  # same container name: teaches the daemon, exits
        hello.write_text(profile.read_text().replace(str(src), str(CORPUS / "exit7.c")))
        assert crossjit(env, "run", str(hello)).returncode == 7
        wait_for(lambda: f"spare session ready in {name}" in daemon_log(env), "no spare")
        spare = session_pids(name)  # the spare's executor: the one the loop will run in
        assert len(spare) == 1, spare
        ctrl_c_at_first_tick(env, 30, "run", str(profile))
        assert daemon_log(env).count("(with the spare session)") == 1
        wait_for(lambda: not spare & session_pids(name),
                 "the interrupted program's executor still runs", 30)
    finally:
        crossjit(direct, "executor", "down", "--profile", str(profile))

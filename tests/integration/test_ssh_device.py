"""SSH devices (``ssh:HOST``) against a real OpenSSH server in a private network namespace.

Shows: corpus programs give the same stdout and exit status as native runs; the executor
is uploaded once (machine-readable events); no TCP/UDP socket is opened on the device;
a killed ssh client, a killed sshd connection process or Ctrl-C ends the run within a
deadline and leaves nothing running on the device; a changed host key is refused with
OpenSSH's own message; libraries resolve by SONAME on the device; profiles work.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crossjit.targets.base import read_events
from tests.integration import ssh_device
from tests.integration.corpus import (
    CASES,
    REPO,
    Case,
    check,
    crossjit_cmd,
    crossjit_run,
    native_run,
)
from tests.prereq import missing, require_tool

pytestmark = pytest.mark.integration

SPEC = f"ssh:{ssh_device.ALIAS}"
BUILDS = REPO / "executor" / "build"
# A sensible subset: argv, libm, exit(), a crash, stdin, C++ with exceptions, several
# TUs, missing stdio flush, constructors, and a link failure.
SUBSET = ("argc_sub1", "libm_fp", "exit7", "segv", "stdin_echo", "cxx_exceptions",
          "multi_tu", "no_newline", "ctors", "unresolved")
DEADLINE = 20.0  # a lost connection must be reported within this

TICK = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) {
    for (int i = 0;; i++) { printf("tick %d\n", i); fflush(stdout); sleep(1); }
}
"""
WHERE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(void) {
    char cwd[256];
    printf("%s %s\n", getenv("GREETING"), getcwd(cwd, sizeof cwd));
    return 4;
}
"""

KILLSELF = r"""
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("before\n"); fflush(stdout); kill(getpid(), SIGKILL); return 0; }
"""


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ssh_device.Device]:
    for name in ("crossjit-executor-glibc", "crossjit-executor-musl"):
        if not (BUILDS / name).is_file():
            missing(f"{name} is not built (make -C executor)")
    with ssh_device.device(tmp_path_factory.mktemp("sshdev")) as dev:
        yield dev


@pytest.fixture
def env(device: ssh_device.Device, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Path:
    """crossjit's environment for the device; the events file it writes."""
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv("CROSSJIT_SSH_CONFIG", str(device.config))
    monkeypatch.setenv("CROSSJIT_EVENTS", str(events))
    return events


def events_of(path: Path, kind: str | None = None) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [e for e in read_events(path) if kind is None or e["event"] == kind]


def source(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def jit(*args: str, executor: str = SPEC) -> list[str]:
    return [sys.executable, "-m", "crossjit", "jit", "--executor", executor, *args]


def popen(cmd: list[str], *, new_session: bool = False) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            start_new_session=new_session)


def wait_for_line(proc: subprocess.Popen[bytes], needle: bytes, timeout: float = 60) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = b""
    while needle not in seen:
        assert time.monotonic() < deadline, seen
        line = proc.stdout.readline()
        assert line, f"EOF before {needle!r}: {proc.stderr.read() if proc.stderr else b''!r}"
        seen += line


# --- the corpus -----------------------------------------------------------------------------

@pytest.mark.parametrize("case", [c for c in CASES if c.name in SUBSET], ids=str)
def test_corpus_matches_native(case: Case, env: Path, native_dir: Path) -> None:
    expected = native_run(case, 0, False, native_dir) if case.native else None
    got = crossjit_run(crossjit_cmd(case, SPEC, 0, False), case.stdin)
    check(case, got, expected)


def test_optimised_with_debug_info(env: Path, native_dir: Path) -> None:
    case = next(c for c in CASES if c.name == "qsort_cb")
    check(case, crossjit_run(crossjit_cmd(case, SPEC, 2, True), case.stdin),
          native_run(case, 2, True, native_dir))


# --- upload once ------------------------------------------------------------------------------

def test_executor_is_uploaded_once(device: ssh_device.Device, env: Path) -> None:
    device.run("rm -rf ~/.cache/crossjit")
    case = next(c for c in CASES if c.name == "exit7")

    def run() -> None:
        got = crossjit_run(crossjit_cmd(case, SPEC, 0, False))
        assert got.status == 7, got.stderr.decode()

    run()
    logins = device.logins()
    run()
    assert device.logins() == logins + 1  # a warm run is one SSH connection
    uploads, cached = events_of(env, "executor-uploaded"), events_of(env, "executor-cached")
    sha = hashlib.sha256((BUILDS / "crossjit-executor-glibc").read_bytes()).hexdigest()
    assert [(e["build"], e["sha256"]) for e in uploads] == [("crossjit-executor-glibc", sha)]
    assert [e["sha256"] for e in cached] == [sha]  # the second run transferred nothing
    assert uploads[0]["time"] < cached[0]["time"]
    # content-addressed in the user's cache on the device, private to that user
    listing = device.run(f"cd ~/.cache/crossjit/executors && sha256sum {sha} && stat -c %a {sha}")
    assert listing.split() == [sha, sha, "700"]
    # a device whose cache was wiped since: crossjit notices and uploads again
    device.run("rm -rf ~/.cache/crossjit")
    run()
    assert len(events_of(env, "executor-uploaded")) == 2
    assert "crossjit" not in device.run("ls -a ~")  # no socket left behind


def test_musl_target_gets_the_musl_executor(device: ssh_device.Device, env: Path) -> None:
    if not Path("/lib/ld-musl-x86_64.so.1").exists():
        missing("the device has no musl loader (apt-get install musl)")
    case = next(c for c in CASES if c.name == "argc_sub1")
    got = crossjit_run(jit("--target", "x86_64-linux-musl", "-v", *map(str, case.paths()),
                           "--", *case.args))
    assert got.status == 3, got.stderr.decode()
    assert b"x86_64-pc-linux-musl" in got.stderr
    builds = {e["build"] for e in events_of(env) if e["event"].startswith("executor-")}
    assert builds == {"crossjit-executor-musl"}


# --- no network socket on the device -------------------------------------------------------

def test_no_listening_socket_on_the_device(device: ssh_device.Device, env: Path,
                                          tmp_path: Path) -> None:
    before = device.listening_tcp_udp()
    assert before == {f"{device.address}:22"}  # sshd, nothing else
    proc = popen(jit(str(source(tmp_path, "tick.c", TICK))))
    try:
        wait_for_line(proc, b"tick 1")
        during = device.listening_tcp_udp()
        executors = [c for c in device.processes().values() if "connect=" in c]
        assert len(executors) == 2, executors  # the shell and the executor
    finally:
        proc.kill()
        proc.wait()
    assert during == before
    assert not device.wait_no_processes()


# --- losing the connection ---------------------------------------------------------------------

def _lose_connection(device: ssh_device.Device, env: Path, tmp_path: Path,
                     how: str) -> None:
    proc = popen(jit(str(source(tmp_path, "tick.c", TICK))), new_session=True)
    try:
        wait_for_line(proc, b"tick 1")
        assert any("connect=" in c for c in device.processes().values())
        t0 = time.monotonic()
        if how == "ssh client":
            session = events_of(env, "ssh-session")[-1]
            os.kill(int(session["pid"]), signal.SIGKILL)
        elif how == "sshd":
            (sshd,) = [pid for pid, cmd in device.processes().items()
                       if cmd.startswith(f"sshd: {device.user}@")]
            os.kill(sshd, signal.SIGKILL)
        else:  # Ctrl-C at the terminal: SIGINT to the whole foreground process group
            os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=DEADLINE)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = err.decode(errors="replace")
    assert elapsed < DEADLINE
    if how == "ctrl-c":
        assert proc.returncode == 130, text
    else:
        assert proc.returncode == 125, text
        assert "error: the connection to the executor on ssh:device was lost" in text
    assert "Traceback" not in text
    left = device.wait_no_processes()
    assert not left, f"left running on the device: {left}"


@pytest.mark.parametrize("how", ["ssh client", "sshd", "ctrl-c"])
def test_lost_connection_is_an_error_and_leaves_nothing(
        device: ssh_device.Device, env: Path, tmp_path: Path, how: str) -> None:
    _lose_connection(device, env, tmp_path, how)


def test_executor_killed_by_a_signal_is_reported_like_locally(env: Path,
                                                              tmp_path: Path) -> None:
    src = source(tmp_path, "killself.c", KILLSELF)
    got = crossjit_run(jit(str(src)), timeout=60)
    assert (got.status, got.stdout) == (137, b"before\n"), got.stderr.decode()
    # as a spawned executor's: the signal that ended the process is the program's
    assert b"program killed by SIGKILL (with the executor process running it)" in got.stderr


# --- host keys ----------------------------------------------------------------------------------

@pytest.mark.parametrize("remembered", [False, True], ids=["first-contact", "remembered"])
def test_changed_host_key_is_refused(device: ssh_device.Device, env: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch, remembered: bool) -> None:
    """Refused by OpenSSH with its own words, whether crossjit probes the device first or
    goes straight to the session with what an earlier run learnt about it."""
    name = f"key_{tmp_path.name}"
    right = (device.workdir / "ssh_config.known_hosts").read_text()
    config = device.write_config(name, right)
    monkeypatch.setenv("CROSSJIT_SSH_CONFIG", str(config))
    if remembered:
        got = crossjit_run(crossjit_cmd(CASES[0], SPEC, 0, False))
        assert got.status == 3, got.stderr.decode()
        env.unlink()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    str(tmp_path / "other")], check=True)
    other = " ".join((tmp_path / "other.pub").read_text().split()[:2])
    device.write_config(name, f"{device.address} {other}\n")  # the device "changed" its key
    got = crossjit_run(crossjit_cmd(CASES[0], SPEC, 0, False))
    err = got.stderr.decode()
    assert got.status == 125
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in err  # OpenSSH's own words
    assert "Host key verification failed." in err
    assert "Traceback" not in err
    assert not [e for e in events_of(env) if e["event"] != "ssh-session"]  # nothing sent


def test_options_cannot_switch_off_host_key_checking(env: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROSSJIT_SSH_OPTIONS", "-o StrictHostKeyChecking=no")
    got = crossjit_run(crossjit_cmd(CASES[0], SPEC, 0, False))
    assert got.status == 125
    assert b"may not switch off host-key checking" in got.stderr


# --- libraries, profiles, debug -----------------------------------------------------------------

def test_dlopen_resolves_by_soname_on_the_device(env: Path, tmp_path: Path) -> None:
    src = REPO / "tests" / "corpus" / "zlib_crc.c"
    exe = tmp_path / "zlib_crc"
    subprocess.run(["clang-16", str(src), "-o", str(exe), "-lz"], check=True)
    native = subprocess.run([str(exe)], capture_output=True, check=False)
    got = crossjit_run(jit("--dlopen", "libz.so", str(src)))
    assert (got.stdout, got.status) == (native.stdout, native.returncode), got.stderr.decode()
    (resolved,) = events_of(env, "library-resolved")
    assert (resolved["name"], resolved["soname"]) == ("libz.so", "libz.so.1")
    assert str(resolved["path"]).startswith("/")  # the device's own file
    got = crossjit_run(jit("--dlopen", "libnot-there.so", str(src)))
    assert got.status == 125
    assert b"no library libnot-there.so on the device ssh:device" in got.stderr


def test_profile_with_ssh_executor(device: ssh_device.Device, env: Path,
                                   tmp_path: Path) -> None:
    source(tmp_path, "where.c", WHERE)
    profile = tmp_path / "where.yaml"
    profile.write_text(
        "name: where\ntarget:\n  triple: x86_64-linux-gnu\nsources: where.c\n"
        f"executor:\n  ssh: {ssh_device.ALIAS}\n  env: {{GREETING: hello}}\n"
        "  workdir: /tmp\n")
    got = crossjit_run([sys.executable, "-m", "crossjit", "run", str(profile)])
    assert (got.status, got.stdout) == (4, b"hello /tmp\n"), got.stderr.decode()
    checked = crossjit_run([sys.executable, "-m", "crossjit", "profile", "check", str(profile)])
    assert b"  executor  ssh:device (a device, over your OpenSSH)" in checked.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(profile.read_text() + "  ports: [8000]\n")
    got = crossjit_run([sys.executable, "-m", "crossjit", "profile", "check", str(bad)])
    assert got.status == 125
    assert f"{bad}:9: executor.ports: ports does not apply to an ssh executor" in \
        got.stderr.decode()


SEED = "int sub1(int x) { return x - 1; } int main(int argc, char **argv) { return sub1(argc); }\n"


def test_debug_seed_scenario_with_the_devices_gdbserver(device: ssh_device.Device, env: Path,
                                                        tmp_path: Path) -> None:
    """gdb here, gdbserver on the device: a breakpoint set before the code exists hits with
    x == 1, the source line shows, x = 42 is set, and the program exits 41."""
    require_tool("gdb")
    if not Path("/usr/bin/gdbserver").exists():  # the device is this machine's filesystem
        missing("gdbserver not installed (apt-get install gdbserver)")
    src = source(tmp_path, "seed.c", SEED)
    cmds = source(tmp_path, "cmds", "continue\nprint x\nset var x = 42\nprint x\ncontinue\n")
    got = crossjit_run([sys.executable, "-m", "crossjit", "debug", "--executor", SPEC,
                        "--break", "sub1", "--batch", str(cmds), str(src)], timeout=240)
    out = (got.stdout + got.stderr).decode(errors="replace")
    assert f"hit Breakpoint 1, sub1 (x=1) at {src}:1" in out, out
    assert f"1\t{SEED.strip()}" in out, out
    assert "$1 = 1" in out and "$2 = 42" in out, out
    assert got.status == 41, out
    assert not device.wait_no_processes()  # executor and gdbserver are gone
    got = crossjit_run([sys.executable, "-m", "crossjit", "debug", "--executor", SPEC,
                        "--debugger", "lldb", "--batch", str(cmds), str(src)])
    assert got.status == 125
    assert b"lldb cannot debug on another machine yet" in got.stderr
    assert not device.wait_no_processes()


# --- run --watch ------------------------------------------------------------------------------

def test_watch_follows_edits_on_the_device(device: ssh_device.Device, env: Path,
                                           tmp_path: Path) -> None:
    from tests.integration.test_watch import TICKER, edit, start

    main_c = source(tmp_path, "main.c", TICKER)
    source(tmp_path, "msg.h", '#define MSG "v1"\n')
    profile = tmp_path / "ticker.yaml"
    profile.write_text("name: ssh-ticker\ntarget:\n  triple: x86_64-linux-gnu\n"
                       f"executor:\n  ssh: {ssh_device.ALIAS}\n  dlopen: [libz.so]\n"
                       "sources: [main.c]\n")

    def executors() -> set[int]:  # the executors themselves, not their shells
        return {pid for pid, c in device.processes().items()
                if "connect=" in c and not c.startswith("sh ")}

    with start(profile, tmp_path) as w:
        w.wait_for("the first program's output", lambda: "v1 tick" in w.out())
        w.wait_for_err("crossjit: started in")
        first = executors()  # the first program's (and perhaps a spare's)
        edit(main_c, '"tick"', '"tock"')
        w.wait_for("the edited program's output", lambda: "v1 tock" in w.out())
        w.wait_for_err("main.c: reloaded in")
        (tmp_path / "msg.h").write_text('#define MSG "v2"\n')
        w.wait_for("the edited header's output", lambda: "v2 tock" in w.out())
        w.wait_for_err("msg.h: reloaded in")
        # the replaced programs' executors are gone: what runs is the program and a spare
        w.wait_for("only the current and the spare executor on the device",
                   lambda: len(executors()) == 2 and not executors() & first)
        assert w.interrupt() == 130, w.err()[-3000:]
    resolved = events_of(env, "library-resolved")
    assert [(e["name"], e["soname"]) for e in resolved] == [("libz.so", "libz.so.1")]
    assert not device.wait_no_processes()
    size = w.stdout.stat().st_size
    time.sleep(0.5)
    assert w.stdout.stat().st_size == size, "a program still prints after the watcher ended"

"""`crossjit debug` on executors in hardened containers, with the real debuggers.

The seed scenario (a breakpoint on sub1 set before any code exists hits with x == 1, the
source line is read from the host's .c file, x = 42 is set from the debugger, the program
exits 41) with gdb and lldb-16, on `docker:musl` (crossjit-executor, FROM scratch) and
`docker:debian` (LLVM 16's llvm-jitlink-executor behind socat), from a profile whose
executor is its own container (started by `crossjit debug`, removed afterwards), and
interactively on a terminal.

The debugger runs on this host and attaches to the executor by its host pid. At the
breakpoint — while the debugger is attached — the batch file asks the engine for the
container's settings and processes: the hardening is what `executor up` set (no
capability added, none kept, no-new-privileges, read-only root, no network, no port),
and the traced pid is one of the container's processes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from crossjit.targets import executors
from tests.integration import containers_env as env
from tests.prereq import require_file, require_tool

pytestmark = pytest.mark.integration

SEED = "int sub1(int x) { return x - 1; } int main(int argc, char **argv) { return sub1(argc); }\n"
SEED_LINE = SEED.strip()
INSPECT = "{{json .HostConfig}}"


def debugger(name: str) -> str:
    if name == "gdb":
        return require_tool("gdb", "gdb (apt-get install gdb)")
    return str(require_file("/usr/bin/lldb-16", "lldb-16 (apt-get install lldb-16)"))


def commands(tmp: Path, dbg: str, container: str, *, script: bool = False) -> str:
    """The seed's batch file, plus the engine's view of the container at the breakpoint.

    For `--break sub1` (the file first lets the program go), or with ``script`` the
    seed's own script as written: `break sub1`/`b sub1`, `continue`/`c`, `print x`/`p x`,
    `set var x = 42`/`expr x = 42`, `continue`/`c`."""
    probe = tmp / "probe.sh"  # a script: lldb's `platform shell` runs no shell syntax
    probe.write_text(f"echo @@hostconfig@@; docker inspect --format '{INSPECT}' {container}\n"
                     f"echo @@top@@; docker top {container} -eo pid,args; echo @@end@@\n")
    if script:
        if dbg == "gdb":
            return f"break sub1\ncontinue\nprint x\nset var x = 42\nshell sh {probe}\ncontinue\n"
        return f"b sub1\nc\np x\nexpr x = 42\nplatform shell sh {probe}\nc\n"
    if dbg == "gdb":
        return f"continue\nprint x\nset var x = 42\nprint x\nshell sh {probe}\ncontinue\n"
    return (f"continue\nframe variable x\nexpression x = 42\nframe variable x\n"
            f"platform shell sh {probe}\ncontinue\n")


def crossjit_debug(tmp: Path, *args: str, timeout: float = 300
                   ) -> subprocess.CompletedProcess[str]:
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    cmd = [sys.executable, "-m", "crossjit", "debug", "-v", *args]
    environ = dict(os.environ, PYTHONPATH=str(env.REPO))
    return subprocess.run(cmd, cwd=tmp, env=environ, capture_output=True, text=True,
                          timeout=timeout, check=False)


def attached_pid(out: str, container: str) -> int:
    m = re.search(rf"attaching to pid (\d+) \(in {re.escape(container)}\)", out)
    assert m, out
    return int(m.group(1))


def assert_seed(out: str, dbg: str, src: Path, x: int = 1) -> None:
    if dbg == "gdb":
        assert f"Breakpoint 1, sub1 (x={x}) at {src}:1" in out, out
        assert f"1\t{SEED_LINE}" in out, out  # the line, read from the host's .c file
        assert f"$1 = {x}" in out and "$2 = 42" in out, out
    else:
        assert f"sub1(x={x}) at {src.name}:1" in out, out
        assert f"-> 1   \t{SEED_LINE}" in out, out
        assert f"(int) x = {x}" in out and "(int) x = 42" in out, out


def assert_hardened_while_attached(out: str, pid: int) -> None:
    """From the engine, at the breakpoint: nothing was added for the debugger."""
    host = json.loads(out.split("@@hostconfig@@\n", 1)[1].split("\n", 1)[0])
    assert host["CapAdd"] in (None, []), host["CapAdd"]  # no SYS_PTRACE
    assert host["CapDrop"] == ["ALL"]
    assert host["Privileged"] is False
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["ReadonlyRootfs"] is True
    assert host["NetworkMode"] == "none"
    assert host["PortBindings"] in (None, {})  # no published port, not even loopback
    top = out.split("@@top@@\n", 1)[1].split("@@end@@\n", 1)[0]
    pids = {int(line.split()[0]) for line in top.splitlines()[1:] if line.strip()}
    assert pid in pids, top  # the traced executor is one of the container's processes


@pytest.mark.parametrize("variant", ["musl", "debian"])
@pytest.mark.parametrize("dbg", ["gdb", "lldb"])
def test_seed_scenario(tmp_path: Path, dbg: str, variant: str,
                       request: pytest.FixtureRequest) -> None:
    debugger(dbg)
    container: str = request.getfixturevalue(variant)
    before = env.engine().inspect(container)["Id"]
    (tmp_path / "seed.c").write_text(SEED)
    (tmp_path / "cmds").write_text(commands(tmp_path, dbg, container))
    p = crossjit_debug(tmp_path, "seed.c", "--batch", "cmds", "--break", "sub1",
                       "--debugger", dbg, "-e", f"docker:{variant}")
    out = p.stdout + p.stderr
    assert_seed(out, dbg, tmp_path / "seed.c")
    assert p.returncode == 41, out
    assert_hardened_while_attached(out, attached_pid(out, container))
    if dbg == "gdb" and variant == "musl":
        # gdb read the executor's libraries from inside the container (there is no
        # /lib/ld-musl-x86_64.so.1 of this image on the host).
        assert "target:/lib/ld-musl-x86_64.so.1" in out, out
    assert env.engine().inspect(container)["Id"] == before  # same container, not replaced


@pytest.mark.parametrize("dbg", ["gdb", "lldb"])
def test_profile_in_its_own_container(tmp_path: Path, dbg: str) -> None:
    """A profile whose executor is a container: started for the session, hardening as
    always, removed afterwards; the profile's argument makes argc (x) 2."""
    debugger(dbg)
    env.require_musl_executor_binary()
    env.musl_sysroot()
    name = f"dbgseed-{dbg}-{os.getpid()}"
    container = f"crossjit-{name}"
    assert env.engine().get(container) is None
    (tmp_path / "seed.c").write_text(SEED)
    (tmp_path / "seed.yaml").write_text(
        f"name: {name}\ntarget:\n  triple: x86_64-linux-musl\nsysroot: debian-musl\n"
        "executor: musl\nsources: seed.c\nargs: [from-profile]\n"
    )
    (tmp_path / "cmds").write_text(commands(tmp_path, dbg, container))
    try:
        p = crossjit_debug(tmp_path, "seed.yaml", "--batch", "cmds", "--break", "sub1",
                           "--debugger", dbg)
        out = p.stdout + p.stderr
        assert f"starting {container}" in out, out
        assert_seed(out, dbg, tmp_path / "seed.c", x=2)
        assert p.returncode == 41, out
        assert_hardened_while_attached(out, attached_pid(out, container))
        assert env.engine().get(container) is None, "the container crossjit debug started"
    finally:
        executors.down(container)  # only ours, and only if the test failed midway


@pytest.mark.parametrize("dbg", ["gdb", "lldb"])
def test_seed_script_in_a_profile_container(tmp_path: Path, dbg: str) -> None:
    """The seed's script as written (no --break) on the musl container of a profile: its
    breakpoint is pending until the JIT'd code registers; `c` lets the program go."""
    debugger(dbg)
    env.require_musl_executor_binary()
    env.musl_sysroot()
    name = f"dbgscript-{dbg}-{os.getpid()}"
    container = f"crossjit-{name}"
    (tmp_path / "seed.c").write_text(SEED)
    (tmp_path / "seed.yaml").write_text(
        f"name: {name}\ntarget:\n  triple: x86_64-linux-musl\nsysroot: debian-musl\n"
        "executor: musl\nsources: seed.c\n"
    )
    (tmp_path / "cmds").write_text(commands(tmp_path, dbg, container, script=True))
    try:
        p = crossjit_debug(tmp_path, "seed.yaml", "--batch", "cmds", "--debugger", dbg)
        out = p.stdout + p.stderr
        src = tmp_path / "seed.c"
        if dbg == "gdb":
            assert "Breakpoint 1 (sub1) pending." in out, out
            assert f"Breakpoint 1, sub1 (x=1) at {src}:1" in out, out
            assert f"1\t{SEED_LINE}" in out and "$1 = 1" in out, out
        else:
            assert "Breakpoint 1: no locations (pending)." in out, out
            assert f"sub1(x=1) at {src.name}:1" in out, out
            assert f"-> 1   \t{SEED_LINE}" in out, out
            assert "(int) $0 = 1" in out and "(int) $1 = 42" in out, out
        assert p.returncode == 41, out
        assert_hardened_while_attached(out, attached_pid(out, container))
        assert env.engine().get(container) is None, "the container crossjit debug started"
    finally:
        executors.down(container)


def test_container_not_running(tmp_path: Path) -> None:
    env.engine()
    (tmp_path / "seed.c").write_text(SEED)
    p = crossjit_debug(tmp_path, "seed.c", "-e", "docker:no-such-variant", timeout=60)
    assert p.returncode == 125, p.stdout + p.stderr
    assert "crossjit-no-such-variant is not running" in p.stderr, p.stderr


@pytest.mark.parametrize("dbg", ["gdb", "lldb"])
def test_interactive_session(tmp_path: Path, dbg: str, musl: str) -> None:
    """The debugger owns the terminal (the docker exec client has /dev/null as stdin and
    a session of its own); the user's commands reach the container's executor."""
    from tests.integration.test_debug_local import Terminal

    debugger(dbg)
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    (tmp_path / "seed.c").write_text(SEED)
    term = Terminal([sys.executable, "-m", "crossjit", "debug", "seed.c", "--break", "sub1",
                     "--debugger", dbg, "-e", "docker:musl"], tmp_path)
    try:
        prompt = "(gdb) " if dbg == "gdb" else "(lldb) "
        term.expect("Breakpoint 1, sub1 (x=1)" if dbg == "gdb"
                    else "stop reason = breakpoint 1.1")
        term.expect(prompt)
        term.send("print x" if dbg == "gdb" else "frame variable x")
        term.expect("$1 = 1" if dbg == "gdb" else "(int) x = 1")
        term.expect(prompt)
        term.send("set var x = 42" if dbg == "gdb" else "expression x = 42")
        term.send("continue")
        term.expect("exited normally" if dbg == "gdb" else "exited with status = 0")
        term.send("quit")
        assert term.wait() == 41, term.seen
    finally:
        if term.proc.poll() is None:  # a failed expect: the session ends with crossjit
            term.proc.terminate()
            term.proc.wait(30)

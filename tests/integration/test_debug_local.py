"""`crossjit debug` with the real debuggers (Debian's gdb, lldb-16) on local executors.

The seed scenario: a breakpoint on sub1 set before any code exists hits with x == 1,
the source line is shown from the .c file, x = 42 is set from the debugger, and the
program exits 41 — with gdb and lldb, on LLVM 16's executor and crossjit-executor, both
from the seed's own scripts run as `gdb -x` / `lldb -s` would (`break sub1`, `continue`,
`print x`, ...) and with `--break sub1`. Plus backtraces through JIT'd callers, gdb on
every LLVM executor dialect, and errors.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.prereq import LLVM_VERSIONS, llvm_executor, require_file, require_tool

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SEED = "int sub1(int x) { return x - 1; } int main(int argc, char **argv) { return sub1(argc); }\n"
SEED_LINE = SEED.strip()

BT = """\
#include <stdio.h>
int leaf(int v) {
    return v * 2;
}
int middle(int v) {
    int r = leaf(v + 1);
    return r + 1;
}
int main(void) {
    int r = middle(20);
    printf("r=%d\\n", r);
    return r == 43 ? 0 : 1;
}
"""

# With --break sub1: the file runs from its first line, so it first lets the program go.
GDB_SEED = "continue\nprint x\nset var x = 42\nprint x\ncontinue\n"
LLDB_SEED = "continue\nframe variable x\nexpression x = 42\nframe variable x\ncontinue\n"
# The seed's scripts exactly as a gdb / lldb user writes them (`run` or `continue`).
GDB_SCRIPT = "break sub1\n{go}\nprint x\nset var x = 42\ncontinue\n"
LLDB_SCRIPT = "b sub1\n{go}\np x\nexpr x = 42\nc\n"


def executor(name: str) -> Path:
    if name == "llvm-16":
        return llvm_executor(16)
    return require_file(REPO / "executor/build/crossjit-executor-glibc",
                        "crossjit-executor-glibc (make -C executor)")


def debugger(name: str) -> str:
    if name == "gdb":
        return require_tool("gdb", "gdb (apt-get install gdb)")
    return str(require_file("/usr/bin/lldb-16", "lldb-16 (apt-get install lldb-16)"))


def crossjit_debug(tmp: Path, src: str, name: str, commands: str, *args: str,
                   timeout: float = 240) -> subprocess.CompletedProcess[str]:
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    (tmp / name).write_text(src)
    (tmp / "cmds").write_text(commands)
    cmd = [sys.executable, "-m", "crossjit", "debug", name, "--batch", "cmds", *args]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.mark.parametrize("exe", ["llvm-16", "crossjit-glibc"])
@pytest.mark.parametrize("dbg", ["gdb", "lldb"])
def test_seed_scenario(tmp_path: Path, dbg: str, exe: str) -> None:
    debugger(dbg)
    p = crossjit_debug(tmp_path, SEED, "seed.c", GDB_SEED if dbg == "gdb" else LLDB_SEED,
                       "--debugger", dbg, "--break", "sub1", "-e", f"spawn:{executor(exe)}")
    src = str(tmp_path / "seed.c")
    assert_seed_scenario(p, dbg, f"Breakpoint 1, sub1 (x=1) at {src}:1" if dbg == "gdb"
                         else "sub1(x=1) at seed.c:1")


def assert_seed_scenario(p: subprocess.CompletedProcess[str], dbg: str, stop: str) -> None:
    """The seed scenario's transcript: ``stop`` (how this debugger shows the breakpoint
    hit), the line read from the .c file, x printed as 1 then 42; the program exits 41."""
    out = p.stdout + p.stderr
    assert stop in out, out
    if dbg == "gdb":
        assert f"1\t{SEED_LINE}" in out, out  # the line, read from the .c file
        assert "$1 = 1" in out and "$2 = 42" in out, out
    else:
        assert f"-> 1   \t{SEED_LINE}" in out, out
        assert "(int) x = 1" in out and "(int) x = 42" in out, out
    assert p.returncode == 41, out


@pytest.mark.parametrize("exe", ["llvm-16", "crossjit-glibc"])
@pytest.mark.parametrize("dbg", ["gdb", "lldb"])
def test_seed_script_as_written(tmp_path: Path, dbg: str, exe: str) -> None:
    """No --break: the breakpoint comes from the file, pending until the code registers."""
    debugger(dbg)
    go = "continue" if dbg == "gdb" else "c"
    script = (GDB_SCRIPT if dbg == "gdb" else LLDB_SCRIPT).format(go=go)
    p = crossjit_debug(tmp_path, SEED, "seed.c", script, "--debugger", dbg,
                       "-e", f"spawn:{executor(exe)}")
    out = p.stdout + p.stderr
    assert_seed_script(out, dbg, tmp_path / "seed.c")
    assert p.returncode == 41, out


def assert_seed_script(out: str, dbg: str, src: Path) -> None:
    if dbg == "gdb":
        assert 'Breakpoint 1 (sub1) pending.' in out, out  # set before the code existed
        assert f"Breakpoint 1, sub1 (x=1) at {src}:1" in out, out
        assert f"1\t{SEED_LINE}" in out, out
        assert "$1 = 1" in out, out
    else:
        assert "Breakpoint 1: no locations (pending)." in out, out
        assert "sub1(x=1) at seed.c:1" in out, out
        assert f"-> 1   \t{SEED_LINE}" in out, out
        assert "(lldb) p x\n(int) $0 = 1" in out, out
        assert "(lldb) expr x = 42\n(int) $1 = 42" in out, out


@pytest.mark.parametrize("dbg", ["gdb", "lldb"])
def test_seed_script_with_run(tmp_path: Path, dbg: str) -> None:
    """`run`: the program is already running when the debugger attaches, so it continues."""
    debugger(dbg)
    script = (GDB_SCRIPT if dbg == "gdb" else LLDB_SCRIPT).format(go="run")
    p = crossjit_debug(tmp_path, SEED, "seed.c", script, "--debugger", dbg)
    out = p.stdout + p.stderr
    assert_seed_script(out, dbg, tmp_path / "seed.c")
    assert "Start it from the beginning" not in out and "kill it and restart" not in out, out
    assert p.returncode == 41, out


@pytest.mark.parametrize("dbg", ["gdb", "lldb"])
def test_commands_for_a_stop_before_continue_fail_clearly(tmp_path: Path, dbg: str) -> None:
    """As with gdb -x, `print x` before the program runs is an error that ends the file."""
    debugger(dbg)
    cmds = "print x\ncontinue\n" if dbg == "gdb" else "frame variable x\ncontinue\n"
    p = crossjit_debug(tmp_path, SEED, "seed.c", cmds, "--debugger", dbg, "--break", "sub1")
    assert p.returncode == 125, p.stdout + p.stderr
    assert "before the program ran" in p.stderr and "runs from its first line" in p.stderr
    assert "Traceback" not in p.stderr


def test_run_with_arguments_in_the_file_is_refused(tmp_path: Path) -> None:
    debugger("gdb")
    p = crossjit_debug(tmp_path, SEED, "seed.c", "break sub1\nrun a b\n")
    assert p.returncode == 125, p.stdout + p.stderr
    assert "cmds, line 2: `run a b` passes arguments to the program" in p.stderr, p.stderr
    assert "after `--`" in p.stderr


@pytest.mark.parametrize("dbg", ["gdb", "lldb"])
def test_backtrace_names_jit_callers(tmp_path: Path, dbg: str) -> None:
    debugger(dbg)
    cmds = "continue\nbt\ncontinue\n" if dbg == "gdb" else "c\nthread backtrace\nc\n"
    p = crossjit_debug(tmp_path, BT, "bt.c", cmds, "--debugger", dbg, "--break", "leaf")
    out = p.stdout + p.stderr
    if dbg == "gdb":
        assert "#0  leaf (v=21) at " in out and "bt.c:3" in out, out
        assert "in middle (v=20) at " in out and "bt.c:6" in out, out
        assert "in main () at " in out and "bt.c:10" in out, out
        assert "__crossjit_start" in out, out  # unwinds on through crossjit's runtime
    else:
        assert "`leaf(v=21) at bt.c:3" in out, out
        assert "`middle(v=20) at bt.c:6" in out, out
        assert "`main at bt.c:10" in out, out
    assert "r=43" in out and p.returncode == 0, out


@pytest.mark.parametrize("version", LLVM_VERSIONS)
def test_gdb_sees_jit_code_on_every_llvm(tmp_path: Path, version: int) -> None:
    """The dialects register differently (14-16 wrapper, 17-19 + bool, 22 alloc action)."""
    debugger("gdb")
    exe = llvm_executor(version)
    p = crossjit_debug(tmp_path, SEED, "seed.c", "continue\ninfo functions ^sub1$\n" +
                       GDB_SEED.removeprefix("continue\n"),
                       "--break", "sub1", "-e", f"spawn:{exe}")
    out = p.stdout + p.stderr
    assert f"File {tmp_path / 'seed.c'}:" in out and "int sub1(int);" in out, out
    assert "Breakpoint 1, sub1 (x=1)" in out and "$2 = 42" in out, out
    assert p.returncode == 41, out


def test_program_args_and_no_breakpoint(tmp_path: Path) -> None:
    """Without --break the program just runs under the debugger; arguments reach it."""
    debugger("gdb")
    p = crossjit_debug(tmp_path, SEED, "seed.c", "", "--", "a", "b")
    assert p.returncode == 2, p.stdout + p.stderr  # argc 3 - 1


def test_remote_executor_is_refused(tmp_path: Path) -> None:
    p = crossjit_debug(tmp_path, SEED, "seed.c", "", "-e", "tcp:127.0.0.1:9")
    assert p.returncode == 125
    assert "local executor" in p.stderr


def test_unknown_debugger(tmp_path: Path) -> None:
    p = crossjit_debug(tmp_path, SEED, "seed.c", "", "--debugger", "windbg")
    assert p.returncode == 125 and "unknown debugger" in p.stderr


class Terminal:
    """A child on a pseudo-terminal, driven like a user would (stdlib only)."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        import pty

        self.master, slave = pty.openpty()
        env = dict(os.environ, PYTHONPATH=str(REPO), TERM="dumb")
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=slave, stdout=slave,
                                     stderr=slave, start_new_session=True)
        os.close(slave)
        self.seen = ""

    def expect(self, text: str, timeout: float = 120) -> None:
        import select
        import time

        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} in:\n{self.seen}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                assert chunk, f"EOF before {text!r} in:\n{self.seen}"
                self.seen += chunk.decode(errors="replace")
        self.seen = self.seen[self.seen.index(text) + len(text):]

    def send(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def interrupt(self) -> None:
        os.write(self.master, b"\x03")  # Ctrl-C, as the terminal delivers it

    def wait(self, timeout: float = 120) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            os.close(self.master)


@pytest.mark.parametrize("dbg", ["gdb", "lldb"])
def test_interactive_session(tmp_path: Path, dbg: str) -> None:
    """The debugger owns the terminal; Ctrl-C goes to it, not to crossjit or the program."""
    debugger(dbg)
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    (tmp_path / "seed.c").write_text(SEED)
    term = Terminal([sys.executable, "-m", "crossjit", "debug", "seed.c", "--break", "sub1",
                     "--debugger", dbg], tmp_path)
    prompt = "(gdb) " if dbg == "gdb" else "(lldb) "
    term.expect("Breakpoint 1, sub1 (x=1)" if dbg == "gdb" else "stop reason = breakpoint 1.1")
    term.expect(prompt)
    term.send("print x" if dbg == "gdb" else "frame variable x")
    term.expect("$1 = 1" if dbg == "gdb" else "(int) x = 1")
    term.expect(prompt)
    term.interrupt()
    term.send("set var x = 42" if dbg == "gdb" else "expression x = 42")
    term.send("continue")
    term.expect("exited normally" if dbg == "gdb" else "exited with status = 0")
    term.send("quit")
    assert term.wait() == 41, term.seen


def test_seed_scenario_from_a_profile(tmp_path: Path) -> None:
    """A profile's program under gdb: its sources, args and defines come from the YAML."""
    debugger("gdb")
    (tmp_path / "seed.c").write_text(SEED)
    (tmp_path / "seed.yaml").write_text(
        "name: seed\ntarget:\n  triple: x86_64-linux-gnu\nexecutor: local\n"
        "sources: seed.c\nargs: [from-profile]\n"
    )
    (tmp_path / "cmds").write_text(GDB_SEED)
    cmd = [sys.executable, "-m", "crossjit", "debug", "seed.yaml", "--batch", "cmds",
           "--break", "sub1"]
    p = subprocess.run(cmd, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(REPO)),
                       capture_output=True, text=True, timeout=240, check=False)
    out = p.stdout + p.stderr
    # argc is 2 (program name + the profile's one arg), so sub1 sees x == 2.
    assert f"Breakpoint 1, sub1 (x=2) at {tmp_path / 'seed.c'}:1" in out, out
    assert "$2 = 42" in out, out
    assert p.returncode == 41, out

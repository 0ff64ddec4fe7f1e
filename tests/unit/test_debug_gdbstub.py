"""The pure parts of debugging through qemu's gdbstub (crossjit/debug/gdbstub.py)."""

from __future__ import annotations

from pathlib import Path

from crossjit.debug import gdbstub
from crossjit.orc.client import ExecutorSpec

SPEC = ExecutorSpec.parse("spawn:qemu-aarch64-static -L /root/arm64 /root/arm64/exe")
SOCK = Path("/tmp/x/gdbstub")


def test_emulated_specs_and_their_sysroot() -> None:
    assert gdbstub.is_emulated(SPEC)
    assert not gdbstub.is_emulated(ExecutorSpec.parse("spawn:/usr/bin/exe"))
    assert gdbstub.sysroot(SPEC) == "/root/arm64"
    assert gdbstub.sysroot(ExecutorSpec.parse("spawn:qemu-aarch64 /x/exe")) is None


def test_gdbstub_goes_on_a_unix_socket_before_the_other_options() -> None:
    assert gdbstub.with_gdbstub(SPEC, SOCK) == (
        "qemu-aarch64-static", "-g", "/tmp/x/gdbstub", "-L", "/root/arm64")


def test_gdb_connects_then_breaks_then_continues() -> None:
    lines = gdbstub.command_file("gdb", SPEC, SOCK, ["sub1"]).splitlines()
    assert lines.index("set sysroot /root/arm64") < lines.index('file "/root/arm64/exe"')
    assert lines.index("target remote /tmp/x/gdbstub") < lines.index("break sub1")
    assert lines.index("break sub1") < lines.index("continue") == len(lines) - 1


def test_gdb_batch_file_runs_as_gdb_x_would() -> None:
    """From its first line, after --break; its own `run` lets the program go (as a
    continue: qemu already runs the executor); one without a resume gets one at the end."""
    lines = gdbstub.command_file("gdb", SPEC, SOCK, ["sub1"],
                                 batch_commands="break main\nrun\nprint x\n").splitlines()
    assert lines.index("break sub1") < lines.index("break main") < lines.index("continue")
    assert lines.index("continue") < lines.index("print x")
    assert "run" not in lines
    lines = gdbstub.command_file("gdb", SPEC, SOCK, [], batch_commands="print 1").splitlines()
    assert lines.index("print 1") < lines.index("continue")


def test_lldb_uses_the_remote_linux_platform_and_unix_connect() -> None:
    text = gdbstub.command_file("lldb", SPEC, SOCK, ["sub1"])
    assert 'platform select remote-linux --sysroot "/root/arm64"' in text
    assert "process connect --plugin gdb-remote unix-connect:///tmp/x/gdbstub" in text
    assert text.index("breakpoint set --name sub1") < text.index("process continue")


def test_debugger_argv() -> None:
    assert gdbstub.debugger_argv("gdb", "/usr/bin/gdb-multiarch", Path("c"), batch=True) == [
        "/usr/bin/gdb-multiarch", "-q", "-nx", "-batch", "-x", "c"]
    assert gdbstub.debugger_argv("lldb", "lldb-16", Path("c"), batch=False) == [
        "lldb-16", "-s", "c"]

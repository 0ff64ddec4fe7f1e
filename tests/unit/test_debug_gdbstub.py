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
    text = gdbstub.command_file("gdb", SPEC, SOCK, ["sub1"], batch_commands="print x")
    lines = text.splitlines()
    assert lines.index("set sysroot /root/arm64") < lines.index('file "/root/arm64/exe"')
    assert lines.index("target remote /tmp/x/gdbstub") < lines.index("break sub1")
    assert lines.index("break sub1") < lines.index("continue") < lines.index("print x")


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

"""Debugging an executor that runs under qemu-user, through qemu's gdbstub (pure parts).

A debugger attached to qemu by pid would debug the emulator, not the AArch64 program.
qemu's gdbstub (``-g``) instead serves the *guest* to gdb-multiarch or lldb over the GDB
remote protocol, and holds the guest before its first instruction until a debugger
connects and continues. So, unlike a local attach, no "breakpoints are set" handshake is
needed: the executor cannot even send its Setup before the debugger's ``continue``.

The stub listens on a unix socket in a private temporary folder, never on a TCP port
(qemu binds a TCP gdbstub to every interface).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from crossjit.debug import batch
from crossjit.orc.client import ExecutorSpec


def is_emulated(spec: ExecutorSpec) -> bool:
    """Does the executor run under qemu-user (a ``spawn:qemu-* ...`` spec)?"""
    return bool(spec.wrapper) and os.path.basename(spec.wrapper[0]).startswith("qemu-")


def sysroot(spec: ExecutorSpec) -> str | None:
    """The guest's library root: qemu's ``-L ROOT`` (or None)."""
    w = spec.wrapper
    for i, word in enumerate(w[:-1]):
        if word == "-L":
            return w[i + 1]
    return None


def with_gdbstub(spec: ExecutorSpec, socket_path: Path) -> tuple[str, ...]:
    """The wrapper with ``-g SOCKET`` added (qemu waits there for a debugger)."""
    return (spec.wrapper[0], "-g", str(socket_path), *spec.wrapper[1:])


def _quote_gdb(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _quote_lldb(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def command_file(kind: str, spec: ExecutorSpec, socket_path: Path,
                 breakpoints: Sequence[str], source_map: Sequence[tuple[str, str]] = (),
                 batch_commands: str = "") -> str:
    """Settings, the executor's binary and sysroot, connect, pending breakpoints, then
    continue — or, with a batch file, its commands as gdb -x / lldb -s would run them: from
    its first line, its first run/continue letting the program go (``batch.prepare``).
    No ready marker: qemu holds the executor until the debugger continues it."""
    root = sysroot(spec)
    if kind == "gdb":
        lines = [
            "set pagination off",
            "set confirm off",
            "set breakpoint pending on",  # resolves when the JIT'd code registers
            *([f"set sysroot {root}"] if root else []),  # the rest of the line, verbatim
            *(f'set substitute-path "{_quote_gdb(a)}" "{_quote_gdb(b)}"' for a, b in source_map),
            f'file "{_quote_gdb(spec.path)}"',
            f"target remote {socket_path}",
            *(f"break {b}" for b in breakpoints),
        ]
    else:
        lines = [
            "settings set plugin.jit-loader.gdb.enable on",
            "settings set auto-confirm true",
            # remote-linux: the guest's files are found under the sysroot, not on this host.
            "platform select remote-linux"
            + (f" --sysroot {_quote_lldb(root)}" if root else ""),
            f"target create --arch aarch64 {_quote_lldb(spec.path)}",
            f"process connect --plugin gdb-remote unix-connect://{socket_path}",
            *(f'settings append target.source-map "{a}" "{b}"' for a, b in source_map),
            *(f"breakpoint set --name {shlex.quote(b)}" for b in breakpoints),
        ]
    text = "\n".join(lines) + "\n"
    if batch_commands:
        return text + batch.prepare(kind, batch_commands, "")
    return text + ("continue\n" if kind == "gdb" else "process continue\n")


def debugger_argv(kind: str, exe: str, script: Path, *, batch: bool) -> list[str]:
    if kind == "gdb":
        return [exe, "-q", *(["-nx", "-batch"] if batch else []), "-x", str(script)]
    return [exe, *(["--no-lldbinit", "--batch"] if batch else []), "-s", str(script)]

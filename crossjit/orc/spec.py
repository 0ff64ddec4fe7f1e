"""Executor specs (``spawn:``/``tcp:``) and starting one: light, so an executor can be
spawned before the ORC client and the linker are imported and boot meanwhile (an
emulated one takes tens of milliseconds)."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from crossjit.errors import ExecutorError, UsageError
from crossjit.orc.transport import SocketTransport, connect_tcp, spawn_executor
from crossjit.records import record

# qemu-user options that take no argument (every other -option takes one).
_QEMU_FLAGS = frozenset({"-h", "-help", "-version", "-strace", "-singlestep",
                         "-one-insn-per-tb", "-enable-fdpic"})


def split_wrapper(words: Sequence[str]) -> tuple[tuple[str, ...], list[str]]:
    """``qemu-aarch64-static -L ROOT EXE ARGS`` -> ((qemu, -L, ROOT), [EXE, ARGS]).

    A wrapper (an emulator running the executor) comes before the executor's path, and
    the executor's own ``filedescs=`` must follow that path, not the wrapper's name."""
    if not words or not os.path.basename(words[0]).startswith("qemu-"):
        return (), list(words)
    i = 1
    while i < len(words) and words[i].startswith("-"):
        i += 1 if words[i] in _QEMU_FLAGS else 2
    return tuple(words[:i]), list(words[i:])


@record(frozen=True, slots=True)
class ExecutorSpec:
    """Where the executor is: ``spawn:[WRAPPER...] PATH [ARGS...]`` or ``tcp:HOST:PORT``.

    ``wrapper``: an emulator command the executor runs under, e.g. ``qemu-aarch64-static
    -L ROOT`` for an AArch64 executor on an x86-64 host."""

    kind: Literal["spawn", "tcp"]
    path: str = ""
    args: tuple[str, ...] = ()
    host: str = ""
    port: int = 0
    wrapper: tuple[str, ...] = ()

    FORMS = ("spawn:PATH [ARGS...] (or plain 'spawn' for the default LLVM executor; "
             "spawn:qemu-aarch64-static -L ROOT PATH for an emulated one), tcp:HOST:PORT, "
             "docker:VARIANT or ssh:[USER@]HOST[:PORT]")

    @classmethod
    def parse(cls, text: str) -> ExecutorSpec:
        kind, sep, rest = text.partition(":")
        if kind == "spawn":
            try:
                words = shlex.split(rest)
            except ValueError as e:
                raise cls._bad(text, str(e)) from None
            if not words:
                return cls.default()
            wrapper, words = split_wrapper(words)
            if not words:
                raise cls._bad(text, f"{wrapper[0]} needs the executor's path after its "
                               "options")
            return cls("spawn", path=words[0], args=tuple(words[1:]), wrapper=wrapper)
        if kind == "tcp" and sep:
            host, colon, port_s = rest.rpartition(":")
            host = host.removeprefix("[").removesuffix("]")  # [::1]:PORT
            if not colon or not host:
                raise cls._bad(text, "expected tcp:HOST:PORT")
            if not port_s.isdigit() or not 0 < int(port_s) < 65536:
                raise cls._bad(text, f"port {port_s!r} is not a number in 1..65535")
            return cls("tcp", host=host, port=int(port_s))
        raise cls._bad(text, f"unknown executor kind {kind!r}")

    @classmethod
    def default(cls) -> ExecutorSpec:
        """Spawn Debian's default LLVM executor (see ``find_default_executor``)."""
        return cls("spawn", path=find_default_executor())

    @classmethod
    def _bad(cls, text: str, why: str) -> UsageError:
        return UsageError(f"bad executor spec {text!r}", why=why, hint=f"use {cls.FORMS}")

    def __str__(self) -> str:
        if self.kind == "tcp":
            host = f"[{self.host}]" if ":" in self.host else self.host
            return f"tcp:{host}:{self.port}"
        return "spawn:" + shlex.join([*self.wrapper, self.path, *self.args])


def llvm_executors(root: str | Path = "/usr/lib") -> dict[int, Path]:
    """Debian's installed ``llvm-jitlink-executor`` binaries by LLVM major version."""
    found: dict[int, Path] = {}
    for p in Path(root).glob("llvm-*/bin/llvm-jitlink-executor"):
        mt = re.fullmatch(r"llvm-(\d+)", p.parent.parent.name)
        if mt and p.is_file():
            found[int(mt.group(1))] = p
    return dict(sorted(found.items()))


def find_default_executor(root: str | Path = "/usr/lib") -> str:
    """Debian's LLVM executor: prefer LLVM 16, else the newest ``llvm-N`` installed."""
    found = llvm_executors(root)
    if not found:
        raise ExecutorError(
            "no LLVM executor found",
            why=f"no {root}/llvm-*/bin/llvm-jitlink-executor",
            hint="apt-get install llvm-16, or pass --executor spawn:PATH",
        )
    return str(found[16] if 16 in found else found[max(found)])


def start(spec: ExecutorSpec, *, connect_timeout: float = 10.0) -> SocketTransport:
    """Spawn or connect, as ``spec`` says; the executor's Setup message is read later
    (``OrcClient(transport)``)."""
    if spec.kind == "spawn":
        return spawn_executor(spec.path, spec.args, wrapper=spec.wrapper)
    return connect_tcp(spec.host, spec.port, timeout=connect_timeout)

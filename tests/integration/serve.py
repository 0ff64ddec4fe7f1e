"""For tests that start a server or a resident crossjit: a free loopback port, the
process listening on one, and stopping the process with a deadline (killed, and the test
failed, past it)."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listener_pid(port: int) -> int | None:
    """The pid of the process holding the 127.0.0.1:port listening socket."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[1].endswith(f":{port:04X}") and f[3] == "0A":
            inodes.add(f[9])
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


def stop_within(proc: subprocess.Popen[bytes], sig: int, timeout: float,
                failure: Callable[[], str]) -> int:
    """Send ``sig`` and return the exit status; past ``timeout`` kill it and fail the
    test with ``failure()`` (called then, so it can show the latest stderr)."""
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        pytest.fail(failure())

"""For tests that start a server or a resident crossjit: a free loopback port, and
stopping the process with a deadline (killed, and the test failed, past it)."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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

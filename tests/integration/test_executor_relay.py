"""crossjit-executor's relay=PATH mode: a remote engine's protocol channel (the attached
stream of a `docker exec`) is its stdin/stdout, relayed to an executor's unix socket.

Here the relay's stdio is a socketpair, as crossjit gives it to the local `docker exec`:
the Setup handshake and a call pass through it, the relay reports the executor's pid
(what gdbserver attaches to), and hanging up ends both processes.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from crossjit.orc.client import OrcClient
from crossjit.orc.transport import SocketTransport
from tests.prereq import require_file

pytestmark = pytest.mark.integration

BUILD = Path(__file__).resolve().parents[2] / "executor" / "build"


@pytest.mark.parametrize("build", ["crossjit-executor-glibc", "crossjit-executor-musl"])
def test_relay_carries_a_session(build: str, tmp_path: Path) -> None:
    exe = str(require_file(BUILD / build, f"{build} (make -C executor)"))
    sock = str(tmp_path / "s.sock")
    executor = subprocess.Popen([exe, f"unix={sock}", "quiet"])
    ours, theirs = socket.socketpair()
    relay = subprocess.Popen([exe, f"relay={sock}"], stdin=theirs.fileno(),
                             stdout=theirs.fileno(), stderr=subprocess.PIPE)
    theirs.close()
    try:
        assert relay.stderr is not None
        line = relay.stderr.readline().decode()
        assert line == f"crossjit-executor: relay connected to pid {executor.pid}\n"
        client = OrcClient(SocketTransport(ours, description="relayed executor"), timeout=10)
        assert client.info.triple.startswith("x86_64")
        handle = client.open_dylib()  # the executor process itself
        assert client.lookup(handle, ["__jit_debug_register_code"])[0]
        start = time.monotonic()
        client.close()
        assert relay.wait(10) == 0 and executor.wait(10) == 0
        assert time.monotonic() - start < 6
        assert not Path(sock).exists()  # the executor removed its socket
    finally:
        for p in (relay, executor):
            if p.poll() is None:
                p.kill()
                p.wait()

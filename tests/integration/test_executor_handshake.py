"""crossjit-executor: Setup bytes against LLVM 16's executor, command line, session end."""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.test_executor_support import (
    LLVM16_BOOTSTRAP_NAMES,
    OP_HANGUP,
    X86_VARIANTS,
    launcher,
    llvm16_executor,
    session,
)

pytestmark = pytest.mark.integration

TRIPLES = {
    "glibc": "x86_64-pc-linux-gnu",
    "musl": "x86_64-pc-linux-musl",
    "musl-static": "x86_64-pc-linux-musl",
    "asan": "x86_64-pc-linux-gnu",
    "aarch64-musl-static": "aarch64-unknown-linux-musl",
}


def test_setup_matches_llvm16_byte_layout() -> None:
    with session([str(llvm16_executor())]) as ref:
        ref_setup = ref.setup
        assert ref.hangup() == 0
    with session(launcher("glibc")) as ours:
        our_setup = ours.setup
        assert ours.hangup() == 0
    assert ref_setup is not None and our_setup is not None
    # Same header (size, opcode, seq, tag), same triple and page size, same 24 names.
    assert our_setup.header == ref_setup.header
    assert len(our_setup.payload) == len(ref_setup.payload) == 1640 - 32
    assert (our_setup.triple, our_setup.page_size) == (ref_setup.triple, ref_setup.page_size)
    assert set(our_setup.symbols) == set(ref_setup.symbols) == LLVM16_BOOTSTRAP_NAMES
    assert all(our_setup.symbols.values()), "every bootstrap address must be non-zero"
    assert len(set(our_setup.symbols.values())) == len(our_setup.symbols)


@pytest.mark.parametrize("variant", [*X86_VARIANTS, "aarch64-musl-static"])
def test_setup_every_build(variant: str) -> None:
    with session(launcher(variant)) as s:
        assert s.setup is not None
        assert s.setup.triple == TRIPLES[variant]
        assert s.setup.page_size == 4096
        assert set(s.setup.symbols) == LLVM16_BOOTSTRAP_NAMES
        assert s.hangup(timeout=60) == 0
        s.check_sanitizers()


@pytest.mark.parametrize("variant", X86_VARIANTS)
def test_eof_is_orderly(variant: str) -> None:
    with session(launcher(variant)) as s:
        base = s.reserve(8192)
        assert base % 4096 == 0
        s.sock.shutdown(socket.SHUT_RDWR)
        assert s.wait() == 0
        s.check_sanitizers()


def test_empty_hangup_payload() -> None:
    with session(launcher("glibc")) as s:
        s.reserve(4096)
        s.send(OP_HANGUP, 0, 0, b"")
        assert s.wait() == 0


def _listening(port: int) -> list[str]:
    """Local addresses (hex, /proc/net/tcp format) listening on port."""
    out = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(name):
            continue
        for line in Path(name).read_text().splitlines()[1:]:
            fields = line.split()
            addr, st = fields[1], fields[3]
            if st == "0A" and int(addr.split(":")[1], 16) == port:
                out.append(addr.split(":")[0])
    return out


def _wait_listen_line(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    assert "listening on" in line, line
    return line.strip()


def test_listen_binds_exactly_the_given_host() -> None:
    exe = launcher("glibc")
    proc = subprocess.Popen([*exe, "listen=127.0.0.1:0"], stderr=subprocess.PIPE)
    try:
        line = _wait_listen_line(proc)
        m = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert m, line
        port = int(m.group(1))
        # 0100007F = 127.0.0.1 (LLVM's executor would show 00000000 = 0.0.0.0)
        assert _listening(port) == ["0100007F"]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            hdr = c.recv(32, socket.MSG_WAITALL)
            size, op = struct.unpack_from("<2Q", hdr)
            assert (size, op) == (1640, 0)
            c.recv(size - 32, socket.MSG_WAITALL)
            c.sendall(struct.pack("<4Q", 33, OP_HANGUP, 0, 0) + b"\0")
            assert proc.wait(10) == 0
        assert _listening(port) == []
    finally:
        proc.kill()
        proc.wait()


def test_listen_rejects_bad_spec() -> None:
    exe = launcher("glibc")
    p = subprocess.run([*exe, "listen=nocolon"], capture_output=True, timeout=10, check=False)
    assert p.returncode == 1
    p = subprocess.run([*exe, "bogus=1"], capture_output=True, timeout=10, check=False)
    assert p.returncode == 1 and b"usage" in p.stderr
    p = subprocess.run([*exe, "filedescs=3"], capture_output=True, timeout=10, check=False)
    assert p.returncode == 1


def test_unix_socket_listener(tmp_path: Path) -> None:
    path = tmp_path / "exec.sock"
    exe = launcher("musl")
    proc = subprocess.Popen([*exe, f"unix={path}"], stderr=subprocess.PIPE)
    try:
        _wait_listen_line(proc)
        assert path.is_socket()
        with socket.socket(socket.AF_UNIX) as c:
            c.connect(str(path))
            hdr = c.recv(32, socket.MSG_WAITALL)
            assert struct.unpack_from("<Q", hdr)[0] == 1641  # "musl" is one byte longer
            c.recv(1641 - 32, socket.MSG_WAITALL)
            c.shutdown(socket.SHUT_WR)  # EOF == Hangup
            assert proc.wait(10) == 0
        assert not path.exists()
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("variant", ["glibc", "musl", "musl-static"])
def test_connect_to_a_unix_socket(tmp_path: Path, variant: str) -> None:
    """connect=PATH (SSH devices): the executor listens on nothing and connects to us,
    retrying while the listener is not there yet."""
    path = tmp_path / "ctl.sock"
    proc = subprocess.Popen([*launcher(variant), f"connect={path}", "quiet"],
                            stderr=subprocess.PIPE)
    try:
        time.sleep(0.3)  # the executor starts first and has to wait for us
        assert proc.poll() is None
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(str(path))
            listener.listen(1)
            listener.settimeout(10)
            conn, _ = listener.accept()
        with conn:
            hdr = conn.recv(32, socket.MSG_WAITALL)
            size = struct.unpack_from("<Q", hdr)[0]
            assert size == (1640 if variant == "glibc" else 1641)
            conn.recv(size - 32, socket.MSG_WAITALL)
            conn.shutdown(socket.SHUT_WR)  # EOF == Hangup
            assert proc.wait(10) == 0
        assert proc.stderr is not None and proc.stderr.read() == b""  # quiet
    finally:
        proc.kill()
        proc.wait()


def test_connect_with_a_bad_path_fails_at_once() -> None:
    p = subprocess.run([*launcher("glibc"), "connect=" + "x" * 200], capture_output=True,
                       timeout=10, check=False)
    assert p.returncode == 1
    assert b"bad unix socket path" in p.stderr


def test_idle_session_stays_up() -> None:
    """No idle timeout: the controller owns deadlines."""
    with session(launcher("glibc")) as s:
        time.sleep(1.0)
        assert s.alive()
        assert s.reserve(4096)
        assert s.hangup() == 0

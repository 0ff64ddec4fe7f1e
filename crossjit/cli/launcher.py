"""The `crossjit` entry point: hand the command to a running daemon, else run it here.

A fresh Python process spends ~100 ms importing typer, click and crossjit before any work
(docs/benchmarks.md). `crossjit daemon start` keeps those imports warm in one process; this
launcher — standard library only, a few ms — passes it the command line, working directory,
environment and its stdin/stdout/stderr (SCM_RIGHTS), and exits with the status the daemon
sends back. Anything unusual (no daemon, a stale or busy one, any error) falls back to
running the command in this process, so the daemon can only make a command faster.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
from pathlib import Path

ACK = b"+"  # the daemon accepted the request and runs it
STALE = b"-"  # the daemon's code is older than crossjit on disk: run it here instead
ACK_TIMEOUT_S = 2.0
NO_DAEMON = "CROSSJIT_NO_DAEMON"
# Always in this process: a debugger wants the terminal as its controlling terminal (job
# control, Ctrl-C), which a daemon's child cannot have; `daemon` manages the daemon.
IN_PROCESS = frozenset({"debug", "daemon"})


def socket_path() -> Path:
    """Where the daemon listens: in a directory only this user can enter."""
    override = os.environ.get("CROSSJIT_DAEMON_SOCKET")
    if override:
        return Path(override)
    base = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(base) / "crossjit" if base else Path(f"/tmp/crossjit-{os.getuid()}")
    return folder / "daemon.sock"


def private_dir(folder: Path) -> bool:
    """Ours and closed to others: the environment and terminal go to whoever listens there."""
    try:
        st = folder.stat()
    except OSError:
        return False
    return st.st_uid == os.getuid() and not st.st_mode & 0o077


def encode_request(argv: list[str]) -> bytes:
    body = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    return struct.pack("<I", len(body)) + body


def _via_daemon(argv: list[str]) -> int | None:
    """The command's exit status, or None when no daemon took it."""
    path = socket_path()
    if os.environ.get(NO_DAEMON) or not path.exists() or (argv and argv[0] in IN_PROCESS):
        return None
    if not private_dir(path.parent):
        return None  # someone else's or a shared folder: never hand it our environment
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(ACK_TIMEOUT_S)
        sock.connect(str(path))
        socket.send_fds(sock, [encode_request(argv)], [0, 1, 2])
        if sock.recv(1) != ACK:
            return None  # stale, or a daemon going away: run it here
    except OSError:
        sock.close()
        return None
    sock.settimeout(None)
    try:
        return _await_status(sock)
    finally:
        sock.close()


def _await_status(sock: socket.socket) -> int:
    """Wait for the 4-byte status; Ctrl-C hangs up, which the daemon treats as Ctrl-C."""
    data = b""
    interrupted = False
    while len(data) < 4:
        try:
            chunk = sock.recv(4 - len(data))
        except KeyboardInterrupt:
            interrupted = True
            sock.shutdown(socket.SHUT_WR)  # the daemon's run sees EOF and stops the program
            sock.settimeout(10.0)
            continue
        except OSError:
            chunk = b""
        if not chunk:
            return 130 if interrupted else 125
        data += chunk
    return int(struct.unpack("<i", data)[0])


def main() -> None:
    argv = sys.argv[1:]
    status = _via_daemon(argv)
    if status is None:
        from crossjit.cli.app import main as cli_main

        cli_main()
        return
    sys.exit(status)

"""The `crossjit` entry point: hand the command to a running daemon, else run it here.

A fresh Python process spends most of a short command importing typer, click and crossjit
(docs/benchmarks.md). A resident `crossjit daemon` keeps those imports (and a spare
executor session per container) warm; this launcher — standard library only, a few ms —
passes it the command line, working directory, environment and its stdin/stdout/stderr
(SCM_RIGHTS), and exits with the status the daemon sends back. Anything unusual (no
daemon, a stale or busy one, any error) falls back to running the command in this
process, so the daemon can only make a command faster.

The first command that profits starts a daemon in the background (as sccache, Gradle and
Bazel do) and runs itself in-process meanwhile; later commands use it. It exits after
``CROSSJIT_DAEMON_IDLE`` seconds without a command (default 900) and when crossjit's code
changes (the next command starts a fresh one). ``CROSSJIT_DAEMON=0`` (or the older
``CROSSJIT_NO_DAEMON=1``) neither uses nor starts one; under pytest or ``CI`` a running
daemon is used but none is started unless ``CROSSJIT_DAEMON=1`` asks for it.
"""

from __future__ import annotations

import gc
import os
import sys
import zlib

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of every start-up
if TYPE_CHECKING:
    import _socket

PROTOCOL = b"crossjit-launcher-1"  # first field of a request
ACK = b"+"  # the daemon accepted the request and runs it
STALE = b"-"  # the daemon's code is older than crossjit on disk: run it here instead
# The client is in another network or mount namespace (`ip netns exec`, unshare, a
# container sharing the folder): its loopback and files are not the daemon's. Run here,
# and start no daemon for it (the one listening is not going away).
ELSEWHERE = b"="
ACK_TIMEOUT_S = 2.0
DAEMON = "CROSSJIT_DAEMON"  # 0: never; 1: start one even under pytest/CI; unset: auto
NO_DAEMON = "CROSSJIT_NO_DAEMON"  # the older spelling of CROSSJIT_DAEMON=0
IDLE = "CROSSJIT_DAEMON_IDLE"
IDLE_DEFAULT_S = 900.0
# Always in this process: a debugger wants the terminal as its controlling terminal (job
# control, Ctrl-C), which a daemon's child cannot have; `daemon` manages the daemon.
IN_PROCESS = frozenset({"debug", "daemon"})
# Commands worth starting a daemon for: they do work a warm process does faster. Not
# `--help`, `--version`, `doctor` or `clean`: nobody runs those in a loop.
PROFITS = frozenset({"jit", "run", "build", "profile", "executor", "sysroot"})
PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # crossjit/


def socket_path() -> str:
    """Where the daemon listens: in a directory only this user can enter, one socket per
    crossjit installation (two checkouts must not run each other's code)."""
    override = os.environ.get("CROSSJIT_DAEMON_SOCKET")
    if override:
        return override
    base = os.environ.get("XDG_RUNTIME_DIR")
    folder = os.path.join(base, "crossjit") if base else f"/tmp/crossjit-{os.getuid()}"
    return os.path.join(folder, f"daemon-{zlib.crc32(PACKAGE.encode()):08x}.sock")


def mode(env: os._Environ[str] | dict[str, str] = os.environ) -> str:
    """``off`` (never use or start), ``use`` (use a running one) or ``auto`` (also start)."""
    if env.get(NO_DAEMON) or env.get(DAEMON) == "0":
        return "off"
    if env.get(DAEMON) == "1":
        return "auto"
    # A test run or CI starts many short crossjit processes that must not leave a
    # resident process behind (nor compare a daemon's output with itself).
    if "PYTEST_CURRENT_TEST" in env or env.get("CI"):
        return "use"
    return "auto"


def private_dir(folder: str) -> bool:
    """Ours and closed to others: the environment and terminal go to whoever listens there."""
    try:
        st = os.stat(folder)
    except OSError:
        return False
    return st.st_uid == os.getuid() and not st.st_mode & 0o077


def encode_request(argv: list[str]) -> bytes:
    """Length-prefixed NUL-separated fields: no argument or environment entry can hold
    a NUL (execve), so the split is exact — and it needs no json import (~3 ms)."""
    fields = [PROTOCOL, os.getcwdb(), str(len(argv)).encode(),
              *(os.fsencode(a) for a in argv),
              *(k + b"=" + v for k, v in os.environb.items())]
    body = b"\0".join(fields)
    return len(body).to_bytes(4, "little") + body


def decode_request(body: bytes) -> dict[str, object]:
    """The daemon's side of encode_request: argv, cwd and env as str (fsdecoded)."""
    parts = body.split(b"\0")
    if len(parts) < 3 or parts[0] != PROTOCOL:
        raise ValueError("not a crossjit launcher request")
    n = int(parts[2])
    argv, env = parts[3:3 + n], parts[3 + n:]
    if len(argv) != n:
        raise ValueError("truncated request")
    return {"argv": [os.fsdecode(a) for a in argv], "cwd": os.fsdecode(parts[1]),
            "env": dict(os.fsdecode(e).partition("=")[::2] for e in env if e)}


def _via_daemon(path: str, argv: list[str]) -> int | bytes | None:
    """The command's exit status; STALE or ELSEWHERE; or None when no daemon took it."""
    if not os.path.exists(path):
        return None
    if not private_dir(os.path.dirname(path)):
        return None  # someone else's or a shared folder: never hand it our environment
    # _socket, not socket: the wrapper module and its imports cost ~4 ms of start-up.
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(ACK_TIMEOUT_S)
        sock.connect(path)
        request = encode_request(argv)
        fds = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in (0, 1, 2))
        sent = sock.sendmsg([request], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        sock.sendall(request[sent:])
        answer = sock.recv(1)
        if answer != ACK:
            sock.close()
            return answer if answer in (STALE, ELSEWHERE) else None  # or one going away
    except OSError:
        sock.close()
        return None
    sock.settimeout(None)
    try:
        return _await_status(sock)
    finally:
        sock.close()


def _await_status(sock: _socket.socket) -> int:
    """Wait for the 4-byte status; Ctrl-C hangs up, which the daemon treats as Ctrl-C."""
    import _socket

    data = b""
    interrupted = False
    while len(data) < 4:
        try:
            chunk = sock.recv(4 - len(data))
        except KeyboardInterrupt:
            interrupted = True
            sock.shutdown(_socket.SHUT_WR)  # the daemon's run sees EOF and stops the program
            sock.settimeout(10.0)
            continue
        except OSError:
            chunk = b""
        if not chunk:
            return 130 if interrupted else 125
        data += chunk
    return int.from_bytes(data, "little", signed=True)


def spawn_daemon(path: str, *, auto: bool) -> int:
    """Start ``crossjit.cli.daemon`` detached (its own session, output to a log next to
    the socket); returns its pid without waiting for it to listen."""
    import subprocess

    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    if not private_dir(folder):
        raise OSError(f"{folder} is not a private directory")
    with open(os.path.splitext(path)[0] + ".log", "ab") as log:
        args = [sys.executable, "-m", "crossjit.cli.daemon", *(["--auto"] if auto else []),
                path]
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, close_fds=True)
    return proc.pid


def main() -> None:
    # Start-up allocates ~100k objects (modules, functions, classes, the link's graph) and
    # frees almost none: the collections their allocation triggers find nothing and cost
    # ~4 ms of a cold start. Collecting resumes, with those objects frozen (as the daemon
    # does before it forks), when the work starts: before typer runs a command, and for
    # `jit` when the program is loaded (run/session.py, execute).
    gc.disable()
    argv = sys.argv[1:]
    how = mode()
    command = next((a for a in argv if not a.startswith("-")), None)
    status: int | bytes | None = None
    if how != "off" and command not in IN_PROCESS:
        path = socket_path()
        status = _via_daemon(path, argv)
        if isinstance(status, int):
            sys.exit(status)
        if how == "auto" and command in PROFITS and status != ELSEWHERE:
            # None listens (or it was stale and is exiting): start one for the next
            # command, then do this one here. A daemon that cannot start changes nothing.
            try:  # noqa: SIM105 (contextlib is ~2 ms of start-up for this one line)
                spawn_daemon(path, auto=True)
            except OSError:
                pass
    if command == "jit":
        _start_executor_early(argv)
    if argv and argv[0] == "jit":  # the commonest command, without typer's ~25 ms
        from crossjit.cli import fastjit

        fast = fastjit.main(argv[1:])
        if fast is not None:
            sys.exit(fast)
    from crossjit.cli.app import main as cli_main

    gc.freeze()
    gc.enable()
    cli_main()


def _start_executor_early(argv: list[str]) -> None:
    """`jit --executor spawn:...` run here: start the executor before typer and crossjit
    are imported (~50 ms), so an emulated one boots meanwhile (run/starting.py). Only
    the plain forms of the option, before any ``--``; anything else starts it later."""
    spec = None
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg in ("--executor", "-e") and i + 1 < len(argv):
            spec = argv[i + 1]
        elif arg.startswith("--executor="):
            spec = arg.partition("=")[2]
    if spec is not None and spec.startswith("spawn:"):
        from crossjit.run import starting

        starting.early(spec)

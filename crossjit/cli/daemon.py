"""`crossjit daemon`: crossjit's imports kept warm; one forked child per command.

The launcher (crossjit/cli/launcher.py) sends a command line, working directory,
environment and its stdin/stdout/stderr. The daemon forks: the child takes those
descriptors as its own 0/1/2, that directory and environment, and runs the ordinary CLI
code — same output, same exit status, the executor inheriting the user's terminal — then
reports the status. Forking per command keeps commands isolated (state, crashes,
concurrency) while the expensive part, importing typer, click, pydantic, docker-py,
llvmlite and crossjit, was done once. It also keeps a connected spare executor session per
container that one-shot `run`s used (``_Spares``, run/spares.py).

The first command that profits starts it (launcher.py); it exits after
``CROSSJIT_DAEMON_IDLE`` seconds without a command, on SIGTERM, and when crossjit's sources
change: it answers "stale" and exits, the launcher runs the command itself and starts a
fresh daemon.

Security: the socket lives in a 0700 directory and is 0600; only this user can use it,
and it runs what that user could run anyway.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from crossjit.cli.launcher import (
    ACK,
    ELSEWHERE,
    IDLE,
    IDLE_DEFAULT_S,
    STALE,
    decode_request,
    socket_path,
    spawn_daemon,
)
from crossjit.records import record

MAX_REQUEST = 16 << 20  # argv + environment; generous, but bounded
LOCK_WAIT_S = 3.0  # for a stale daemon to let go of the socket
REFILL_DELAY_S = 0.5  # quiet time before a spare session is (re)opened
SPARE_CHECK_S = 5.0  # how often held spares are checked to be alive
SPARE_FORGET_S = 120.0  # stop keeping spares for a container gone this long
PACKAGE = Path(__file__).resolve().parents[1]  # crossjit/, this file is in crossjit/cli/


def code_stamp() -> int:
    """Changes whenever a file of crossjit changes (an edit, a git checkout, an upgrade)."""
    latest = 0
    for root, _dirs, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith((".py", ".c")):
                latest = max(latest, os.stat(os.path.join(root, name)).st_mtime_ns)
    return latest


def prewarm() -> None:
    """Import what commands use, so each forked child starts with it loaded."""
    import crossjit.cli.app
    import crossjit.debug.debugger
    import crossjit.project.profile
    import crossjit.project.schema  # pydantic: a profile not in the cache yet
    import crossjit.run.session
    import crossjit.run.spares
    import crossjit.run.watch
    import crossjit.targets.container
    import crossjit.targets.executors
    from crossjit.compile import codegen

    codegen.warm_up()  # llvmlite and its targets: ~40 ms a codegen saved
    from crossjit.targets import containers

    containers.warm_up()  # docker-py, for the commands that need more than _Lite
    from crossjit.compile import toolchain
    from crossjit.errors import CrossjitError

    with contextlib.suppress(CrossjitError):
        toolchain.find_compiler()  # for commands with this environment's PATH
    crossjit.cli.app.build_all()  # every click command typer makes, built once
    # Out of the collector's sight: a child's first full collection would otherwise walk
    # (and copy-on-write) every object imported here.
    gc.freeze()


def _recv_request(conn: socket.socket) -> tuple[dict[str, object], list[int]]:
    msg, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 3)
    if len(msg) < 4:
        raise ValueError("short request")
    size = int.from_bytes(msg[:4], "little")
    if size > MAX_REQUEST:
        raise ValueError("request too large")
    body = msg[4:]
    while len(body) < size:
        chunk = conn.recv(min(1 << 16, size - len(body)))
        if not chunk:
            raise ValueError("truncated request")
        body += chunk
    return decode_request(body), fds


def _watch_hangup(conn: socket.socket, finished: threading.Event) -> None:
    """The launcher hangs up on Ctrl-C: do what the terminal's Ctrl-C would have done,
    SIGINT to the whole process group (ours, with the executor we spawned in it)."""
    with contextlib.suppress(OSError):
        if conn.recv(1) == b"" and not finished.is_set():
            os.killpg(os.getpgrp(), signal.SIGINT)


def _child(conn: socket.socket, request: dict[str, object], fds: list[int]) -> None:
    """Run one command as the launcher's process would (never returns)."""
    status = 125
    finished = threading.Event()
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # subprocess must reap its own
        os.setpgrp()  # a group of its own, like a shell job: see _watch_hangup
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for target, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(str(request["cwd"]))
        env = request["env"]
        assert isinstance(env, dict)
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in env.items()})
        conn.sendall(ACK)
        threading.Thread(target=_watch_hangup, args=(conn, finished), daemon=True).start()
        from crossjit.cli.app import status_of

        argv = request["argv"]
        assert isinstance(argv, list)
        if next((a for a in argv if not str(a).startswith("-")), None) == "jit":
            # As in a cold start (launcher.py): no collections until the program is
            # loaded (run/session.py resumes them), ~2 ms of a warm jit.
            gc.disable()
        status = status_of([str(a) for a in argv])
    finally:
        # Done: the launcher's hang-up after our status is not a Ctrl-C any more.
        finished.set()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            conn.sendall(status.to_bytes(4, "little", signed=True))
        os._exit(0)


def idle_timeout() -> float:
    """Seconds without a command after which the daemon exits (0: never)."""
    try:
        return max(0.0, float(os.environ.get(IDLE, IDLE_DEFAULT_S)))
    except ValueError:
        return IDLE_DEFAULT_S


def _lock(path: Path) -> int | None:
    """One daemon per socket: an exclusive lock next to it, held for the daemon's life.
    A daemon that is exiting (stale) still holds it for a moment: wait a little."""
    import fcntl

    fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError:
            if time.monotonic() > deadline:
                os.close(fd)
                return None
            time.sleep(0.05)


def serve(path: Path, *, auto: bool = False) -> None:
    """Listen on ``path`` until SIGTERM, until crossjit's code changes, or until no
    command came for ``idle_timeout()`` seconds."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    lock = _lock(path)
    if lock is None:
        print(f"crossjit daemon: another daemon serves {path}; exiting", flush=True)
        return
    stamp = code_stamp()
    prewarm()
    idle = idle_timeout()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a stale socket of a daemon that died
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    os.chmod(path, 0o600)
    listener.listen(16)
    pid_file = path.with_suffix(".pid")
    pid_file.write_text(str(os.getpid()))
    path.with_suffix(".json").write_text(json.dumps(
        {"pid": os.getpid(), "stamp": stamp, "idle_s": idle, "auto": auto,
         "started": time.time(), "package": str(PACKAGE)}))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    how = "started by a command" if auto else "started by `crossjit daemon start`"
    print(f"crossjit daemon {os.getpid()} listening on {path} ({how}; idle exit "
          f"{f'after {idle:g} s' if idle else 'never'})", flush=True)
    last = time.monotonic()
    spares = _Spares()
    try:
        while True:
            wait = last + idle - time.monotonic() if idle else None
            due = spares.due()
            if due is not None:
                wait = due if wait is None else min(wait, due)
            listener.settimeout(max(0.01, wait) if wait is not None else None)
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                if idle and time.monotonic() >= last + idle:
                    print(f"crossjit daemon: idle for {idle:g} s; exiting", flush=True)
                    return
                spares.refill()
                continue
            last = time.monotonic()
            if not _serve_one(conn, stamp, (listener.fileno(), lock), spares):
                return
    finally:
        spares.close_all()
        with contextlib.suppress(OSError):
            if pid_file.read_text() == str(os.getpid()):
                path.unlink()
                pid_file.unlink()
                path.with_suffix(".json").unlink()


class _Spares:
    """One connected executor session per container that `run` commands used (see
    crossjit/run/spares.py): handed to the next `run` of that container, then replaced
    once the daemon has been quiet for REFILL_DELAY_S (not while the command that
    just started competes for the CPU)."""

    def __init__(self) -> None:
        from crossjit.run import spares

        self.held = spares.held()
        self.wanted: dict[str, float] = {}  # container -> when a command last used it
        self.quiet_since = time.monotonic()

    def due(self) -> float | None:
        """Seconds until the next refill (or liveness check of the spares held)."""
        missing = any(name not in self.held for name in self.wanted)
        if not missing and not self.held:
            return None
        after = REFILL_DELAY_S if missing else SPARE_CHECK_S
        return max(0.0, self.quiet_since + after - time.monotonic())

    def hand_over(self, container: str | None) -> None:
        """After forking the child for a command that will run in ``container``."""
        self.quiet_since = time.monotonic()
        if container is None:
            return
        self.wanted[container] = self.quiet_since
        spare = self.held.pop(container, None)
        if spare is not None:
            spare.drop()

    def refill(self) -> None:
        from crossjit.errors import CrossjitError
        from crossjit.run.spares import open_spare
        from crossjit.targets.container import container_target

        if time.monotonic() < self.quiet_since + REFILL_DELAY_S:
            return
        for name, spare in list(self.held.items()):
            if not spare.alive():  # its container stopped: drop it, maybe make another
                self.held.pop(name)
                with contextlib.suppress(Exception):
                    spare.close()
        for name, used in list(self.wanted.items()):
            if name in self.held:
                continue
            try:
                if not container_target(name).is_running():
                    if time.monotonic() - used > SPARE_FORGET_S:
                        self.wanted.pop(name)  # nobody brought it back: stop asking
                    continue
                self.held[name] = open_spare(name)
                print(f"crossjit daemon: spare session ready in {name}", flush=True)
            except CrossjitError as err:
                print(f"crossjit daemon: no spare session in {name}: {err.what}", flush=True)
                self.wanted.pop(name)
        self.quiet_since = time.monotonic()  # next check after another quiet spell

    def close_all(self) -> None:
        for spare in self.held.values():
            with contextlib.suppress(Exception):
                spare.close()
        self.held.clear()


def run_container(request: dict[str, object]) -> str | None:
    """The executor container a request's `crossjit run` will use, if it is one-shot
    (`--watch` keeps its own spares) and its profile names a container; else None."""
    argv = request.get("argv")
    if not isinstance(argv, list) or not argv or argv[0] != "run":
        return None
    words = [str(a) for a in argv[1:]]
    words = words[:words.index("--")] if "--" in words else words
    executor: str | None = None
    positional = []
    it = iter(words)
    for word in it:
        if word in ("-w", "--watch"):
            return None
        if word in ("-e", "--executor"):
            executor = next(it, None)
        elif word.startswith("--executor="):
            executor = word.partition("=")[2]
        elif not word.startswith("-"):
            positional.append(word)
    try:
        from crossjit.project.plan import container_name, docker_container

        if executor is not None:
            return docker_container(executor)
        if not positional:
            return None
        from crossjit.project.profile import load_profile

        profile = load_profile(Path(str(request.get("cwd", "."))) / positional[0])
    except Exception:  # the command itself reports what is wrong
        return None
    ex = profile.executor
    return None if ex is None or ex.variant == "local" else container_name(profile.name)


def _same_namespaces(conn: socket.socket) -> bool:
    """Is the client's process in the daemon's network and mount namespaces? A command
    from `ip netns exec` must reach *its* loopback (tcp: executors, servers) and files;
    a child forked here would reach the daemon's. Unknown (its /proc not visible): no."""
    import struct

    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid = struct.unpack("3i", creds)[0]
        return all(os.stat(f"/proc/{pid}/ns/{ns}").st_ino == os.stat(f"/proc/self/ns/{ns}").st_ino
                   for ns in ("net", "mnt"))
    except OSError:
        return False


def _serve_one(conn: socket.socket, stamp: int, own: tuple[int, ...],
               spares: _Spares) -> bool:
    """Hand one request to a forked child; False when the daemon should exit (stale).
    ``own``: the daemon's descriptors (listener, lock), which no child may keep: a
    long-running program would hold the socket and the lock after the daemon is gone."""
    conn.settimeout(5.0)  # a client that never sends must not block the others
    try:
        request, fds = _recv_request(conn)
    except (OSError, ValueError) as exc:
        print(f"crossjit daemon: bad request: {exc}", flush=True)
        conn.close()
        return True
    if not _same_namespaces(conn):
        with contextlib.suppress(OSError):
            conn.sendall(ELSEWHERE)
        conn.close()
        for fd in fds:
            os.close(fd)
        print("crossjit daemon: a client in another network or mount namespace runs its "
              "command itself", flush=True)
        return True
    if code_stamp() != stamp:
        with contextlib.suppress(OSError):
            conn.sendall(STALE)
        conn.close()
        for fd in fds:
            os.close(fd)
        print("crossjit daemon: crossjit changed on disk; exiting", flush=True)
        return False
    conn.settimeout(None)
    container = run_container(request)
    child = os.fork()
    if child == 0:
        for fd in own:
            os.close(fd)
        from crossjit.run import spares as held

        held.keep_only(container)
        _child(conn, request, fds)
    argv = request.get("argv")
    words = " ".join(str(a) for a in argv[:2]) if isinstance(argv, list) else "?"
    taken = " (with the spare session)" if container in spares.held else ""
    spares.hand_over(container)
    print(f"crossjit daemon: child {child}: crossjit {words}{taken}", flush=True)
    conn.close()
    for fd in fds:
        os.close(fd)
    return True


def running_pid(path: Path | None = None) -> int | None:
    """The pid of the daemon answering on ``path`` (default socket), or None."""
    path = path or Path(socket_path())
    try:
        pid = int(path.with_suffix(".pid").read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid if path.exists() else None


@record(frozen=True)
class Status:
    pid: int
    socket: Path
    auto: bool
    idle_s: float
    started: float
    stale: bool  # crossjit's code changed since it started: the next command replaces it


def status(path: Path | None = None) -> Status | None:
    path = path or Path(socket_path())
    pid = running_pid(path)
    if pid is None:
        return None
    try:
        info = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        info = {}
    return Status(pid, path, bool(info.get("auto")), float(info.get("idle_s", 0.0)),
                  float(info.get("started", 0.0)), info.get("stamp") != code_stamp())


def start(path: Path | None = None, timeout: float = 30.0) -> int:
    """Start a detached daemon (unless one runs); its pid once it listens."""
    path = path or Path(socket_path())
    pid = running_pid(path)
    if pid is not None:
        return pid
    child = spawn_daemon(str(path), auto=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = running_pid(path)
        if pid is not None:
            return pid  # ours, or one a command started meanwhile: either serves
        try:
            if os.waitpid(child, os.WNOHANG)[0] == child:
                break  # it exited without listening
        except ChildProcessError:
            break
        time.sleep(0.02)
    from crossjit.errors import CrossjitError

    raise CrossjitError("the crossjit daemon did not start",
                        why=f"see {path.with_suffix('.log')}")


def stop(path: Path | None = None, timeout: float = 10.0) -> int | None:
    """Stop the daemon; its pid, or None if none ran."""
    path = path or Path(socket_path())
    pid = running_pid(path)
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_pid(path) == pid:
        time.sleep(0.02)
    return pid


if __name__ == "__main__":
    _args = sys.argv[1:]
    _auto = "--auto" in _args
    _rest = [a for a in _args if a != "--auto"]
    serve(Path(_rest[0]) if _rest else Path(socket_path()), auto=_auto)

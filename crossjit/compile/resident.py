"""A resident clang for `run --watch`: compiles forked from an already started clang.

About 24 of the ~40 ms of compiling Mongoose's main.c are clang's start-up (the dynamic
loader relocating libLLVM and libclang-cpp, their constructors), paid again by every
compile. ``ccserver.c``, LD_PRELOADed into one clang process, takes the place of its
``main`` once libc and those libraries are up, and forks a child per request that runs
clang's real ``main`` with the request's argv (ccserver.c has the protocol). Each compile
is still a process of its own — the same argv, environment and output as an exec'd
clang, a crash ends only the child — minus the start-up.

Only for a clang binary on a glibc host (the hook is glibc's ``__libc_start_main``),
without a compiler launcher; the preload is built once per source and host compiler into
the cache. Anything unexpected (no host C compiler, the server does not answer as clang
does) leaves it off: compiles then run clang as usual.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from crossjit.compile import cache as cachedir

FD_ENV = "CROSSJIT_CC_SERVER_FD"
START_TIMEOUT_S = 60.0


def _preload() -> Path | None:
    """ccserver.so for this host, built into the cache (None: no host C compiler)."""
    source = (Path(__file__).parent / "ccserver.c").read_bytes()
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    key = hashlib.sha256(source + os.path.realpath(cc).encode()).hexdigest()[:24]
    out = cachedir.subdir("ccserver") / f"{key}.so"
    if out.exists():
        return out
    with tempfile.TemporaryDirectory(prefix="crossjit-ccserver-") as tmp:
        src = Path(tmp) / "ccserver.c"
        src.write_bytes(source)
        so = Path(tmp) / "ccserver.so"
        try:
            p = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(so), str(src), "-ldl"],
                               capture_output=True, timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if p.returncode != 0 or not so.exists():
            return None
        cachedir.atomic_write(out, so.read_bytes())
    return out


class ResidentClang:
    """One clang fork server; :meth:`run` is one compile (one at a time: a second
    caller meanwhile gets None and runs clang itself)."""

    def __init__(self, clang: str, aliases: Sequence[str] = ()) -> None:
        self.clang = clang
        self.argv0 = {clang, *aliases}  # clang++: the same binary, another driver mode
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.served = 0  # compiles forked from it (progress, tests)

    def start(self) -> bool:
        if platform.libc_ver()[0] != "glibc":
            return False
        so = _preload()
        if so is None:
            return False
        ours, theirs = socket.socketpair()
        try:
            self._proc = subprocess.Popen(
                [self.clang], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, pass_fds=[theirs.fileno()],
                env={**os.environ, "LD_PRELOAD": str(so), FD_ENV: str(theirs.fileno())})
        except OSError:
            ours.close()
            return False
        finally:
            theirs.close()
        self._sock = ours
        # It must answer as the clang it is: the preload took over, forks work.
        with tempfile.TemporaryDirectory(prefix="crossjit-ccserver-") as tmp:
            probe = self.run([self.clang, "--version"], timeout=START_TIMEOUT_S, cwd=tmp)
        if probe is None or probe[0] != 0 or "clang version" not in probe[1]:
            self.close()
            return False
        return True

    def run(self, argv: Sequence[str], timeout: float, cwd: str | None = None
            ) -> tuple[int, str] | None:
        """(exit status as subprocess gives it, stdout+stderr), or None when the server
        is busy or gone (the caller runs clang itself). A deadline kills the server."""
        if self._sock is None or not argv or argv[0] not in self.argv0:
            return None
        if not self._lock.acquire(blocking=False):
            return None
        try:
            with tempfile.NamedTemporaryFile(prefix="crossjit-cc-", suffix=".err") as err:
                words = [cwd or os.getcwd(), err.name, *argv]
                payload = b"".join(w.encode() + b"\0" for w in words)
                sock = self._sock
                sock.settimeout(timeout)
                try:
                    sock.sendall(struct.pack("<I", len(payload)) + payload)
                    reply = b""
                    while len(reply) < 4:
                        chunk = sock.recv(4 - len(reply))
                        if not chunk:
                            raise ConnectionError("the resident clang ended")
                        reply += chunk
                except (OSError, ConnectionError):
                    self.close()  # timeout or death: clang runs the usual way from now on
                    return None
                (status,) = struct.unpack("<i", reply)
                self.served += 1
                text = Path(err.name).read_text(errors="replace")
            code = (os.WEXITSTATUS(status) if os.WIFEXITED(status)
                    else -os.WTERMSIG(status) if os.WIFSIGNALED(status) else 127)
            return code, text
        finally:
            self._lock.release()

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()  # the server exits at the end of its socket
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    proc.kill()
                proc.wait(timeout=5)

"""A container of a *remote* Docker engine (another machine's): a Target (base.py), and
the sessions of such containers (docs/containers.md, "Remote Docker engines").

Nothing of this host can be mounted there, so a session is two ``docker exec``s through
the engine's API: the executor (``unix=`` in the container's private tmpfs, with the
program's stdio) and a relay (``crossjit-executor relay=``) whose attached stream is the
protocol channel. crossjit debug uses a gdbserver inside the container over the same
kind of stream. ``executors.open_session`` sends containers labelled
``crossjit.channel=exec`` here.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import weakref
from typing import TYPE_CHECKING

from crossjit.errors import ExecutorError, NotSupportedError
from crossjit.records import record
from crossjit.targets import containers
from crossjit.targets.base import Attach
from crossjit.targets.container import Container
from crossjit.targets.executors import (
    CONTAINER_RUN,
    DEBUG_LOADER,
    L_ARCH,
    L_DEBUG,
    L_VARIANT,
    QEMU_IN_IMAGE,
    Session,
    _emulated,
    _exec_process,
    _session_command,
)

if TYPE_CHECKING:
    from crossjit.orc.client import OrcClient


class RemoteContainer(Container):
    """``docker:VARIANT`` (or a profile's container) when the engine is another machine's."""

    stdio = "the executor's `docker exec -i` stream, through the engine's API"

    def local_pids(self, client: OrcClient) -> tuple[int, ...]:
        found = exec_session(client)
        if found is None:
            raise ExecutorError(f"not a session on a remote engine's {self.name}")
        return (found.relay_pid, found.exec_pid)

    def attach(self, client: OrcClient) -> Attach:
        pid, command = gdbserver(client, self.name, self.engine)
        return Attach(pid, remote=tuple(command))

    def gdbserver(self, client: OrcClient) -> tuple[int, list[str]]:
        return gdbserver(client, self.name, self.engine)


@record(frozen=True)
class _ExecSession:
    """What a remote session's client knows of it: the local ``docker exec`` clients
    (relay first: killing it hangs the executor up) and the executor's pid inside the
    container (as the relay's SO_PEERCRED saw it; 0 if unknown)."""

    relay_pid: int
    exec_pid: int
    executor_pid: int
    container: str


_EXEC_SESSIONS: weakref.WeakKeyDictionary[object, _ExecSession] = weakref.WeakKeyDictionary()

RELAY_CONNECTED = "crossjit-executor: relay connected to pid "


def _relay_command(variant: str, sock: str, arch: str | None) -> list[str]:
    if arch is not None and _emulated(arch):
        return [QEMU_IN_IMAGE, "/usr/bin/crossjit-executor", f"relay={sock}"]
    if variant == "debian":  # no crossjit-executor in that image; socat retries instead
        return ["socat", "STDIO", f"UNIX-CONNECT:{sock},retry=200,interval=0.05"]
    return ["/usr/bin/crossjit-executor", f"relay={sock}"]


def open_exec_session(name: str, info: containers.ContainerInfo, engine: containers.Engine,
                       sid: str, *, timeout: float, interactive: bool, stdin: int | None,
                       new_session: bool, stdout: int | None, stderr: int | None,
                       debuggable: bool = False) -> Session:
    """A session in a container of a remote engine. Two ``docker exec``s, both through
    the engine's API (the docker CLI speaks DOCKER_HOST / TLS / ssh / contexts): one runs
    the executor listening on a socket in the container's private tmpfs, with the
    program's stdin/stdout/stderr; the other runs a relay that connects to that socket,
    and its attached stream — stdin and stdout of the local ``docker exec`` — is the
    protocol channel, a socketpair here. Nothing listens on any network."""
    import socket

    from crossjit.orc.client import OrcClient
    from crossjit.orc.transport import SocketTransport, process_fate

    variant = info.labels.get(L_VARIANT, "musl")
    arch = info.labels.get(L_ARCH)
    sock = f"{CONTAINER_RUN}/{sid}.sock"
    cmd = _session_command(variant, sock, None, arch)
    if debuggable and variant != "debian":  # for the image's gdbserver (Yama scope 1)
        cmd.append("debuggable")
    proc = _exec_process(name, cmd, interactive=interactive, stdin=stdin, stdout=stdout,
                         stderr=stderr, new_session=new_session)
    ours, theirs = socket.socketpair()
    relay: subprocess.Popen[bytes] | None = None
    try:
        relay = subprocess.Popen(
            ["docker", "exec", "-i", name, *_relay_command(variant, sock, arch)],
            stdin=theirs.fileno(), stdout=theirs.fileno(), stderr=subprocess.PIPE,
            start_new_session=new_session)
        theirs.close()
        pid = _relay_connected(relay, proc, name, time.monotonic() + timeout,
                               expect_pid=variant != "debian")
        transport = SocketTransport(ours, description=f"executor {name} ({variant}) on "
                                    f"{engine.host}", fate=process_fate(proc),
                                    signal_as_status=True)
        _EXEC_SESSIONS[transport] = _ExecSession(relay.pid, proc.pid, pid, name)
        client = OrcClient(transport, timeout=timeout)
    except BaseException:
        ours.close()
        theirs.close()
        finish_exec(proc, relay)
        raise
    return Session(client, proc, engine, name, sid, (), relay)


def _relay_connected(relay: subprocess.Popen[bytes], proc: subprocess.Popen[bytes],
                     name: str, deadline: float, *, expect_pid: bool) -> int:
    """Wait for the relay's "connected to pid N" line on its stderr (the executor
    listens and the channel is complete); N. A session or relay that ends first is an
    error with what it said."""
    import select

    assert relay.stderr is not None
    if not expect_pid:
        return 0
    hint = f"see `crossjit executor logs {name}`"
    got = b""
    while b"\n" not in got:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ExecutorError(f"the executor session in {name} did not connect in time",
                                why=got.decode(errors="replace").strip() or None, hint=hint)
        ready, _, _ = select.select([relay.stderr], [], [], min(left, 0.5))
        if ready:
            chunk = os.read(relay.stderr.fileno(), 4096)
            if not chunk:
                break
            got += chunk
        elif proc.poll() is not None:
            break
    text = got.decode(errors="replace")
    line = text.split("\n", 1)[0]
    if line.startswith(RELAY_CONNECTED) and line[len(RELAY_CONNECTED):].strip().isdigit():
        return int(line[len(RELAY_CONNECTED):])
    err = proc.stderr.read().decode(errors="replace") if proc.stderr and proc.poll() is not \
        None else ""
    raise ExecutorError(f"the executor session in {name} ended before it connected "
                        f"(status {proc.poll()})", why=(err + text).strip() or None, hint=hint)


def finish_exec(proc: subprocess.Popen[bytes], relay: subprocess.Popen[bytes] | None) -> None:
    """End a remote session: after a hang-up both execs end on their own. Otherwise
    (Ctrl-C, a program that never returns) ending the relay's ``docker exec`` closes its
    stream, the relay exits and the executor, hung up, exits too (within 5 s: it waits
    that long for calls in flight)."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    if relay is not None:
        if relay.poll() is None:
            relay.kill()
        relay.wait()
        if relay.stderr is not None:
            relay.stderr.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def exec_session(client: OrcClient) -> _ExecSession | None:
    """The remote-engine session ``client`` talks to, or None (a local container's)."""
    return _EXEC_SESSIONS.get(client.transport)


def gdbserver(client: OrcClient, container: str,
              engine: containers.Engine | None = None) -> tuple[int, list[str]]:
    """For a session on a remote engine: the executor's pid in the container and the
    command whose stdio speaks gdb's remote protocol to a gdbserver attached to it (the
    image's, run through ``docker exec -i``)."""
    found = exec_session(client)
    if found is None or not found.executor_pid:
        raise NotSupportedError(f"crossjit debug cannot find the executor of {container}",
                                why="its session did not report the executor's pid "
                                    "(the debian variant's relay is socat)",
                                hint="debug on a remote engine with the musl variant")
    info = (engine or containers.connect()).get(container)
    labels = info.labels if info is not None else {}
    if not labels.get(L_DEBUG):
        raise NotSupportedError(
            f"the container {container} has no gdbserver",
            why="its image was built without one (crossjit adds this host's gdbserver to "
                "images for remote engines when it is installed and the CPUs match)",
            hint="apt-get install gdbserver, then `crossjit executor up` again")
    loader = DEBUG_LOADER.get(labels.get(L_ARCH, "x86_64"), DEBUG_LOADER["x86_64"])
    d = labels[L_DEBUG]
    return found.executor_pid, ["docker", "exec", "-i", container, f"{d}/{loader}",
                                "--library-path", d, f"{d}/gdbserver", "--attach", "-",
                                str(found.executor_pid)]

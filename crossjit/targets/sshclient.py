"""How crossjit runs the user's OpenSSH client: addresses, options, one-shot scripts, and
the transport of a session's forwarded socket (docs/targets.md).

crossjit adds only options that make ssh fail instead of prompting and notice dead
connections; it never switches host-key checking off, and refuses options that would.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import socket
import subprocess

from crossjit.errors import ExecutorDisconnected, ExecutorError, UsageError, signal_name
from crossjit.orc.transport import SocketTransport
from crossjit.records import record

PREFIX = "ssh:"
# Defaults that the user's CROSSJIT_SSH_OPTIONS (given first, so they win) may override.
DEFAULT_OPTIONS = (
    "-o", "BatchMode=yes",  # never wait for a password or host-key prompt: fail instead
    "-o", "ConnectTimeout=10",
    "-o", "ServerAliveInterval=5",  # a silently dropped network is noticed in ~15 s
    "-o", "ServerAliveCountMax=3",
)
# What CROSSJIT_SSH_OPTIONS must never be used for.
_UNSAFE = re.compile(r"stricthostkeychecking\s*[= ]\s*(no|off)\b"
                     r"|(userknownhostsfile|globalknownhostsfile)\s*[= ]\s*/dev/null", re.I)


def is_ssh(spec: str | None) -> bool:
    return spec is not None and spec.startswith(PREFIX)


@record(frozen=True)
class Address:
    """``[USER@]HOST[:PORT]``; whatever is left out comes from the user's ssh config."""

    host: str
    user: str | None = None
    port: int | None = None

    FORM = "ssh:[USER@]HOST[:PORT] (HOST may be a Host alias of your ssh config; [v6]:PORT)"

    @classmethod
    def parse(cls, text: str) -> Address:
        rest = text.removeprefix(PREFIX)
        user, at, hostport = rest.rpartition("@")
        host, port_s = hostport, ""
        if hostport.startswith("["):
            host, _, tail = hostport[1:].partition("]")
            port_s = tail.removeprefix(":")
            if tail and not tail.startswith(":"):
                raise cls._bad(text, "expected [ADDRESS]:PORT")
        elif hostport.count(":") == 1:
            host, _, port_s = hostport.partition(":")
        if not host or host.startswith("-") or re.search(r"[\s/'\"`$;&|<>]", host):
            raise cls._bad(text, f"{host!r} is not a host name")
        if at and (not user or not re.fullmatch(r"[A-Za-z0-9._][A-Za-z0-9._-]*", user)):
            raise cls._bad(text, f"{user!r} is not a user name")
        port = None
        if port_s:
            if not port_s.isdigit() or not 0 < int(port_s) < 65536:
                raise cls._bad(text, f"port {port_s!r} is not a number in 1..65535")
            port = int(port_s)
        return cls(host, user or None, port)

    @classmethod
    def _bad(cls, text: str, why: str) -> UsageError:
        return UsageError(f"bad SSH device {text!r}", why=why, hint=f"use {cls.FORM}")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (f"{PREFIX}{self.user + '@' if self.user else ''}{host}"
                f"{':' + str(self.port) if self.port else ''}")


def ssh_command() -> list[str]:
    """The ssh client and the options every connection gets (docs/targets.md):
    $CROSSJIT_SSH (default ``ssh``), ``-F $CROSSJIT_SSH_CONFIG``, $CROSSJIT_SSH_OPTIONS."""
    exe = os.environ.get("CROSSJIT_SSH") or "ssh"
    found = shutil.which(exe)
    if found is None:
        raise ExecutorError(f"no ssh client ({exe}) on PATH",
                            hint="install OpenSSH's client: apt-get install openssh-client")
    argv = [found]
    extra = os.environ.get("CROSSJIT_SSH_OPTIONS", "")
    if _UNSAFE.search(extra):
        raise UsageError(
            "CROSSJIT_SSH_OPTIONS may not switch off host-key checking",
            why=f"it says {extra!r}",
            hint="add the device's key to a known_hosts file and name it with "
            "-o UserKnownHostsFile=FILE (or in the ssh config CROSSJIT_SSH_CONFIG names)",
        )
    try:
        argv += shlex.split(extra)
    except ValueError as e:
        raise UsageError("CROSSJIT_SSH_OPTIONS cannot be split into words", why=str(e)) from None
    config = os.environ.get("CROSSJIT_SSH_CONFIG")
    if config:
        argv += ["-F", config]
    return argv + list(DEFAULT_OPTIONS)


def argv(address: Address, *options: str, command: str | None = None) -> list[str]:
    """ssh [OPTIONS] HOST [COMMAND] (a remote command is one word: the login shell gets
    it as is)."""
    a = address
    return [*ssh_command(), *(["-l", a.user] if a.user else []),
            *(["-p", str(a.port)] if a.port else []), "-T", *options, a.host,
            *([command] if command is not None else [])]


def check_hint(address: Address) -> str:
    """The command that shows whether ssh reaches the device without a prompt."""
    return "ssh " + shlex.join(argv(address)[1:]) + " true"


def run_script(address: Address, script: str, what: str, *, data: bytes | None = None,
               timeout: float) -> bytes:
    """Run a POSIX sh script on the device; its stdout. ssh's own failure (255) and the
    script's both become ExecutorErrors carrying what they said."""
    cmd = argv(address, command="sh -c " + shlex.quote(script))
    try:
        p = subprocess.run(cmd, input=data if data is not None else b"",
                           capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ExecutorError(f"{what} on {address} took longer than {timeout:g} s",
                            hint=f"is the device reachable? try: {check_hint(address)}"
                            ) from None
    err = p.stderr.decode(errors="replace").strip()
    if p.returncode == 255:
        raise ExecutorError(
            f"cannot reach the SSH device {address} ({what})", why=err or None,
            hint="crossjit uses your ssh client and its configuration as they are: check "
            f"that `{check_hint(address)}` works without a prompt (a key, and the "
            "device's host key in known_hosts)")
    if p.returncode != 0:
        raise ExecutorError(f"{what} on {address} failed (status {p.returncode})",
                            why=err or None)
    return p.stdout


def fate(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal_name(-returncode)}"
    if returncode == 255:
        return "ended with an error of its own (exit status 255)"
    return f"exited with status {returncode}"


class SshTransport(SocketTransport):
    """The forwarded socket of one SSH session; a disconnect names ssh's fate."""

    def __init__(self, sock: socket.socket, proc: subprocess.Popen[bytes], spec: str, *,
                 exe: str = "", remote_sock: str = "") -> None:
        super().__init__(sock, description=f"executor on {spec}")
        self.proc, self.spec = proc, spec
        self.exe, self.remote_sock = exe, remote_sock  # on the device

    def disconnected(self, why: str) -> ExecutorDisconnected:
        # ssh keeps running while the forwarded channel is open at our end: close it
        # first, so ssh can finish and tell how the session ended.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        try:
            status: int | None = self.proc.wait(2.0)
        except subprocess.TimeoutExpired:
            status = None
        # The remote command's status is ssh's: the executor's own end (the program ended
        # the process: exit() in a library, _exit(), a signal — 128+N from the device's
        # shell), unless ssh itself failed (255) or has not finished: then the connection
        # was lost and nothing is known of the program.
        if status is None or status < 0 or status == 255:  # < 0: ssh itself was killed
            ended = "ssh is still running" if status is None else f"ssh {fate(status)}"
            return ExecutorDisconnected(
                f"the connection to the executor on {self.spec} was lost: {ended}", why=why,
                hint="ssh's own message, if any, is above; the executor on the device ends "
                "with its connection", lost=True)
        sig = status - 128 if 128 < status < 128 + 65 else None
        ended = (f"the executor was killed by {signal_name(sig)}" if sig is not None
                 else f"the executor exited with status {status}")
        return ExecutorDisconnected(
            f"the executor on {self.spec} ended: {ended}", why=why, signal=sig,
            exit_status=None if sig is not None else status)

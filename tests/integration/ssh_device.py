"""A real OpenSSH server standing in for a device, for the ssh: target tests.

As root: a private network namespace with a veth pair (addresses only inside it and on
our end of the pair), Debian's sshd running in it with its own host key, an unprivileged
user of its own with key-only login (``usermod -p '*'``: sshd with UsePAM=no refuses
locked accounts), and an ssh client config whose known_hosts holds exactly that host
key. ``Device.close`` removes all of it; it runs even when set-up fails half way.

``arch="aarch64"``: the same device as an AArch64 machine. sshd runs where AArch64 ELF
files execute under qemu-user (binfmt_ns.py: a binfmt_misc of its own, this machine's is
not touched); the user's login shell is Debian's arm64 busybox-static (pinned, fetched
once), with ``PATH`` (sshd's ``SetEnv``) holding only its applets. So ``uname -m`` on the
device says aarch64, it has no libc loader of its own, and what crossjit uploads and
starts there — the AArch64 executor and the code it runs — is AArch64 code.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.netns import linked_namespace
from tests.prereq import missing, require_tool

SSHD = "/usr/sbin/sshd"
ALIAS = "device"  # the Host alias of the client config
# Debian bookworm's arm64 busybox-static: the AArch64 device's shell and tools.
BUSYBOX = ("busybox-static", "1:1.35.0-4+deb12u1+b1",
           "732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5")
BINFMT_NS = Path(__file__).with_name("binfmt_ns.py")


def _sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=check)


def require_prerequisites() -> None:
    if os.geteuid() != 0:
        missing("the SSH device tests need root (network namespace, useradd)")
    if not Path(SSHD).is_file():
        missing("sshd not found (apt-get install openssh-server)")
    for tool in ("ssh", "ssh-keygen", "ip", "useradd", "userdel", "ss"):
        require_tool(tool)


QEMU_BINFMT = Path("/usr/libexec/qemu-binfmt/aarch64-binfmt-P")


def qemu_binfmt() -> str:
    """qemu-aarch64-static under the name that makes it keep argv[0] (binfmt's P flag);
    static, as binfmt's F flag wants an interpreter that needs no loader."""
    if not QEMU_BINFMT.exists():
        missing(f"{QEMU_BINFMT} (apt-get install qemu-user-static)")
    release = tuple(int(x) for x in re.findall(r"\d+", os.uname().release)[:2])
    if release < (6, 7):  # binfmt_misc instances per user namespace
        missing(f"Linux >= 6.7 for a private binfmt_misc (this is {os.uname().release})")
    return str(QEMU_BINFMT)


def aarch64_busybox() -> Path:
    """Debian's arm64 busybox-static binary, fetched once (pinned by version and sha256)
    into crossjit's cache directory."""
    from crossjit.compile import cache

    name, version, sha = BUSYBOX
    dest = cache.root() / "test-fixtures" / f"{name}-arm64-{sha[:12]}" / "busybox"
    if dest.is_file():
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        got = subprocess.run(["apt-get", "download", "-q", f"{name}:arm64={version}"],
                             cwd=tmp, capture_output=True, text=True, timeout=300,
                             check=False)
        debs = list(Path(tmp).glob("*.deb"))
        if got.returncode != 0 or len(debs) != 1:
            missing(f"cannot download {name}:arm64={version} ({got.stderr.strip()[-300:]}); "
                    "dpkg needs the arm64 architecture (scripts/arm64-root adds it)")
        digest = hashlib.sha256(debs[0].read_bytes()).hexdigest()
        if digest != sha:
            raise RuntimeError(f"{debs[0].name}: sha256 {digest}, pinned {sha}")
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), f"{tmp}/x"], check=True, timeout=120)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f"{tmp}/x/bin/busybox", f"{dest}.tmp")
        os.chmod(f"{dest}.tmp", 0o755)
        os.replace(f"{dest}.tmp", dest)
    return dest


@dataclass
class Device:
    workdir: Path
    arch: str = "x86_64"  # or aarch64: see the module's docstring
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    netns: str = ""
    user: str = ""
    address: str = ""
    config: Path = Path()
    sshd: subprocess.Popen[bytes] | None = None
    _cleanups: list[tuple[str, ...]] = field(default_factory=list)
    _made_run_sshd: bool = False

    # ---- set-up ----------------------------------------------------------------------
    def start(self) -> None:
        self.netns, self.user = f"cjssh-{self.tag}", f"cjssh{self.tag}"
        host_if, dev_if = f"cjsh{self.tag}", f"cjsd{self.tag}"
        _, self.address = linked_namespace(self.netns, host_if, dev_if, self._cleanups)

        _sh("useradd", "-m", "-s", "/bin/sh", self.user)
        self._cleanups.append(("userdel", "-r", "-f", self.user))
        _sh("usermod", "-p", "*", self.user)  # not locked, but no password either
        w = self.workdir
        _sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(w / "host_key"))
        _sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(w / "user_key"))
        home = Path(pwd.getpwnam(self.user).pw_dir)
        extra = ""
        prefix: list[str] = []
        if self.arch == "aarch64":
            tools = home / ".aarch64"
            tools.mkdir(mode=0o755)
            # named sh: busybox picks the applet by argv[0] (sshd runs SHELL -c CMD)
            shutil.copyfile(aarch64_busybox(), tools / "sh")
            (tools / "sh").chmod(0o755)
            _sh("usermod", "-s", str(tools / "sh"), self.user)
            extra = f"SetEnv PATH={tools}\n"
            prefix = [sys.executable, str(BINFMT_NS), qemu_binfmt()]
            # sshd's own user namespace does not own the network namespace: let it bind
            # port 22 there (a per-namespace setting; this machine's stays as it is)
            self.in_ns("sysctl", "-q", "-w", "net.ipv4.ip_unprivileged_port_start=0")
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text((w / "user_key.pub").read_text())
        (ssh_dir / "authorized_keys").chmod(0o600)
        _sh("chown", "-R", f"{self.user}:{self.user}", str(ssh_dir))

        (w / "sshd_config").write_text(
            f"ListenAddress {self.address}\nPort 22\nHostKey {w / 'host_key'}\n"
            "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            f"PubkeyAuthentication yes\nAllowUsers {self.user}\nPidFile none\n"
            f"LogLevel VERBOSE\n{extra}")
        if not Path("/run/sshd").is_dir():  # sshd's privilege-separation directory
            Path("/run/sshd").mkdir(mode=0o755)
            self._made_run_sshd = True
        log = (w / "sshd.log").open("wb")
        self.sshd = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, *prefix, SSHD, "-D", "-e", "-f",
             str(w / "sshd_config")],
            stdout=log, stderr=log)
        host_pub = " ".join((w / "host_key.pub").read_text().split()[:2])
        self.config = self.write_config("ssh_config", f"{self.address} {host_pub}\n")
        self.wait_ready()

    def write_config(self, name: str, known_hosts: str) -> Path:
        """A client config for the device whose known_hosts file holds ``known_hosts``."""
        w = self.workdir
        (w / f"{name}.known_hosts").write_text(known_hosts)
        path = w / name
        path.write_text(
            f"Host {ALIAS}\n  HostName {self.address}\n  User {self.user}\n"
            f"  IdentityFile {w / 'user_key'}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {w / f'{name}.known_hosts'}\n  StrictHostKeyChecking yes\n")
        return path

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            p = subprocess.run(self.ssh_argv("true"), capture_output=True, timeout=30,
                               check=False)
            if p.returncode == 0:
                return
            if (self.sshd is not None and self.sshd.poll() is not None) or \
                    time.monotonic() > deadline:
                log = (self.workdir / "sshd.log").read_text(errors="replace")
                raise RuntimeError(f"sshd did not come up: {p.stderr!r}\n{log}")
            time.sleep(0.1)

    # ---- using it ----------------------------------------------------------------------
    def in_ns(self, *argv: str) -> str:
        return _sh("ip", "netns", "exec", self.netns, *argv).stdout

    def ssh_argv(self, command: str) -> list[str]:
        return ["ssh", "-F", str(self.config), "-o", "BatchMode=yes", ALIAS, command]

    def run(self, command: str) -> str:
        """A shell command as the device's user (through sshd, like crossjit)."""
        return _sh(*self.ssh_argv(command)).stdout

    def env(self, **extra: str) -> dict[str, str]:
        """The environment crossjit needs to reach the device as ``ssh:device``."""
        return dict(os.environ, CROSSJIT_SSH_CONFIG=str(self.config), **extra)

    def logins(self) -> int:
        """How many SSH connections sshd has accepted so far (from its log)."""
        text = (self.workdir / "sshd.log").read_text(errors="replace")
        return text.count(f"Accepted publickey for {self.user} ")

    def uid(self) -> int:
        return pwd.getpwnam(self.user).pw_uid

    def processes(self) -> dict[int, str]:
        """pid → command line of every process the device's user runs."""
        uid, found = self.uid(), {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if entry.stat().st_uid != uid:
                    continue
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            found[int(entry.name)] = cmd.strip()
        return found

    def wait_no_processes(self, timeout: float = 10.0) -> dict[int, str]:
        """Wait until the user runs nothing; what still ran at the deadline."""
        deadline = time.monotonic() + timeout
        while (left := self.processes()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left

    def listening_tcp_udp(self) -> set[str]:
        """Listening TCP and bound UDP sockets in the device's namespace, as ss shows them
        (local address:port), checked against /proc/net/tcp*/udp* too."""
        ss = {line.split()[4] for line in self.in_ns("ss", "-Hlntu").splitlines() if line}
        ports = set()
        for table in ("tcp", "tcp6", "udp", "udp6"):
            for line in self.in_ns("cat", f"/proc/net/{table}").splitlines()[1:]:
                cols = line.split()
                # TCP_LISTEN is 0A; an unconnected UDP socket is 07 (TCP_CLOSE)
                if cols[3] in ("0A", "07"):
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
        assert {int(a.rsplit(":", 1)[1]) for a in ss} == ports, (ss, ports)
        return ss

    # ---- teardown ----------------------------------------------------------------------
    def close(self) -> None:
        with contextlib.suppress(KeyError):
            for pid in self.processes():  # by pid: only this test's user's processes
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        if self.sshd is not None:
            self.sshd.kill()
            self.sshd.wait(10)
        for argv in reversed(self._cleanups):
            _sh(*argv, check=False)
        if self._made_run_sshd:
            with contextlib.suppress(OSError):
                Path("/run/sshd").rmdir()


@contextlib.contextmanager
def device(workdir: Path, arch: str = "x86_64") -> Iterator[Device]:
    require_prerequisites()
    dev = Device(workdir, arch)
    try:
        dev.start()
        yield dev
    finally:
        dev.close()

"""SSH devices as targets: ``ssh:[USER@]HOST[:PORT]`` (docs/targets.md).

Everything goes through the user's own OpenSSH client and configuration (keys, agent,
``~/.ssh/config``, known_hosts; how it is run: ``sshclient.py``). Per session:

1. probe (one ``ssh HOST sh -c …``): architecture, libc, page size, the per-user cache
   directory, and which of our executor builds it already holds (by sha256);
2. upload the matching ``crossjit-executor`` build once, content-addressed, into
   ``${XDG_CACHE_HOME:-~/.cache}/crossjit/executors/<sha256>`` on the device;
3. ``ssh -R DEVICE.sock:LOCAL.sock HOST 'EXE connect=DEVICE.sock'``: the executor
   *connects* to the socket sshd listens on for the forward, which ssh carries back to a
   unix socket crossjit listens on in a private (0700) directory. The executor listens
   on nothing; no TCP port is ever opened on the device. The program's stdin, stdout and
   stderr are the SSH session's own channels (stdout and stderr stay separate).

The executor exits when its protocol connection ends, and that connection is sshd's: a
lost SSH connection (killed client, killed sshd, Ctrl-C) ends the executor with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from crossjit import elf
from crossjit.compile import cache as cachedir
from crossjit.errors import ExecutorError, NotSupportedError, Progress, UsageError
from crossjit.project import plan
from crossjit.records import field, record
from crossjit.targets import sshclient
from crossjit.targets.base import Attach, TargetInfo, record_event
from crossjit.targets.sshclient import Address, is_ssh, ssh_command

__all__ = ["BUILDS", "Address", "SshDevice", "is_ssh", "ssh_command"]

if TYPE_CHECKING:
    from crossjit.orc.client import OrcClient

PROBE_TIMEOUT = 30.0  # connecting and one short shell script
UPLOAD_TIMEOUT = 300.0
CONNECT_TIMEOUT = 30.0  # from starting the session's ssh to the executor's Setup
REAP_TIMEOUT = 5.0
MAX_LIBRARY_BYTES = 64 << 20
SUN_PATH_MAX = 108  # sizeof(sockaddr_un.sun_path) on Linux
# (arch, libc) -> the crossjit-executor build in executor/build/ and the triple it reports.
BUILDS: Mapping[tuple[str, str], tuple[str, str]] = {
    ("x86_64", "glibc"): ("crossjit-executor-glibc", "x86_64-pc-linux-gnu"),
    ("x86_64", "musl"): ("crossjit-executor-musl", "x86_64-pc-linux-musl"),
    ("x86_64", "none"): ("crossjit-executor-musl-static", "x86_64-pc-linux-musl"),
    ("aarch64", "musl"): ("crossjit-executor-aarch64-musl", "aarch64-unknown-linux-musl"),
    ("aarch64", "none"): ("crossjit-executor-aarch64-musl-static", "aarch64-unknown-linux-musl"),
}
ARCH_NAMES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
# How each CPU is spelled in its loaders' names: ld-musl-x86_64.so.1, ld-linux-x86-64.so.2
LOADER_ARCH = {"x86_64": ("x86_64", "x86-64"), "aarch64": ("aarch64",)}


@record
class _Probe:
    info: TargetInfo
    cache: str  # the executor cache directory on the device
    run_dir: str  # where the forwarded sockets appear on the device (its user's home)
    have: frozenset[str]  # sha256 of the builds known to be there
    loaders: tuple[str, ...]  # /lib/ld-musl-*.so.1, /lib64/ld-linux-*.so.*
    # From an earlier run's probe (not asked this time): the session checks that its
    # executor is still there and, if not, the device is probed afresh.
    remembered: bool = False

    def to_json(self) -> str:
        i = self.info
        return json.dumps({"arch": i.arch, "libc": i.libc, "page_size": i.page_size,
                           "triple": i.triple, "cache": self.cache, "run": self.run_dir,
                           "loaders": list(self.loaders)})

    @classmethod
    def from_json(cls, text: str) -> _Probe:
        d = json.loads(text)
        return cls(TargetInfo(d["arch"], d["libc"], int(d["page_size"]), d["triple"]),
                   d["cache"], d["run"], frozenset(), tuple(d["loaders"]), remembered=True)


class _StaleProbe(ExecutorError):
    """A remembered probe no longer matches the device (its executor is not there)."""

    STATUS = 124  # what the session's guard exits with


@record
class SshDevice:
    """A device reached with OpenSSH: the ``Target`` of ``ssh:`` specs."""

    address: Address
    env: tuple[tuple[str, str], ...] = ()
    workdir: str | None = None
    _probe: _Probe | None = field(default=None, repr=False)
    _sonames: dict[str, str] = field(default_factory=dict, repr=False)

    stdio = "the SSH session's stdin, stdout and stderr channels"
    reads_stdin_ahead = True
    fresh_sessions = True

    @classmethod
    def from_spec(cls, spec: str, *, env: Sequence[tuple[str, str]] = (),
                  workdir: str | None = None) -> SshDevice:
        for key, _ in env:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise UsageError(f"{key!r} is not an environment variable name")
        return cls(Address.parse(spec), tuple(env), workdir)

    @property
    def spec(self) -> str:
        return str(self.address)

    def _run(self, script: str, what: str, *, data: bytes | None = None,
             timeout: float = PROBE_TIMEOUT) -> str:
        return sshclient.run_script(self.address, script, what, data=data,
                                    timeout=timeout).decode(errors="replace")

    # ---- what the target is ----------------------------------------------------------
    def probe(self) -> TargetInfo:
        return self._probed().info

    def _memo(self) -> Path:
        """Where this device's last probe is remembered: one SSH connection fewer per run.
        Keyed by everything that decides which machine ``ssh HOST`` reaches."""
        key = json.dumps([self.spec, *(os.environ.get(k) for k in (
            "CROSSJIT_SSH", "CROSSJIT_SSH_CONFIG", "CROSSJIT_SSH_OPTIONS"))])
        return cachedir.root() / "ssh" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"

    def _probed(self, *, fresh: bool = False) -> _Probe:
        if self._probe is not None and not fresh:
            return self._probe
        memo = self._memo()
        if not fresh:
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                self._probe = _Probe.from_json(memo.read_text())
                return self._probe
        shas = " ".join(sorted({_sha256(p) for p in _local_builds().values()}))
        out = self._run(_PROBE_SCRIPT.replace("@SHAS@", shas), "probing the device")
        kv: dict[str, list[str]] = {}
        for line in out.splitlines():
            if line.startswith("cj:"):
                key, _, value = line[3:].partition("=")
                kv.setdefault(key, []).append(value)
        one = {k: v[0] for k, v in kv.items()}
        if "error" in one:
            raise ExecutorError(f"the device {self.spec} has no usable cache directory",
                                why=one["error"])
        raw_arch = one.get("arch", "").strip()
        arch = ARCH_NAMES.get(raw_arch)
        if arch is None:
            raise NotSupportedError(
                f"the device {self.spec} is a {raw_arch or 'machine of unknown type'}: "
                "crossjit has no executor for it yet",
                hint="supported: " + ", ".join(sorted(set(ARCH_NAMES.values()))))
        # Only the device's own CPU's loaders count (a multiarch root may hold others).
        loaders = tuple(x for x in kv.get("loader", [])
                        if any(a in x.rsplit("/", 1)[-1] for a in LOADER_ARCH[arch]))
        libc = _libc_of(one.get("ldd", ""), loaders, arch)
        page = int(one["page"]) if one.get("page", "").isdigit() else 4096
        _, triple = _build_for(arch, libc)
        self._probe = _Probe(TargetInfo(arch, libc, page, triple), one["cache"], one["run"],
                             frozenset(kv.get("have", [])), loaders)
        with contextlib.suppress(OSError):
            cachedir.atomic_write(memo, self._probe.to_json().encode())
        return self._probe

    def executor_build(self, triple: str | None) -> tuple[Path, str]:
        """The local crossjit-executor build for code of ``triple`` (None: the device's
        own libc), and the triple it will report."""
        p = self._probed()
        arch, libc = p.info.arch, p.info.libc
        if triple is not None:
            want_arch = ARCH_NAMES.get(triple.split("-")[0], triple.split("-")[0])
            if want_arch != arch:
                raise UsageError(f"target {triple} does not match the device {self.spec} "
                                 f"({arch})", hint="leave out --target, or use that "
                                 "architecture's triple")
            want_libc = plan.libc_of(triple)
            if want_libc != libc:
                musl_here = any("ld-musl" in x for x in p.loaders)
                if want_libc == "musl":
                    libc = "musl" if musl_here and (arch, "musl") in BUILDS else "none"
                else:
                    raise NotSupportedError(
                        f"the device {self.spec} has no glibc for target {triple}",
                        why=f"its libc is {libc}", hint="use a musl triple for this device")
        name, reported = _build_for(arch, libc)
        path = plan.executor_builds() / name
        if not path.is_file():
            raise ExecutorError(
                f"{name} has not been built (the device {self.spec} needs it)",
                why=f"no {path}",
                hint='build it: make -C executor ZIG="python3 -m ziglang" all aarch64')
        return path, reported

    # ---- getting the executor there --------------------------------------------------
    def ensure_executor(self, build: Path, progress: Progress | None = None) -> str:
        """The executor's path on the device, uploaded unless the cache has it."""
        p = self._probed()
        sha = _sha256(build)
        remote = f"{p.cache}/{sha}"
        if sha in p.have:
            record_event("executor-cached", target=self.spec, build=build.name, sha256=sha)
            return remote
        if p.remembered:
            return remote  # presumably there; the session checks (see _StaleProbe)
        data = build.read_bytes()
        if progress:
            progress(f"uploading {build.name} ({len(data) // 1024} KiB) to {self.spec}")
        script = (_UPLOAD_SCRIPT.replace("@DIR@", shlex.quote(p.cache))
                  .replace("@SHA@", sha))
        self._run(script, f"uploading {build.name}", data=data, timeout=UPLOAD_TIMEOUT)
        p.have = p.have | {sha}
        record_event("executor-uploaded", target=self.spec, build=build.name, sha256=sha,
               bytes=len(data))
        return remote

    # ---- libraries -------------------------------------------------------------------
    def running(self, progress: Progress | None = None, keep: bool = False
                ) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()  # nothing to start: base.Target.running

    def resolve_libraries(self, names: Sequence[str]) -> tuple[str, ...]:
        """Each name as the device's loader opens it: its SONAME, read from the device's
        own file (``libz.so`` there may be absent or a -dev symlink)."""
        todo = [n for n in names if "/" not in n and n not in self._sonames]
        if todo:
            self._find_libraries(todo)
        return tuple(n if "/" in n else self._sonames[n] for n in names)

    def _find_libraries(self, names: Sequence[str]) -> None:
        p = self._probed()
        dirs = ["/lib", "/usr/lib", f"/lib/{p.info.arch}-linux-gnu",
                f"/usr/lib/{p.info.arch}-linux-gnu", "/lib64", "/usr/lib64", "/usr/local/lib"]
        script = (_FIND_SCRIPT.replace("@NAMES@", " ".join(map(shlex.quote, names)))
                  .replace("@DIRS@", " ".join(map(shlex.quote, dirs))))
        found: dict[str, str] = {}
        for line in self._run(script, "looking up libraries").splitlines():
            if line.startswith("cj:lib="):
                name, _, path = line[7:].partition(" ")
                if path:
                    found[name] = path
        missing = [n for n in names if n not in found]
        if missing:
            raise ExecutorError(
                f"no library {', '.join(missing)} on the device {self.spec}",
                why=f"looked in {', '.join(dirs)} and the musl loader's path file",
                hint="install the library on the device, or give its path there")
        for name, path in found.items():
            data = self._fetch(path)
            with tempfile.NamedTemporaryFile(prefix="crossjit-lib-") as tmp:
                tmp.write(data)
                tmp.flush()
                info = elf.dynamic_info(Path(tmp.name))
            if info is None:
                raise ExecutorError(f"{path} on the device {self.spec} is not a shared "
                                    f"library (wanted for {name})")
            self._sonames[name] = info[0] or Path(path).name
            record_event("library-resolved", target=self.spec, name=name, path=path,
                   soname=self._sonames[name])

    def _fetch(self, path: str) -> bytes:
        argv = sshclient.argv(self.address, command="sh -c " + shlex.quote(
            f"f={shlex.quote(path)}; [ $(wc -c < \"$f\") -le {MAX_LIBRARY_BYTES} ] && "
            "exec cat \"$f\""))
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=UPLOAD_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise ExecutorError(f"reading {path} from {self.spec} took too long") from None
        if p.returncode != 0:
            raise ExecutorError(f"cannot read {path} on the device {self.spec}",
                                why=p.stderr.decode(errors="replace").strip() or None)
        return p.stdout

    def local_pids(self, client: OrcClient) -> tuple[int, ...]:
        """The session's ssh: killing it ends the connection, and with it the executor."""
        transport = client.transport
        if not isinstance(transport, sshclient.SshTransport):
            raise ExecutorError(f"not a session on {self.spec}")
        return (transport.proc.pid,)

    # ---- debugging -------------------------------------------------------------------
    def attach(self, client: OrcClient) -> Attach:
        pid, command = self.gdbserver(client)
        return Attach(pid, remote=tuple(command))

    def gdbserver(self, client: OrcClient) -> tuple[int, list[str]]:
        """The executor's pid on the device, and ``ssh HOST gdbserver - --attach PID``."""
        transport = client.transport
        if not isinstance(transport, sshclient.SshTransport):
            raise ExecutorError(f"not a session on {self.spec}")
        # The executor is the process whose command line is exactly ours (its shell's
        # contains the same words, after "sh -c").
        script = (_PID_SCRIPT.replace("@ARGV@", shlex.quote(
            f"{transport.exe} connect={transport.remote_sock} quiet")))
        out = self._run(script, "looking for the executor's process")
        if "cj:nogdbserver" in out:
            raise NotSupportedError(
                f"the device {self.spec} has no gdbserver",
                why="crossjit debug attaches gdb to the executor there through gdbserver",
                hint="install it on the device (Debian: apt-get install gdbserver)")
        pids = [int(line[7:]) for line in out.splitlines() if line.startswith("cj:pid=")]
        if len(pids) != 1:
            raise ExecutorError(f"cannot find the executor's process on {self.spec}",
                                why=f"{len(pids)} processes match its command line")
        return pids[0], sshclient.argv(self.address,
                                       command=f"exec gdbserver - --attach {pids[0]}")

    # ---- sessions --------------------------------------------------------------------
    def session_command(self, exe: str, sock: str, *, check: bool = False) -> str:
        """The remote shell command of a session: the executor connects to ``sock`` (the
        forward sshd listens on), which is removed when the executor ends. ``check``:
        first make sure ``exe`` is there (exit 124 if not)."""
        q = shlex.quote(sock)
        lines = [f"[ -x {shlex.quote(exe)} ] || {{ rm -f {q}; exit {_StaleProbe.STATUS}; }}"
                 ] if check else []
        if self.workdir:
            lines.append(f"cd {shlex.quote(self.workdir)} || {{ rm -f {q}; exit 125; }}")
        lines += [f"{k}={shlex.quote(v)}; export {k}" for k, v in self.env]
        lines.append(f"{shlex.quote(exe)} connect={q} quiet; s=$?; rm -f {q}; exit $s")
        return "\n".join(lines)

    @contextlib.contextmanager
    def session(self, *, triple: str | None = None, stdin: int | None = None,
                progress: Progress | None = None, new_session: bool = False,
                timeout: float = 30.0) -> Iterator[OrcClient]:
        with contextlib.ExitStack() as stack:
            try:
                client = stack.enter_context(self._session(triple, stdin, progress, timeout,
                                                                   new_session))
            except _StaleProbe:
                # the remembered probe was out of date: ask the device, upload, retry once
                with contextlib.suppress(OSError):
                    self._memo().unlink()
                self._probed(fresh=True)
                client = stack.enter_context(self._session(triple, stdin, progress, timeout,
                                                                   new_session))
            yield client

    @contextlib.contextmanager
    def _session(self, triple: str | None, stdin: int | None, progress: Progress | None,
                 timeout: float, new_session: bool) -> Iterator[OrcClient]:
        from crossjit.orc.client import OrcClient
        from crossjit.orc.transport import UnixListener

        build, _ = self.executor_build(triple)
        exe = self.ensure_executor(build, progress)
        sha = _sha256(build)
        unsure = sha not in self._probed().have  # only with a remembered probe
        # In the home directory, which always exists (a cache directory may have been
        # wiped, and sshd binds the forward before any command could create one); sshd
        # creates it 0600 (StreamLocalBindMask), the shell removes it afterwards.
        remote = f"{self._probed().run_dir}/.crossjit-{secrets.token_hex(8)}.sock"
        if len(remote.encode()) >= SUN_PATH_MAX:
            raise ExecutorError(
                f"the socket path on {self.spec} is too long for a unix socket",
                why=f"{remote} has {len(remote.encode())} bytes (at most {SUN_PATH_MAX - 1})",
                hint="the device user's home directory needs a shorter path")
        local_dir = tempfile.mkdtemp(prefix="crossjit-ssh-")  # 0700: only we can connect
        listener = UnixListener(os.path.join(local_dir, "executor.sock"))
        argv = sshclient.argv(
            self.address, "-o", "ExitOnForwardFailure=yes",
            # our own connection, not a shared master: the executor's lifetime is
            # exactly this ssh process's
            "-o", "ControlMaster=no", "-o", "ControlPath=none",
            "-R", f"{remote}:{listener.path}",
            command=self.session_command(exe, remote, check=unsure))
        proc: subprocess.Popen[bytes] | None = None
        client: OrcClient | None = None
        try:
            proc = subprocess.Popen(argv, stdin=stdin, start_new_session=new_session)
            record_event("ssh-session", target=self.spec, pid=proc.pid, build=build.name)

            def gone() -> ExecutorError | None:
                assert proc is not None
                if proc.poll() is None:
                    return None
                # missing (124) or not runnable there (126, 127): the device changed
                if unsure and proc.returncode in (_StaleProbe.STATUS, 126, 127):
                    return _StaleProbe(f"the executor is not on {self.spec} any more")
                return ExecutorError(
                    f"the executor session on {self.spec} ended before it connected",
                    why=f"ssh {sshclient.fate(proc.returncode)}; its own message, if any, "
                    "is above",
                    hint=f"check that `{sshclient.check_hint(self.address)}` works "
                    "without a prompt; if ssh said \"remote port forwarding failed\", the "
                    "device's sshd refuses unix-socket forwarding (AllowStreamLocalForwarding)")

            running = proc
            transport = listener.accept(
                deadline=time.monotonic() + CONNECT_TIMEOUT,
                description=f"executor on {self.spec}", gone=gone,
                make=lambda sock: sshclient.SshTransport(sock, running, self.spec, exe=exe,
                                                         remote_sock=remote))
            # connected: the socket file is gone (accept unlinks it), so is its folder
            shutil.rmtree(local_dir, ignore_errors=True)
            client = OrcClient(transport, timeout=timeout)
            if unsure:  # it was there after all: nothing had to be sent
                p = self._probed()
                p.have = p.have | {sha}
                record_event("executor-cached", target=self.spec, build=build.name, sha256=sha)
            if progress:
                progress(f"executor on {self.spec}: {client.info.triple}, {client.info.dialect}")
            yield client
        finally:
            listener.close()
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
            if proc is not None:
                # After a hang-up the executor exits and ssh with it, having delivered
                # the program's last output; anything else is ended here.
                try:
                    proc.wait(REAP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            shutil.rmtree(local_dir, ignore_errors=True)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _local_builds() -> dict[str, Path]:
    root = plan.executor_builds()
    return {name: root / name for name, _ in BUILDS.values() if (root / name).is_file()}


def _build_for(arch: str, libc: str) -> tuple[str, str]:
    if (arch, libc) in BUILDS:
        return BUILDS[(arch, libc)]
    return BUILDS[(arch, "none")]  # e.g. an AArch64 glibc device: the static build


def _libc_of(ldd: str, loaders: Sequence[str], arch: str) -> str:
    """The device's own libc: what its ldd says, else which loader it has."""
    text = ldd.lower()
    if "musl" in text:
        return "musl"
    if "glibc" in text or "gnu libc" in text or "gnu c library" in text:
        return "glibc"
    if any("ld-musl" in x for x in loaders):
        return "musl"
    if any("ld-linux" in x for x in loaders):
        return "glibc"
    return "none"


# Probe: POSIX sh, busybox-friendly. Lines "cj:KEY=VALUE" (a login script may print more).
_PROBE_SCRIPT = r"""
echo "cj:arch=$(uname -m)"
echo "cj:page=$(getconf PAGESIZE 2>/dev/null || getconf PAGE_SIZE 2>/dev/null)"
echo "cj:ldd=$(ldd --version 2>&1 | head -n 1)"
for f in /lib/ld-musl-*.so.1 /lib64/ld-linux-*.so.* /lib/ld-linux-*.so.*; do
  [ -e "$f" ] && echo "cj:loader=$f"
done
base=${XDG_CACHE_HOME:-$HOME/.cache}/crossjit
umask 077
if mkdir -p "$base/executors"; then
  echo "cj:cache=$base/executors"
  echo "cj:run=$HOME"
else
  echo "cj:error=cannot create $base"
fi
for h in @SHAS@; do [ -x "$base/executors/$h" ] && echo "cj:have=$h"; done
# sockets of sessions that were killed before their shell could remove them
find "$HOME" -maxdepth 1 -name '.crossjit-*.sock' -mmin +1440 -exec rm -f {} + 2>/dev/null
exit 0
"""

# Upload: into a temporary name, checked (when sha256sum exists) and renamed into place,
# so a cache entry is always a complete binary.
_UPLOAD_SCRIPT = r"""
umask 077
d=@DIR@; t="$d/.upload.$$"
cat > "$t" || exit 1
if command -v sha256sum >/dev/null 2>&1; then
  s=$(sha256sum "$t"); s=${s%% *}
  if [ "$s" != @SHA@ ]; then rm -f "$t"; echo "upload corrupted: sha256 $s" >&2; exit 1; fi
fi
chmod 700 "$t" && mv -f "$t" "$d/@SHA@"
"""

_PID_SCRIPT = r"""
command -v gdbserver >/dev/null 2>&1 || { echo cj:nogdbserver; exit 0; }
want=@ARGV@
for p in /proc/[0-9]*; do
  [ "$(tr '\000' ' ' < "$p/cmdline" 2>/dev/null)" = "$want " ] && echo "cj:pid=${p#/proc/}"
done
exit 0
"""

_FIND_SCRIPT = r"""
dirs="@DIRS@ $(cat /etc/ld-musl-*.path 2>/dev/null | tr ':' ' ')"
for n in @NAMES@; do
  for d in $dirs; do
    if [ -e "$d/$n" ]; then
      echo "cj:lib=$n $(readlink -f "$d/$n" 2>/dev/null || echo "$d/$n")"; break
    fi
  done
done
exit 0
"""

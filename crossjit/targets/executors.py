"""Executor containers: images, hardened long-lived containers, and one session per run.

Channel (see docs/containers.md): the container runs with ``--network none`` and a host
directory bind-mounted at ``/run/crossjit``. Each session is a fresh executor started by
``docker exec -i`` that listens on ``/run/crossjit/<id>.sock``; crossjit connects to that
socket from the host side of the mount. The protocol thus needs no network at all, and
the program's stdin/stdout/stderr are those of the ``docker exec`` — streamed to the
user's terminal, never mixed into the protocol stream. Debian's LLVM 16 executor has no
unix-socket mode, so socat listens for it and hands the connection over as fds 3/4.

Ready means: a probe session completed the Setup handshake within a deadline.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from crossjit.errors import (
    ContainerError,
    ExecutorError,
    NotSupportedError,
    Progress,
    UsageError,
    quiet,
)
from crossjit.project import plan, recipes
from crossjit.records import field, record, replace
from crossjit.targets import containers, procfs, soname, sysroot

if TYPE_CHECKING:
    from crossjit.orc.client import ExecutorInfo, OrcClient
    from crossjit.orc.transport import Fate
    from crossjit.project.profile import Profile

VARIANTS = ("musl", "debian", "alpine")
CONTAINER_RUN = "/run/crossjit"
IMAGE_PREFIX = "crossjit/executor-"
READY_DEADLINE = 30.0
EXECUTOR_BUILDS = plan.EXECUTOR_SOURCE / "build"  # the default of plan.executor_builds()
DEFAULT_MUSL_SYSROOT = "debian-musl"

# Labels: what `executor status`, sessions and `crossjit clean` read back.
L_KIND, L_VARIANT, L_PROFILE, L_RUNDIR = (
    "crossjit.kind",
    "crossjit.variant",
    "crossjit.profile",
    "crossjit.rundir",
)
# Containers of images whose sessions report the executor's exit status (debian:
# crossjit-status); one started from an older image runs sessions the old way.
L_STATUS, STATUS_FILE = "crossjit.session-status", "file"
# The container's CPU; an AArch64 one on another host runs everything under qemu-user.
L_ARCH = "crossjit.arch"
QEMU_IN_IMAGE = "/usr/bin/qemu-aarch64-static"
# How sessions reach the executor: "mount" (a host directory bind-mounted at
# /run/crossjit; a container of this host's engine) or "exec" (a remote engine: the
# protocol travels through the attached stream of a `docker exec` running a relay).
L_CHANNEL, CHANNEL_EXEC = "crossjit.channel", "exec"
# Images built for a remote engine carry a gdbserver (crossjit debug cannot attach by a
# host pid there): its files, and the label saying so.
L_DEBUG, DEBUG_DIR = "crossjit.debug-server", "/opt/crossjit/debug"
DEBUG_LOADER = {"x86_64": "ld-linux-x86-64.so.2", "aarch64": "ld-linux-aarch64.so.1"}



@record(frozen=True)
class ExecutorConfig:
    """Everything that decides the image and the container of one executor."""

    variant: str
    name: str
    arch: str = "x86_64"  # the profile's target CPU (aarch64: the musl-aarch64 recipe)
    profile: str | None = None
    sysroot: Path | None = None  # musl: loader and dlopen libraries come from here
    dlopen: tuple[str, ...] = ()
    host_network: bool = False  # only when the profile publishes ports
    env: tuple[tuple[str, str], ...] = ()
    workdir: str | None = None
    mounts: tuple[tuple[Path, str], ...] = ()
    tls: str | None = None  # container folder for the self-signed cert.pem + key.pem
    ports: tuple[int, ...] = ()  # what the program serves (reported for remote engines)
    remote: bool = False  # the engine is another machine's (set by `up`)
    pids_limit: int = 128
    mem_limit: str = "1g"
    extra: dict[str, str] = field(default_factory=dict)


def config(
    variant: str | None = None,
    profile: Profile | None = None,
    mounts: Sequence[tuple[Path, str]] = (),
) -> ExecutorConfig:
    """The executor of ``profile`` (or a bare ``variant``; default musl)."""
    ex = profile.executor if profile is not None else None
    chosen = variant or (ex.variant if ex is not None else None) or "musl"
    if chosen == "local":
        raise UsageError(
            "the local executor runs on this host and needs no container",
            hint="`crossjit run` spawns it; `executor up` is for musl, debian or alpine",
        )
    if chosen not in VARIANTS:
        raise UsageError(
            f"unknown executor variant {chosen!r}", hint=f"use one of {', '.join(VARIANTS)}"
        )
    # A profile's target.triple decides the container's CPU; a bare variant is this host's.
    arch = sysroot.target_arch(profile.target.triple if profile is not None else None)
    if arch != plan.host_arch() and (arch, chosen) != ("aarch64", "musl"):
        raise NotSupportedError(
            f"no {chosen} executor container for {arch} yet",
            why=f"the profile's target is {profile.target.triple if profile else arch}; "
                "only the musl variant has a container for another CPU (aarch64, under "
                "qemu-user)",
            hint="use executor variant musl with an aarch64-linux-musl target, or "
                 "`crossjit jit --target aarch64-…` (a local qemu'd executor)")
    root: Path | None = None
    dlopen: tuple[str, ...] = ex.dlopen if ex is not None else ()
    if chosen == "musl":
        if profile is not None and profile.sysroot is not None:
            s = profile.sysroot
            root = sysroot.resolve_profile_sysroot(s.recipe, s.path, s.packages,
                                                   profile.base_dir, arch)
        elif sysroot.Manifest.read(sysroot.path_of(DEFAULT_MUSL_SYSROOT, arch)) is not None:
            # Only the loader is needed, which every package list of the recipe has.
            root = sysroot.path_of(DEFAULT_MUSL_SYSROOT, arch)
        else:
            root = sysroot.require(DEFAULT_MUSL_SYSROOT, (), arch)
    if profile is not None and profile.libs:
        # The shared ones among the profile's libs: the image must carry them too.
        from crossjit.targets import libraries

        found = libraries.resolve(profile.libs, profile.lib_dir_paths, sysroot=root,
                                  local=False)
        dlopen = (*dlopen, *(d for d in found.dlopen if d not in dlopen))
    name = plan.container_name(profile.name if profile is not None else chosen)
    return ExecutorConfig(
        variant=chosen,
        name=name,
        arch=arch,
        profile=str(profile.file) if profile is not None else None,
        sysroot=root,
        dlopen=dlopen,
        host_network=bool(ex and ex.ports),
        env=tuple(sorted(ex.env.items())) if ex is not None else (),
        workdir=ex.workdir if ex is not None else None,
        mounts=tuple(mounts),
        tls=ex.tls if ex is not None else None,
        ports=tuple(p.host for p in ex.ports) if ex is not None else (),
    )


# --- images --------------------------------------------------------------------------------


def _executor_binary(name: str) -> Path:
    path = plan.executor_builds() / name
    if not path.is_file():
        raise ContainerError(
            f"{name} has not been built",
            why=f"no {path}",
            hint="build it: make -C executor (needs musl-tools for the musl variant)",
        )
    return path


def recipe_name(variant: str, arch: str) -> str:
    """images/executor/<this>: the variant, suffixed by a CPU other than this host's."""
    return variant if arch == plan.host_arch() else f"{variant}-{arch}"


def _emulated(arch: str) -> bool:
    return arch != plan.host_arch()


def _static_qemu() -> Path:
    """The host's qemu-aarch64-static, which a FROM-scratch image can carry as it is."""
    found = shutil.which("qemu-aarch64-static")
    if found is None:
        raise ContainerError(
            "an AArch64 executor container needs qemu-aarch64-static",
            why="it is not on PATH (the image runs the executor under it)",
            hint="install it: apt-get install qemu-user-static")
    return Path(found).resolve()


def _assemble_context(cfg: ExecutorConfig, ctx: Path) -> None:
    """Copy the recipe and what it COPYs into ``ctx``."""
    recipe = recipes.executor_dir(recipe_name(cfg.variant, cfg.arch))
    if not (recipe / "Dockerfile").is_file():
        raise ContainerError(f"no executor recipe for {cfg.variant}", why=f"no {recipe}/Dockerfile")
    shutil.copytree(recipe, ctx, dirs_exist_ok=True)
    libs = ctx / "extra-libs"
    libs.mkdir(exist_ok=True)
    if cfg.variant == "musl":
        assert cfg.sysroot is not None
        loader = cfg.sysroot / "lib" / f"ld-musl-{cfg.arch}.so.1"
        if not loader.is_file():
            flag = "" if cfg.arch == plan.host_arch() else f" --arch {cfg.arch}"
            raise ContainerError(
                f"the sysroot {cfg.sysroot} has no musl loader for {cfg.arch}",
                hint=f"the musl executor needs a musl sysroot of its CPU (sysroot: "
                     f"debian-musl; crossjit sysroot build debian-musl{flag})",
            )
        shutil.copy2(loader.resolve(), ctx / loader.name)
        exe = ("crossjit-executor-musl" if cfg.arch == "x86_64"
               else f"crossjit-executor-{cfg.arch}-musl")
        shutil.copy2(_executor_binary(exe), ctx / "crossjit-executor")
        if _emulated(cfg.arch):
            shutil.copy2(_static_qemu(), ctx / "qemu-aarch64-static")
        for lib in soname.closure(cfg.sysroot, cfg.dlopen):
            shutil.copy2(lib.path, libs / lib.soname)
    elif cfg.variant == "alpine":
        shutil.copytree(plan.EXECUTOR_SOURCE / "src", ctx / "src", dirs_exist_ok=True)
    (libs / ".keep").touch()  # COPY of an empty folder must still work
    if cfg.remote:
        _remote_layers(cfg, ctx)


def _remote_layers(cfg: ExecutorConfig, ctx: Path) -> None:
    """What a remote engine's image needs on top of the recipe: a gdbserver (with the
    loader and libraries it runs with, from this host) for `crossjit debug`, and the
    profile's mounts as files — host paths cannot be bind-mounted into a container on
    another machine, so their contents travel in the build context (a snapshot taken at
    `executor up`)."""
    lines = ["", "# added by crossjit for a remote engine (executors._remote_layers)"]
    if cfg.arch == plan.host_arch() and (server := shutil.which("gdbserver")):
        debug = ctx / "crossjit-debug"
        debug.mkdir()
        for f in (Path(server), *_shared_closure(Path(server))):
            shutil.copy2(f.resolve(), debug / f.name)
        lines.append(f"COPY crossjit-debug/ {DEBUG_DIR}/")
    for i, (host, path) in enumerate(cfg.mounts):
        if not host.is_dir():
            raise ContainerError(f"cannot copy the mount {host} to a remote engine",
                                 why="it is not a directory")
        shutil.copytree(host, ctx / "crossjit-mounts" / str(i), symlinks=True)
        lines.append(f"COPY crossjit-mounts/{i}/ {path.rstrip('/')}/")
    with open(ctx / "Dockerfile", "a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


def _shared_closure(exe: Path) -> list[Path]:
    """The loader and shared libraries ``exe`` runs with on this host (from ldd)."""
    out = subprocess.run(["ldd", str(exe)], capture_output=True, text=True, timeout=30,
                         check=False).stdout
    found = []
    for line in out.splitlines():
        parts = line.split()
        path = parts[2] if len(parts) >= 3 and parts[1] == "=>" else parts[0] if parts else ""
        if path.startswith("/"):
            found.append(Path(path))
    return found


def _context_hash(ctx: Path, bases: Sequence[str]) -> str:
    return recipes.tree_hash(ctx, "\n".join(bases).encode())[:12]


def build_image(cfg: ExecutorConfig, engine: containers.Engine, progress: Progress = quiet) -> str:
    """The image tag for ``cfg``, built unless an identical context was built before."""
    with tempfile.TemporaryDirectory(prefix="crossjit-ctx-") as tmp:
        ctx = Path(tmp)
        _assemble_context(cfg, ctx)
        bases = engine.base_images(ctx / "Dockerfile")
        recipe = recipe_name(cfg.variant, cfg.arch)
        tag = f"{IMAGE_PREFIX}{recipe}:{_context_hash(ctx, bases)}"
        if engine.image_id(tag) is None:
            progress(f"building executor image {tag}")
            debug = {L_DEBUG: DEBUG_DIR} if (ctx / "crossjit-debug").is_dir() else {}
            engine.build(
                ctx, tag, labels={L_KIND: "executor", L_VARIANT: cfg.variant, L_ARCH: cfg.arch,
                                  **debug},
                progress=progress
            )
    return tag


# --- containers ----------------------------------------------------------------------------


def run_dir(name: str) -> Path:
    """Host side of the container's /run/crossjit (short: unix socket paths are ≤107 bytes)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    root = (
        Path(base) / "crossjit" if base else Path(tempfile.gettempdir()) / f"crossjit-{os.getuid()}"
    )
    return root / name


def _container_user() -> tuple[int, int]:
    # As root we hand the run dir to nobody; otherwise the container runs as us, so the
    # socket it creates is ours either way.
    return (65534, 65534) if os.getuid() == 0 else (os.getuid(), os.getgid())


def run_spec(cfg: ExecutorConfig, image: str, rundir: Path) -> containers.RunSpec:
    uid, gid = _container_user()
    tmpfs = {"/tmp": "rw,nosuid,nodev,noexec,size=64m"}
    labels: dict[str, str] = {}
    cap_add: tuple[str, ...] = ()
    if cfg.remote:
        # Nothing of this host is mounted: the sockets live in a private tmpfs that only
        # the container's own processes (the session's relay) can open.
        binds: dict[str, tuple[str, str]] = {}
        tmpfs[CONTAINER_RUN] = f"rw,nosuid,nodev,noexec,size=1m,mode=0700,uid={uid},gid={gid}"
        labels = {L_CHANNEL: CHANNEL_EXEC}
        # gdbserver attaches from inside the container: ptrace needs CAP_SYS_PTRACE
        # under the engine's default seccomp profile (docs/containers.md).
        cap_add = ("SYS_PTRACE",)
    else:
        binds = {str(rundir): (CONTAINER_RUN, "rw")}
        binds.update({str(host): (path, "ro") for host, path in cfg.mounts})
    return containers.RunSpec(
        image=image,
        name=cfg.name,
        labels={
            L_KIND: "executor",
            L_VARIANT: cfg.variant,
            L_PROFILE: cfg.profile or "",
            L_RUNDIR: "" if cfg.remote else str(rundir),
            L_STATUS: STATUS_FILE,
            L_ARCH: cfg.arch,
            **labels,
        },
        user=f"{uid}:{gid}",
        # Ports need the host's network (these engines have no bridge, and bridge
        # addresses are off limits); the executor channel is the unix socket either way.
        network="host" if cfg.host_network else "none",
        read_only=True,
        tmpfs=tmpfs,
        cap_drop=("ALL",),
        cap_add=cap_add,
        security_opt=("no-new-privileges:true",),
        pids_limit=cfg.pids_limit,
        mem_limit=cfg.mem_limit,
        binds=binds,
        environment=dict(cfg.env),
        working_dir=cfg.workdir,
    )


def up(
    cfg: ExecutorConfig,
    *,
    progress: Progress = quiet,
    deadline: float = READY_DEADLINE,
) -> ExecutorInfo:
    """Build the image, (re)start the container, wait until a Setup handshake succeeds."""
    engine = containers.connect()
    if engine.remote:
        return _up_remote(replace(cfg, remote=True), engine, progress, deadline)
    image = build_image(cfg, engine, progress)
    if engine.remove(cfg.name):
        progress(f"replaced the running {cfg.name}")
    rundir = run_dir(cfg.name)
    shutil.rmtree(rundir, ignore_errors=True)
    # Its parent is private too: the daemon's socket lives there (cli/launcher.py, which
    # refuses a folder others can enter), and nobody else has business among the
    # sessions' sockets. mkdir(parents=True) alone would make it 0755.
    rundir.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    if rundir.parent.stat().st_uid == os.getuid():
        os.chmod(rundir.parent, 0o700)  # one an older crossjit made 0755
    rundir.mkdir(mode=0o700)
    uid, gid = _container_user()
    if os.getuid() == 0:
        os.chown(rundir, uid, gid)
    if cfg.tls is not None:
        owner = (uid, gid) if os.getuid() == 0 else None
        from crossjit.targets import tlscert  # only for executor.tls (runs openssl)

        made = tlscert.ensure(cfg.name, owner, progress)
        cfg = replace(cfg, mounts=(*cfg.mounts, (made, cfg.tls)))
    progress(f"starting {cfg.name} ({image})")
    return _start(cfg, run_spec(cfg, image, rundir), engine, progress, deadline)


def _start(cfg: ExecutorConfig, spec: containers.RunSpec, engine: containers.Engine,
           progress: Progress, deadline: float) -> ExecutorInfo:
    """Run the container and wait for its executor's answer; removed again if none."""
    engine.run(spec)
    try:
        info = probe(cfg.name, deadline=deadline, engine=engine)
    except BaseException:
        engine.remove(cfg.name, timeout=0)
        raise
    progress(f"{cfg.name} ready: {info.triple}, protocol {info.dialect}")
    return info


def _up_remote(cfg: ExecutorConfig, engine: containers.Engine, progress: Progress,
               deadline: float) -> ExecutorInfo:
    """``up`` on another machine's engine: the image (with the mounts' files and a
    gdbserver) is built through the API, nothing of this host is mounted."""
    if cfg.tls is not None:
        raise NotSupportedError(
            "executor.tls on a remote Docker engine is not supported yet",
            why=f"the engine at {engine.host} runs on another machine, and the certificate "
                "folder is a bind mount of this host's",
            hint="use a local engine for HTTPS profiles, or serve TLS certificates of the "
                 "engine's machine yourself")
    image = build_image(cfg, engine, progress)
    if engine.remove(cfg.name):
        progress(f"replaced the running {cfg.name}")
    progress(f"starting {cfg.name} ({image}) on the remote engine {engine.host}")
    info = _start(cfg, run_spec(cfg, image, Path("/nonexistent")), engine, progress, deadline)
    if cfg.ports:
        progress(ports_note(cfg.name, cfg.ports, engine.host))
    return info


def ports_note(name: str, ports: Sequence[int], host: str) -> str:
    """Where a remote container's ports are, and the command that reaches them."""
    from urllib.parse import urlsplit

    machine = urlsplit(host).hostname or host
    user = urlsplit(host).username
    ssh_host = f"{user}@{machine}" if user else machine
    forwards = " ".join(f"-L {p}:127.0.0.1:{p}" for p in ports)
    listed = ", ".join(str(p) for p in ports)
    return (f"{name} serves port {listed} on the engine's machine {machine}, not here "
            f"(host networking there): reach it from that machine at 127.0.0.1, or "
            f"forward it: ssh -N {forwards} {ssh_host}")


@contextlib.contextmanager
def running(cfg: ExecutorConfig, *, progress: Progress = quiet, keep: bool = False
            ) -> Iterator[None]:
    """Container ``cfg.name`` runs inside this block: started here if it was not running,
    and then removed afterwards (unless ``keep``). A running one is left as it is."""
    started = not is_running(cfg.name)
    if started:
        up(cfg, progress=progress)
    try:
        yield
    finally:
        if started and not keep:
            down(cfg.name)


def probe(
    name: str, *, deadline: float = READY_DEADLINE, engine: containers.Engine | None = None
) -> ExecutorInfo:
    """Open a session, complete the Setup handshake, hang up: the executor's info."""
    with session(name, timeout=deadline, interactive=False, engine=engine) as client:
        return client.info


def is_running(name: str, engine: containers.Engine | None = None) -> bool:
    info = (engine or containers.connect()).get(name)
    return info is not None and info.status == "running" and info.labels.get(L_KIND) == "executor"


def managed(engine: containers.Engine) -> list[containers.ContainerInfo]:
    return engine.find({L_KIND: "executor"})


def down(name: str | None = None) -> list[str]:
    """Remove executor ``name`` (default: every executor container); the names removed."""
    engine = containers.connect()
    targets = [name] if name else [c.name for c in managed(engine)]
    removed = []
    for n in targets:
        info = engine.get(n)
        if info is None or info.labels.get(L_KIND) != "executor":
            continue
        engine.remove(n)
        if info.labels.get(L_CHANNEL) != CHANNEL_EXEC:  # a remote one has none here
            shutil.rmtree(info.labels.get(L_RUNDIR) or run_dir(n), ignore_errors=True)
        removed.append(n)
    return removed


def status() -> list[dict[str, Any]]:
    engine = containers.connect()
    out = []
    for c in managed(engine):
        out.append(
            {
                "name": c.name,
                "variant": c.labels.get(L_VARIANT, ""),
                "arch": c.labels.get(L_ARCH, "x86_64"),
                "profile": c.labels.get(L_PROFILE) or None,
                "status": c.status,
                "image": c.image,
                "id": c.id[:12],
            }
        )
    return out


def logs(name: str, tail: int | None = None) -> bytes:
    engine = containers.connect()
    if engine.get(name) is None:
        raise _not_running(name)
    return engine.logs(name, tail)


def clean(engine: containers.Engine, *, images: bool = False) -> tuple[list[str], list[str]]:
    """Remove every crossjit-labelled container (and image); (containers, images) removed."""
    names = []
    for c in engine.find():
        engine.remove(c.name, timeout=0)
        rd = c.labels.get(L_RUNDIR)
        if rd:
            shutil.rmtree(rd, ignore_errors=True)
        names.append(c.name)
    return names, (engine.remove_images() if images else [])


def _not_running(name: str) -> ExecutorError:
    variant = name.removeprefix("crossjit-")
    return ExecutorError(
        f"executor {name} is not running",
        hint=f"start it: crossjit executor up {variant}  (or --profile PROFILE)",
    )


# --- sessions --------------------------------------------------------------------------------


def _session_command(variant: str, sock: str, status: str | None,
                     arch: str | None = None) -> list[str]:
    if arch is not None and _emulated(arch):
        # The image's own qemu-user, named explicitly (see images/executor/musl-aarch64).
        return [QEMU_IN_IMAGE, "/usr/bin/crossjit-executor", f"unix={sock}", "quiet"]
    if variant == "debian" and status is None:  # an image without crossjit-status
        return ["socat", f"UNIX-LISTEN:{sock},unlink-early",
                "EXEC:llvm-jitlink-executor filedescs=3\\,4,fdin=3,fdout=4"]
    if variant == "debian":
        # socat reports neither the executor's exit status nor its signal, so the
        # image's crossjit-status runs it and writes that to ``status`` (in the run
        # dir), for ``_session_fate``.
        return [
            "socat",
            f"UNIX-LISTEN:{sock},unlink-early",
            f"EXEC:crossjit-status {status} llvm-jitlink-executor filedescs=3\\,4,"
            "fdin=3,fdout=4",
        ]
    # quiet: the executor's stderr is the program's, so no "listening on" line there.
    return ["/usr/bin/crossjit-executor", f"unix={sock}", "quiet"]


class SessionOptions(TypedDict, total=False):
    """What ``session`` passes on to ``open_session`` (whose defaults apply)."""

    timeout: float
    interactive: bool
    engine: containers.Engine | None
    stdin: int | None
    new_session: bool
    sid: str | None
    debuggable: bool


@contextlib.contextmanager
def session(name: str, **options: Unpack[SessionOptions]) -> Iterator[OrcClient]:
    """A fresh executor process in container ``name``, connected as an OrcClient.

    ``interactive``: the program's stdin/stdout/stderr are ours (``docker exec -i``);
    otherwise they are discarded. The executor process is gone when this exits, even
    after Ctrl-C or a program that never returns.

    For ``crossjit debug``: ``stdin`` replaces the program's stdin (e.g.
    ``subprocess.DEVNULL`` when the terminal is the debugger's), and ``new_session``
    keeps the terminal's Ctrl-C (the debugger's) away from the ``docker exec`` client,
    which would otherwise die and take the program's output with it.

    ``sid``: the session id (default: random), which names its socket.
    ``debuggable``: on a remote engine, a gdbserver next to the executor may attach.
    ``session_processes`` gives its host pids, so ``run --watch`` can kill a session on
    demand without waiting for ``run_as_main``.
    """
    opened = open_session(name, **options)
    try:
        yield opened.client
    finally:
        opened.close()


@record
class Session:
    """An open container session (``open_session``); ``close`` ends it. Not a context
    manager on purpose: a daemon opens spares that the command it forks closes."""

    client: OrcClient
    proc: subprocess.Popen[bytes]
    engine: containers.Engine
    name: str
    sid: str
    leftovers: tuple[Path, ...]  # its socket and status files in the run dir
    relay: subprocess.Popen[bytes] | None = None  # remote engines: the protocol's exec

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self.relay is not None:
            from crossjit.targets import remote_engine

            remote_engine.finish_exec(self.proc, self.relay)
            return
        _finish(self.proc, self.engine, self.name, self.sid)
        for leftover in self.leftovers:
            with contextlib.suppress(OSError):
                leftover.unlink()


def _exec_process(name: str, cmd: Sequence[str], *, interactive: bool, stdin: int | None,
                  stdout: int | None, stderr: int | None, new_session: bool
                  ) -> subprocess.Popen[bytes]:
    """The ``docker exec`` that runs a session's executor: with the program's stdio when
    interactive (``stdin``/``stdout``/``stderr`` replace the caller's), else quiet with
    stderr kept for the error when it ends early."""
    quiet = subprocess.DEVNULL
    return subprocess.Popen(
        ["docker", "exec", *(["-i"] if interactive else []), name, *cmd],
        stdin=stdin if stdin is not None else None if interactive else quiet,
        stdout=stdout if interactive else quiet,
        stderr=stderr if interactive else subprocess.PIPE,
        start_new_session=new_session,
    )


def open_session(
    name: str,
    *,
    timeout: float = 30.0,
    interactive: bool = True,
    engine: containers.Engine | None = None,
    stdin: int | None = None,
    new_session: bool = False,
    sid: str | None = None,
    stdout: int | None = None,
    stderr: int | None = None,
    debuggable: bool = False,
) -> Session:
    """``session`` without the ``with``: the caller must ``close()`` it. ``stdout`` and
    ``stderr`` replace the program's (interactive only): the pipes of a daemon's spare
    session, which the command that takes it copies to its own (run/spares.py)."""
    from crossjit.orc.client import OrcClient
    from crossjit.orc.transport import connect_unix

    engine = engine or containers.connect()
    info = engine.get(name)
    if info is None or info.status != "running" or info.labels.get(L_KIND) != "executor":
        raise _not_running(name)
    variant = info.labels.get(L_VARIANT, "musl")
    sid = sid or secrets.token_hex(4)
    if info.labels.get(L_CHANNEL) == CHANNEL_EXEC:
        from crossjit.targets import remote_engine

        return remote_engine.open_exec_session(name, info, engine, sid, timeout=timeout,
                                               interactive=interactive, stdin=stdin,
                                               new_session=new_session, stdout=stdout,
                                               stderr=stderr, debuggable=debuggable)
    rundir = Path(info.labels.get(L_RUNDIR) or run_dir(name))
    host_sock = rundir / f"{sid}.sock"
    host_status = rundir / f"{sid}.status"
    with_status = info.labels.get(L_STATUS) == STATUS_FILE
    cmd = _session_command(variant, f"{CONTAINER_RUN}/{sid}.sock",
                           f"{CONTAINER_RUN}/{sid}.status" if with_status else None,
                           info.labels.get(L_ARCH))
    proc = _exec_process(name, cmd, interactive=interactive, stdin=stdin, stdout=stdout,
                         stderr=stderr, new_session=new_session)
    try:
        hint = f"see `crossjit executor logs {name}`"

        def gone() -> ExecutorError | None:  # the session's `docker exec` ended early
            if proc.poll() is None:
                return None
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            return ExecutorError(
                f"the executor session in {name} exited before listening "
                f"(status {proc.returncode})", why=err.strip() or None, hint=hint)

        transport = connect_unix(str(host_sock), deadline=time.monotonic() + timeout,
                                 description=f"executor {name} ({variant})", hint=hint,
                                 gone=gone,
                                 fate=_session_fate(proc, variant, host_status, with_status),
                                 signal_as_status=True)
        client = OrcClient(transport, timeout=timeout)
    except BaseException:
        _finish(proc, engine, name, sid)
        for leftover in (host_sock, host_status):
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise
    return Session(client, proc, engine, name, sid, (host_sock, host_status))


def _session_fate(proc: subprocess.Popen[bytes], variant: str, status_file: Path,
                  with_status: bool) -> Fate | None:
    """The session's executor's exit status, as ``docker exec`` reports it (a signal N
    as 128+N): that of the exec'd process, or, behind socat (debian), the one
    crossjit-status wrote to ``status_file`` (see ``_session_command``); None where
    it cannot be known (socat without crossjit-status)."""
    from crossjit.orc.transport import process_fate

    proc_fate = process_fate(proc)
    if variant != "debian":
        return proc_fate
    if not with_status:
        return None

    def fate(timeout: float) -> int | None:
        if proc_fate(timeout) is None:
            return None
        with contextlib.suppress(OSError, ValueError):
            return int(status_file.read_text().strip())
        return None

    return fate


def session_processes(client: OrcClient, container: str) -> tuple[int, ...]:
    """Host pids of a connected container session: the process that listened on its
    unix socket and its children.

    SO_PEERCRED gives the pid of the process that listened, translated by the kernel
    into *our* pid namespace. That process is crossjit-executor itself (musl, alpine),
    or socat (debian), which hands the accepted connection to crossjit-status, which
    runs LLVM's executor (and records its exit status): the whole subtree is returned.
    """
    from crossjit.orc.transport import SocketTransport
    from crossjit.targets import remote_engine

    remote = remote_engine.exec_session(client)
    if remote is not None:  # the local `docker exec` clients: the relay's ends the session
        return (remote.relay_pid, remote.exec_pid)
    transport = client.transport
    pid = transport.peer_pid() if isinstance(transport, SocketTransport) else None
    if pid is None:
        raise ExecutorError(f"no unix socket to the executor in {container}")
    if pid <= 0 or procfs.stat(pid) is None:
        raise ExecutorError(
            f"cannot see the executor process of {container} from here",
            why="its pid is not visible in this pid namespace",
            hint="run crossjit on the Docker host itself, not inside a container",
        )
    found, todo = [pid], [pid]
    while todo:
        kids = procfs.children(todo.pop())
        found += kids
        todo += kids
    return tuple(found)


# What runs between the socket and LLVM's executor in the debian image.
SESSION_WRAPPERS = frozenset({"socat", "crossjit-status", "perl"})


def session_executor_pid(client: OrcClient, container: str) -> int:
    """The host pid of the executor itself (not socat or crossjit-status) serving a
    container session."""
    pid = session_processes(client, container)[0]
    while (st := procfs.stat(pid)) is not None and st.comm in SESSION_WRAPPERS:
        kids = procfs.children(pid)
        if len(kids) != 1:
            raise ExecutorError(f"cannot tell the executor of {container} apart",
                                why=f"{st.comm} (pid {pid}) has {len(kids)} children, not 1")
        pid = kids[0]
    return pid


def _session_pids(engine: containers.Engine, name: str, sid: str) -> set[int]:
    """Host pids of session ``sid``'s processes in container ``name``, asked of the engine
    (its socket id in their arguments, and their subtree). Only for cleanup: the session
    may have to be killed before it ever connected, when no socket peer is known yet."""
    procs = engine.processes(name)
    found = {pid for pid, _ppid, args in procs if sid in args}
    while True:
        more = {pid for pid, ppid, _args in procs if ppid in found} - found
        if not more:
            return found
        found |= more


def _finish(proc: subprocess.Popen[bytes], engine: containers.Engine, name: str, sid: str) -> None:
    """End the session's processes: after a hang-up they exit on their own; after Ctrl-C
    or a program that never returns they are killed."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    # `docker exec` does not forward signals and its client may be gone (Ctrl-C reaches
    # it too) while the exec'd executor runs on: find that by its socket id and kill it.
    with contextlib.suppress(ContainerError):
        for pid in _session_pids(engine, name, sid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
        proc.wait()

"""``crossjit debug``: run a program with gdb or lldb attached to the executor.

The only module that runs a debugger. The order matters:

1. spawn the executor (its own session, so the terminal's Ctrl-C reaches the debugger
   and not the executor) and finish the ORC handshake;
2. start the debugger attached to the executor's pid with a generated command file:
   settings, pending breakpoints (``--break``), a *ready* marker, ``continue`` — or,
   with ``--batch``, the user's file from its first line with the marker before its
   first ``run``/``continue`` (``batch.py``: the file behaves as ``gdb -x``);
3. wait until the marker exists and the executor runs again (traced, no thread stopped),
   so the breakpoints are in place before any JIT'd code exists;
4. build, load (the debug objects register with the GDB JIT interface, the debugger
   resolves the pending breakpoints) and run the program in this process while the
   debugger process owns the terminal (interactive) or runs the rest of the batch file;
5. tear down: deregister, hang up (the executor exits, the debugger sees it), then
   wait for the debugger to finish.

The program's exit status is the result, as for ``crossjit jit``.

Containers (``-e docker:VARIANT``, or a profile whose executor is a container): the
executor is a ``docker exec`` session (``executors.session``), and the debugger runs on
this host and attaches to it by its *host* pid, found from the session's unix socket
(SO_PEERCRED). A container is only namespaces over the host's kernel: host root may
ptrace any process, so nothing is added to the container (no capability, no gdbserver,
no port). See docs/debugging.md for what that costs (pid-namespace caveats). A container
of a *remote* engine is another machine's process: gdb runs here and talks to a
gdbserver inside the container through a `docker exec -i` stream (`target remote |`),
as for an SSH device; such containers are started with SYS_PTRACE (docs/containers.md).
"""

from __future__ import annotations

import contextlib
import glob
import os
import select
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from crossjit import records
from crossjit.debug import batch, gdbstub
from crossjit.errors import CrossjitError, NotSupportedError, Progress, UsageError
from crossjit.orc.client import ExecutorSpec, OrcClient
from crossjit.orc.transport import SpawnedTransport
from crossjit.orc.transport import spawn_executor as spawn_transport
from crossjit.project.plan import docker_container, is_foreign, local_executor_for
from crossjit.records import record
from crossjit.run.session import JitRequest, run_jit
from crossjit.targets import procfs

if TYPE_CHECKING:
    from crossjit.targets.base import Target as BaseTarget
    from crossjit.targets.executors import ExecutorConfig


DEBUGGERS = ("gdb", "lldb")
ATTACH_TIMEOUT = 120.0  # lldb indexes libLLVM's symbols on attach: seconds, not minutes
BATCH_EXIT_TIMEOUT = 60.0
# A session may sit at a breakpoint for as long as the user likes; only a dead
# executor should end it.
DEBUG_CALL_TIMEOUT = 24 * 3600.0


class DebuggerError(CrossjitError):
    """The debugger could not be started or could not attach."""


@record(frozen=True)
class DebugRequest:
    jit: JitRequest
    debugger: str = "gdb"  # gdb | lldb
    breakpoints: tuple[str, ...] = ()
    batch: Path | None = None  # commands to run unattended, as gdb -x / lldb -s would
    debugger_path: str | None = None  # default: gdb / the newest lldb on PATH
    source_map: tuple[tuple[str, str], ...] = ()  # (from, to) prefixes for source paths
    profile: Path | None = None  # debug a profile's program (jit.inputs unused)


@record(frozen=True)
class Target:
    """The executor process the debugger attaches to."""

    pid: int  # in this host's pid namespace (on an SSH device: in the device's)
    container: str | None = None  # the container it runs in (None: a local process)
    # Another machine (an SSH device): the command gdb's `target remote |` runs to reach
    # a gdbserver attached to the executor there.
    remote: tuple[str, ...] = ()

    @property
    def root(self) -> Path:
        """Where the executor's own files are seen from this host (its mount namespace)."""
        return Path(f"/proc/{self.pid}/root") if self.container else Path("/")


def find_debugger(kind: str, path: str | None = None, *, foreign: bool = False) -> str:
    """``foreign``: the program runs on another CPU (under qemu), which needs gdb-multiarch
    rather than the host-only gdb; lldb handles every architecture."""
    if kind not in DEBUGGERS:
        raise UsageError(f"unknown debugger {kind!r}", hint="use --debugger gdb or lldb")
    if path:
        found = shutil.which(path)
        if not found:
            raise DebuggerError(f"debugger {path} not found")
        return found
    if kind == "gdb" and foreign:
        found = shutil.which("gdb-multiarch")
        if not found:
            raise DebuggerError("gdb-multiarch is not installed",
                                why="the host's gdb only debugs its own CPU",
                                hint="apt-get install gdb-multiarch, or use --debugger lldb")
        return found
    names = [kind]
    if kind == "lldb":  # Debian ships lldb-N without the plain name unless lldb is installed
        versions = sorted(
            (int(p.rsplit("-", 1)[1]) for p in glob.glob("/usr/bin/lldb-[0-9]*")
             if p.rsplit("-", 1)[1].isdigit()),
            reverse=True,
        )
        names += [f"lldb-{v}" for v in versions]
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pkg = "gdb" if kind == "gdb" else "lldb-16"
    raise DebuggerError(f"{kind} is not installed", hint=f"apt-get install {pkg}")


def _quote_gdb(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def command_file(kind: str, breakpoints: Sequence[str], ready: Path,
                 source_map: Sequence[tuple[str, str]] = (),
                 batch_commands: str | None = None, *, container: bool = False,
                 batch_name: str = "the batch file") -> str:
    """The debugger's commands: settings, pending breakpoints (``--break``), then either
    the ready marker and ``continue`` (interactive) or the user's batch file, run from
    its first line as ``gdb -x`` / ``lldb -s`` would, with the marker before its first
    ``run``/``continue`` (``batch.prepare``).

    ``container``: the executor is in another pid namespace (see ``_LLDB_FOREIGN_NS``)."""
    marker = shlex.quote(str(ready))
    if kind == "gdb":
        touch = f"shell touch {marker}"
        lines = [
            "set pagination off",
            "set confirm off",
            "set breakpoint pending on",  # resolves when the JIT'd code registers
            *(f'set substitute-path "{_quote_gdb(a)}" "{_quote_gdb(b)}"' for a, b in source_map),
            *(f"break {b}" for b in breakpoints),
        ]
        resume = "continue"
    else:
        touch = f"platform shell touch {marker}"
        lines = [
            # Off by default on some builds; LLVM's JIT objects need it.
            "settings set plugin.jit-loader.gdb.enable on",
            "settings set auto-confirm true",
            *(_LLDB_FOREIGN_NS if container else ()),
            *(f'settings append target.source-map "{a}" "{b}"' for a, b in source_map),
            *(f"breakpoint set --name {shlex.quote(b)}" for b in breakpoints),
        ]
        resume = "process continue"
    head = "\n".join(lines) + "\n"
    if batch_commands is None:
        return head + f"{touch}\n{resume}\n"
    return head + batch.prepare(kind, batch_commands, touch, batch_name)


# lldb-server recognises the SIGSTOPs it sends to halt the other threads (at every
# breakpoint, shared-library and JIT-registration event) by si_pid == its own pid. The
# kernel gives si_pid in the *receiver's* pid namespace, where lldb-server does not
# exist, so it is 0: each of those SIGSTOPs looks like a signal from outside and becomes
# a user-visible stop (the batch commands would run at a shared-library event, long
# before the breakpoint). Not stopping for SIGSTOP and not passing it on restores the
# local behaviour; the price is that a real SIGSTOP sent to the program is swallowed
# too, and a thread may still show "stop reason = signal SIGSTOP" next to the real one.
_LLDB_FOREIGN_NS = ("process handle SIGSTOP --stop false --notify false --pass false",)


def _quote_lldb(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def debugger_argv(kind: str, exe: str, pid: int, script: Path, *, batch: bool,
                  target: Target | None = None) -> list[str]:
    if target is not None and target.remote:
        if kind != "gdb":
            raise UsageError(f"{kind} cannot debug on another machine yet",
                             hint="use --debugger gdb (it talks to the device's gdbserver)")
        argv = [exe, "-q", "-ex", "target remote | " + shlex.join(target.remote),
                "-x", str(script)]
        return [exe, "-q", "-nx", "-batch", *argv[1:]] if batch else argv
    if kind == "gdb":
        # gdb reads a process's files through its mount namespace by itself (the
        # default sysroot "target:"), so a container needs nothing more here.
        argv = [exe, "-q", "-p", str(pid), "-x", str(script)]
        return [exe, "-q", "-nx", "-batch", *argv[1:]] if batch else argv
    before: list[str] = []
    if target is not None and target.container:
        # lldb looks for the executable and its libraries by the paths the process
        # reports (/usr/bin/crossjit-executor), which are the container's, not ours:
        # read them through /proc/PID/root. Without the executable lldb never finds
        # __jit_debug_register_code, and the JIT'd code would stay invisible.
        root = str(target.root)
        binary = os.readlink(f"/proc/{pid}/exe")
        before = ["-O", f"target create {_quote_lldb(root + binary)}",
                  "-O", f"target modules search-paths add / {_quote_lldb(root + '/')}"]
    argv = [exe, *before, "-p", str(pid), "-s", str(script)]
    return [exe, "--no-lldbinit", "--batch", *argv[1:]] if batch else argv


def spawn_executor(spec: ExecutorSpec, *, interactive: bool) -> OrcClient:
    """A spawned executor in a session of its own (the terminal's Ctrl-C is the
    debugger's) and, interactively, with stdin from /dev/null (the terminal is the
    debugger's too)."""
    if spec.wrapper:  # _executor sends qemu-user executors to _debug_emulated instead
        raise NotSupportedError(f"crossjit debug cannot attach to {spec} (an emulator that "
                                "is not qemu-user)")
    transport = spawn_transport(spec.path, spec.args, new_session=True,
                                stdin=subprocess.DEVNULL if interactive else None)
    return OrcClient(transport, timeout=DEBUG_CALL_TIMEOUT)


def _threads_stopped(pid: int) -> bool | None:
    """Whether any thread of ``pid`` is in a (tracing) stop; None when it is gone."""
    states = procfs.thread_states(pid)
    return None if states is None else any(s in ("t", "T") for s in states)


def _traced(pid: int) -> bool:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("TracerPid:"):
                return int(line.split()[1]) != 0
    except FileNotFoundError:
        pass
    return False


def wait_attached(pid: int, ready: Path, debugger: subprocess.Popen[bytes],
                  timeout: float = ATTACH_TIMEOUT, *, batch: bool = False,
                  local: bool = True) -> None:
    """Until the debugger has attached, set its breakpoints and resumed the executor
    (``local=False``: a process on another machine, which /proc here cannot show; the
    marker comes just before `continue`, and calls to a still stopped executor wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if debugger.poll() is not None:
            hint = ("attaching needs ptrace rights: run as root, or set "
                    "/proc/sys/kernel/yama/ptrace_scope to 0")
            if batch:
                hint += ("; a batch file runs from its first line, as with gdb -x / "
                         "lldb -s, before the program is loaded: commands that need a "
                         "stopped program go after its `continue` (or `run`)")
            raise DebuggerError(
                f"the debugger exited (status {debugger.returncode}) before the program ran",
                why="it could not attach to the executor, or its commands failed "
                "(its messages are above)",
                hint=hint,
            )
        if ready.exists() and (not local or (_traced(pid) and _threads_stopped(pid) is False)):
            return
        time.sleep(0.02)
    raise DebuggerError(f"the debugger did not attach to the executor (pid {pid}) "
                        f"within {timeout:g} s")


@contextlib.contextmanager
def _ignoring_sigint(active: bool) -> Iterator[None]:
    """Interactively, Ctrl-C is for the debugger (it interrupts the program)."""
    if not active:
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


Runner = Callable[[OrcClient], int]


def _profile_runner(req: DebugRequest, progress: Progress | None, warn: Progress | None
                    ) -> tuple[str | None, ExecutorConfig | None, Runner]:
    """Where a profile's program runs — an executor spec, or its own container's config —
    and the run function; always built with -g."""
    from crossjit.project.plan import local_executor_for
    from crossjit.run.session import execute, prepare_profile, target_for
    from crossjit.targets.container import config_of

    assert req.profile is not None
    args = req.jit.program_args or None
    run = prepare_profile(req.profile, args, req.jit.executor, progress)
    plan = records.replace(run.plan, build=records.replace(run.plan.build, debug=True))
    device = target_for(plan.executor)  # an SSH device: its own libraries by SONAME
    if device is not None:
        plan = records.replace(plan, dlopen=device.resolve_libraries(plan.dlopen))

    def runner(client: OrcClient) -> int:
        with contextlib.closing(client):
            return execute(client, plan, progress, warn)

    if plan.executor.profile_container:
        return None, config_of(run.profile, run.mounts), runner
    spec = req.jit.executor or plan.executor.spec or local_executor_for(plan.build.target)
    return spec, None, runner


@contextlib.contextmanager
def _target_session(target: BaseTarget, interactive: bool, triple: str | None
                    ) -> Iterator[tuple[OrcClient, Target]]:
    """A session on any target (targets.base) and how the debugger reaches its executor
    (``attach``): by pid here (a local executor, a container of this host's engine), or
    through a gdbserver command (an SSH device, a remote engine's container). The
    program's stdin is /dev/null when the terminal is the debugger's, and the session's
    processes (the executor, `docker exec`, ssh) get a session of their own so the
    terminal's Ctrl-C (the debugger's) cannot cut the program's output."""
    with target.session(triple=triple, stdin=subprocess.DEVNULL if interactive else None,
                        new_session=True) as client:
        client.timeout = DEBUG_CALL_TIMEOUT
        where = target.attach(client)
        yield client, Target(where.pid, container=where.container, remote=where.remote)


@contextlib.contextmanager
def _executor(spec_text: str | None, cfg: ExecutorConfig | None, interactive: bool,
              progress: Progress | None, triple: str | None = None,
              ) -> Iterator[tuple[OrcClient, Target]]:
    """A connected executor (handshake done, no code yet) and the process to attach to."""
    from crossjit.project.plan import ExecutorChoice
    from crossjit.run.session import target_for
    from crossjit.targets.container import profile_container

    # a profile's own container: started if needed, removed if we did (Target.running;
    # nothing to start for the other kinds)
    target = profile_container(cfg) if cfg is not None else \
        target_for(ExecutorChoice(spec=spec_text))
    with (target.running(progress),
          _target_session(target, interactive, triple) as pair):
        yield pair


def run_debug(req: DebugRequest, progress: Progress | None = None,
              warn: Progress | None = None) -> int:
    cfg: ExecutorConfig | None = None
    if req.profile is not None:
        spec_text, cfg, runner = _profile_runner(req, progress, warn)
    else:
        jit = records.replace(req.jit, debug=True)  # no debug objects without -g
        spec_text = req.jit.executor
        if spec_text is None and jit.target and is_foreign(jit.target):
            spec_text = local_executor_for(jit.target)  # AArch64: a qemu'd executor

        def runner(client: OrcClient) -> int:
            return run_jit(jit, progress, warn, client=client)

    batch_commands: str | None = None
    if req.batch is not None:
        try:
            batch_commands = req.batch.read_text()
        except OSError as e:
            raise UsageError(f"cannot read the batch file {req.batch}",
                             why=e.strerror or str(e)) from None
        batch.prepare(req.debugger, batch_commands, "", str(req.batch))  # refuse it early
    interactive = req.batch is None
    if cfg is None and spec_text is not None and docker_container(spec_text) is None \
            and not spec_text.startswith("ssh:"):
        spec = ExecutorSpec.parse(spec_text)
        if spec.kind == "spawn" and gdbstub.is_emulated(spec):
            status, rc = _debug_emulated(req, spec, runner, batch_commands or "", progress)
            if rc not in (0, None) and warn:
                warn(f"note: the debugger exited with status {rc}")
            return status
    exe = find_debugger(req.debugger, req.debugger_path)
    triple = req.jit.target
    if req.profile is not None and spec_text is not None and spec_text.startswith("ssh:"):
        from crossjit.project.profile import load_profile

        triple = load_profile(req.profile).target.triple  # which executor the device needs
    with _executor(spec_text, cfg, interactive, progress, triple) as (client, target):
        status, rc = _debug(req, exe, client, target, runner, batch_commands, progress)
    if rc not in (0, None) and warn:
        warn(f"note: the debugger exited with status {rc}")
    return status


def _debug(req: DebugRequest, exe: str, client: OrcClient, target: Target, runner: Runner,
           batch_commands: str | None, progress: Progress | None
           ) -> tuple[int, int | None]:
    """Attach, wait until the breakpoints are set, run; (program status, debugger status)."""
    interactive = req.batch is None
    pid = target.pid
    with tempfile.TemporaryDirectory(prefix="crossjit-debug-") as tmp:
        ready = Path(tmp) / "ready"
        script = Path(tmp) / f"commands.{req.debugger}"
        script.write_text(command_file(req.debugger, req.breakpoints, ready, req.source_map,
                                       batch_commands, container=target.container is not None,
                                       batch_name=str(req.batch)))
        argv = debugger_argv(req.debugger, exe, pid, script, batch=not interactive,
                             target=target)
        if progress:
            where = f" (in {target.container})" if target.container else ""
            progress(f"attaching to pid {pid}{where}: {shlex.join(argv)}")

        def attached(debugger: subprocess.Popen[bytes]) -> int:
            wait_attached(pid, ready, debugger, batch=not interactive, local=not target.remote)
            return runner(client)

        return _with_debugger(argv, exe, interactive, attached, client.close)


def _with_debugger(argv: list[str], exe: str, interactive: bool,
                   run: Callable[[subprocess.Popen[bytes]], int],
                   close: Callable[[], object]) -> tuple[int, int | None]:
    """Start the debugger, ``run(debugger)`` (the program's status), wait for the
    debugger; (program status, debugger status). On any failure ``close()`` ends the
    executor's side first and the debugger is reaped (or killed)."""
    with _ignoring_sigint(interactive):
        try:
            debugger = subprocess.Popen(argv, stdin=None if interactive else subprocess.DEVNULL)
        except OSError as e:
            close()
            raise DebuggerError(f"cannot start {exe}", why=e.strerror or str(e)) from None
        try:
            status = run(debugger)
        except BaseException:
            close()
            _finish(debugger, timeout=5.0)
            raise
        # The executor is gone now: a batch debugger ends by itself, an interactive
        # one when the user quits.
        rc = _finish(debugger, timeout=BATCH_EXIT_TIMEOUT if not interactive else None)
    return status, rc


GDBSTUB_TIMEOUT = 30.0  # for qemu to start listening


def _debug_emulated(req: DebugRequest, spec: ExecutorSpec, runner: Runner, batch_commands: str,
                    progress: Progress | None) -> tuple[int, int | None]:
    """An executor under qemu-user, debugged through qemu's gdbstub (``gdbstub.py``):
    start it held before its first instruction, start the debugger connected to the stub
    (it sets the pending breakpoints and continues), then handshake, build, load and run
    as usual; (program status, debugger status)."""
    exe = find_debugger(req.debugger, req.debugger_path, foreign=True)
    interactive = req.batch is None
    with tempfile.TemporaryDirectory(prefix="crossjit-debug-") as tmp:  # 0700: ours only
        sock = Path(tmp) / "gdbstub"
        transport = spawn_transport(spec.path, spec.args, new_session=True,
                                    stdin=subprocess.DEVNULL if interactive else None,
                                    wrapper=gdbstub.with_gdbstub(spec, sock))
        try:
            _wait_listening(sock, transport)
            script = Path(tmp) / f"commands.{req.debugger}"
            script.write_text(gdbstub.command_file(req.debugger, spec, sock, req.breakpoints,
                                                   req.source_map, batch_commands))
            argv = gdbstub.debugger_argv(req.debugger, exe, script, batch=not interactive)
            if progress:
                progress(f"debugging {spec} through qemu's gdbstub: {shlex.join(argv)}")

            def resumed(debugger: subprocess.Popen[bytes]) -> int:
                _wait_resumed(transport, debugger)
                client = OrcClient(transport, timeout=ATTACH_TIMEOUT)
                client.timeout = DEBUG_CALL_TIMEOUT
                return runner(client)

            return _with_debugger(argv, exe, interactive, resumed, transport.close)
        finally:
            transport.close()  # qemu waiting for a debugger ignores SIGTERM: killed if so


def _wait_listening(sock: Path, transport: SpawnedTransport) -> None:
    deadline = time.monotonic() + GDBSTUB_TIMEOUT
    while not sock.exists():
        if transport.proc.poll() is not None:
            raise DebuggerError(f"qemu exited (status {transport.proc.returncode}) before its "
                                "gdbstub listened", hint="its messages are above")
        if time.monotonic() > deadline:
            raise DebuggerError(f"qemu's gdbstub did not listen on {sock} within "
                                f"{GDBSTUB_TIMEOUT:g} s")
        time.sleep(0.02)


def _wait_resumed(transport: SpawnedTransport, debugger: subprocess.Popen[bytes]) -> None:
    """Until the executor speaks (its Setup: the debugger has continued it) or dies."""
    deadline = time.monotonic() + ATTACH_TIMEOUT
    poller = select.poll()
    poller.register(transport.sock.fileno(), select.POLLIN | select.POLLHUP)
    while not poller.poll(50):
        if debugger.poll() is not None:
            raise DebuggerError(
                f"the debugger exited (status {debugger.returncode}) before the program ran",
                why="it could not connect to qemu's gdbstub, or its commands failed (its "
                "messages are above)",
            )
        if time.monotonic() > deadline:
            raise DebuggerError(f"the debugger did not start the executor within "
                                f"{ATTACH_TIMEOUT:g} s")


def _finish(proc: subprocess.Popen[bytes], timeout: float | None) -> int | None:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None

"""Pure planning: a profile (or `jit` options) + CLI options → what to build and where to run.

No I/O beyond reading the profile's already-resolved paths: the session executes the plan.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from crossjit import arch_name
from crossjit.compile import cache
from crossjit.compile.build import BuildOptions
from crossjit.compile.toolchain import which
from crossjit.errors import ExecutorError, ToolchainError, UsageError
from crossjit.records import record

if TYPE_CHECKING:  # pydantic is slow to import; `crossjit jit` never needs it
    from crossjit.project.profile import Profile

LOCAL = "local"
ARM64_ROOT_ENV = "CROSSJIT_ARM64_ROOT"
DOCKER = "docker:"


@record(frozen=True)
class ExecutorChoice:
    """Where the program runs: an executor spec (spawn:/tcp:), or a profile's container."""

    spec: str | None = None  # spawn:PATH | tcp:HOST:PORT | docker:VARIANT | ssh:HOST | None
    profile_container: bool = False  # the profile's own container (executors.config)
    # For targets that start the executor themselves (ssh:): the profile's env and workdir.
    env: tuple[tuple[str, str], ...] = ()
    workdir: str | None = None


@record(frozen=True)
class RunPlan:
    name: str
    inputs: tuple[Path, ...]
    build: BuildOptions
    executor: ExecutorChoice
    dlopen: tuple[str, ...]
    args: tuple[str, ...]


def container_name(variant_or_profile: str) -> str:
    """The executor container of a variant (`executor up musl`) or of a profile's name."""
    return f"crossjit-{variant_or_profile}"


def tls_folder(container: str) -> Path:
    """Where the executor.tls certificate of ``container`` is kept (in the cache, never in
    a source tree); targets/tlscert.py makes it."""
    return cache.root() / "tls" / container


def docker_container(spec: str | None) -> str | None:
    """The container a ``docker:VARIANT`` spec names (``crossjit-VARIANT``, the one
    `crossjit executor up VARIANT` starts); None for any other spec."""
    if spec is None or not spec.startswith(DOCKER):
        return None
    variant = spec.removeprefix(DOCKER)
    if not variant:
        raise UsageError("docker: needs a variant, e.g. docker:musl")
    return container_name(variant)


def host_triple() -> str:
    """This machine's triple, spelled as profiles do (``x86_64-linux-gnu``): what a
    profile without ``target:`` builds for. glibc unless this host's libc is musl."""
    import platform  # only here: ~1.3 ms to import, and this runs for profiles

    arch = arch_name(os.uname().machine)
    if platform.libc_ver()[0] == "glibc":
        env = "gnu"
    else:  # musl identifies itself only by its loader
        import glob

        env = "musl" if glob.glob("/lib/ld-musl-*.so.1") else "gnu"
    return f"{arch}-linux-{env}"


def libc_of(triple: str) -> str:
    env = triple.split("-")[-1]
    return "musl" if env.startswith("musl") else "glibc"


EXECUTOR_SOURCE = Path(__file__).resolve().parents[2] / "executor"


def executor_builds() -> Path:
    """Where `make -C executor` puts crossjit-executor (CROSSJIT_EXECUTOR_BUILD overrides)."""
    override = os.environ.get("CROSSJIT_EXECUTOR_BUILD")
    return Path(override) if override else EXECUTOR_SOURCE / "build"


def host_arch() -> str:
    return arch_name(os.uname().machine)  # platform.machine(), without importing platform


def is_foreign(triple: str) -> bool:
    """Does code for ``triple`` need another CPU than this host's?"""
    return arch_name(triple) != host_arch()


def arm64_root() -> Path:
    """Debian's arm64 packages extracted by scripts/arm64-root: the LLVM executors, the
    libraries qemu-aarch64 -L loads, glibc headers (CROSSJIT_ARM64_ROOT overrides)."""
    override = os.environ.get(ARM64_ROOT_ENV)
    return Path(override) if override else cache.root() / "arm64-root"


def qemu_aarch64() -> str | None:
    return which("qemu-aarch64-static") or which("qemu-aarch64")


def default_sysroot_for(triple: str) -> Path | None:
    """The sysroot to compile ``triple`` with when none is given: for aarch64 glibc the
    arm64 root (musl targets use the ziglang wheel's headers, the host's own triple the
    host's headers)."""
    if arch_name(triple) != "aarch64" or host_arch() == "aarch64" or libc_of(triple) == "musl":
        return None
    root = arm64_root()
    if not (root / "usr" / "include" / "stdio.h").is_file():
        raise ToolchainError(
            f"no headers to compile for {triple}",
            why=f"no sysroot was given and {root} holds no arm64 glibc headers",
            hint="run scripts/arm64-root (extracts Debian's arm64 libc6-dev there), or "
            "pass --sysroot",
        )
    return root


def _aarch64_executor(triple: str) -> str:
    """An AArch64 executor under qemu-user: crossjit-executor (musl: the static build, as
    no arm64 musl loader is at hand), Debian's arm64 LLVM 16 executor (glibc), else
    crossjit-executor's glibc build; both glibc ones load their libraries from the arm64
    root via ``-L``."""
    qemu = qemu_aarch64()
    if qemu is None:
        raise ExecutorError(
            f"cannot run {triple} code on this {host_arch()} host",
            why="no qemu-aarch64-static (or qemu-aarch64) on PATH",
            hint="apt-get install qemu-user-static, or pass --executor tcp:HOST:PORT of an "
            "executor on an AArch64 machine",
        )
    builds = executor_builds()
    if libc_of(triple) == "musl":
        exe = builds / "crossjit-executor-aarch64-musl-static"
        if exe.is_file():
            return "spawn:" + shlex.join([qemu, str(exe)])
        hint = "make -C executor aarch64"
    else:
        root = arm64_root()
        for exe in (root / "usr/lib/llvm-16/bin/llvm-jitlink-executor",
                    builds / "crossjit-executor-aarch64-glibc"):
            if exe.is_file() and (root / "lib/ld-linux-aarch64.so.1").exists():
                return "spawn:" + shlex.join([qemu, "-L", str(root), str(exe)])
        hint = f"run scripts/arm64-root (Debian's arm64 executors and libraries into {root})"
    raise ExecutorError(f"no local executor for {triple}", why="none is built or extracted",
                        hint=f"{hint}, or pass --executor")


def local_executor_for(triple: str) -> str | None:
    """The spawn spec of a host executor that can run code for ``triple`` (None: default).

    musl code needs a musl process: crossjit-executor's musl build, when it is built.
    AArch64 code runs on an AArch64 executor under qemu-user.
    """
    if arch_name(triple) == "aarch64" and host_arch() != "aarch64":
        return _aarch64_executor(triple)
    if libc_of(triple) == "musl":
        exe = executor_builds() / "crossjit-executor-musl"
        return f"spawn:{exe}" if exe.exists() else None
    return None


def plan_profile(profile: Profile, *, sources: tuple[Path, ...], include_dirs: tuple[Path, ...],
                 sysroot: Path | None, dlopen: tuple[str, ...], args: tuple[str, ...] | None,
                 executor_override: str | None = None,
                 target_override: str | None = None) -> RunPlan:
    """The run plan of a validated profile whose paths were resolved by ``sources.resolve``.

    ``target_override``: build for this triple instead (`run --target`, a fleet's
    targets); the profile's cpu and features still apply on the same architecture."""
    t = profile.target
    triple = target_override or t.triple
    if arch_name(triple) != arch_name(t.triple):
        t = type(t)(triple=triple)
    build = BuildOptions(
        target=triple,
        opt_level=profile.opt,
        debug=profile.debug,
        include_dirs=include_dirs,
        defines=tuple(profile.defines),
        sysroot=sysroot if sysroot is not None else default_sysroot_for(triple),
        extra_cflags=tuple(profile.cflags),
        cpu=t.cpu or "",
        features=",".join(t.features),
        launcher=tuple(profile.compiler_launcher),
        live=profile.live,
    )
    ex = profile.executor
    env = tuple(sorted(ex.env.items())) if ex is not None else ()
    workdir = ex.workdir if ex is not None else None
    if executor_override is not None:
        choice = ExecutorChoice(spec=executor_override, env=env, workdir=workdir)
    elif ex is not None and ex.ssh is not None:
        choice = ExecutorChoice(spec=f"ssh:{ex.ssh}", env=env, workdir=workdir)
    elif ex is None or ex.variant == LOCAL:
        choice = ExecutorChoice(spec=None)
    else:
        choice = ExecutorChoice(profile_container=True)
    return RunPlan(
        name=profile.name,
        inputs=sources,
        build=build,
        executor=choice,
        dlopen=dlopen,
        args=tuple(profile.args) if args is None else args,
    )

"""Pure planning: a profile (or `jit` options) + CLI options → what to build and where to run.

No I/O beyond reading the profile's already-resolved paths: the session executes the plan.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from crossjit.compile.build import BuildOptions
from crossjit.errors import UsageError

if TYPE_CHECKING:  # pydantic is slow to import; `crossjit jit` never needs it
    from crossjit.project.profile import Profile

LOCAL = "local"
DOCKER = "docker:"


@dataclass(frozen=True)
class ExecutorChoice:
    """Where the program runs: an executor spec (spawn:/tcp:), or a profile's container."""

    spec: str | None = None  # spawn:PATH | tcp:HOST:PORT | docker:VARIANT | None (default)
    profile_container: bool = False  # the profile's own container (executors.config)


@dataclass(frozen=True)
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
    import platform

    from crossjit.link.arch import arch_name  # lazily: it loads the linker

    arch = arch_name(platform.machine())
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


def local_executor_for(triple: str) -> str | None:
    """The spawn spec of a host executor that can run code for ``triple`` (None: default).

    musl code needs a musl process: crossjit-executor's musl build, when it is built.
    """
    if libc_of(triple) == "musl":
        exe = executor_builds() / "crossjit-executor-musl"
        return f"spawn:{exe}" if exe.exists() else None
    return None


def plan_profile(profile: Profile, *, sources: tuple[Path, ...], include_dirs: tuple[Path, ...],
                 sysroot: Path | None, dlopen: tuple[str, ...], args: tuple[str, ...] | None,
                 executor_override: str | None = None) -> RunPlan:
    """The run plan of a validated profile whose paths were resolved by ``sources.resolve``."""
    t = profile.target
    build = BuildOptions(
        target=t.triple,
        opt_level=profile.opt,
        debug=profile.debug,
        include_dirs=include_dirs,
        defines=tuple(profile.defines),
        sysroot=sysroot,
        extra_cflags=tuple(profile.cflags),
        cpu=t.cpu or "",
        features=",".join(t.features),
        live=profile.live,
    )
    ex = profile.executor
    if executor_override is not None:
        choice = ExecutorChoice(spec=executor_override)
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

"""Which kind of target a spec names, as a Target (base.py): the one place that maps
``spawn:`` / None, ``tcp:``, ``docker:`` and ``ssh:`` to their modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crossjit.project.plan import ExecutorChoice, docker_container

if TYPE_CHECKING:
    from crossjit.targets.base import Target
    from crossjit.targets.container import Opener


def target_of(choice: ExecutorChoice, *, opener: Opener | None = None) -> Target:
    """The Target of ``choice.spec``: an SSH device, a container (of this host's engine or
    another machine's: asked of the engine), a tcp executor, or a local spawn (None: the
    default LLVM executor). ``opener``: the plain session of a container (a daemon's
    spare, run/spares.py). A profile's own container is ``container_target(cfg.name)``."""
    spec = choice.spec
    if spec is not None and spec.startswith("ssh:"):
        from crossjit.targets.ssh import SshDevice

        return SshDevice.from_spec(spec, env=choice.env, workdir=choice.workdir)
    name = docker_container(spec)
    if name is not None:
        from crossjit.targets.container import container_target

        return container_target(name, opener=opener)
    if spec is not None and spec.startswith("tcp:"):
        from crossjit.targets.tcp import TcpExecutor

        return TcpExecutor(spec)
    from crossjit.targets.spawn import LocalSpawn

    return LocalSpawn(spec)


def starts_directly(spec: str | None) -> bool:
    """A local spawn or a tcp executor (``spec`` None: the default LLVM executor): crossjit
    starts or connects to it itself (orc/spec.start), so a `jit` can start it first and
    read its Setup later (run/starting.py); the other kinds open sessions of their own."""
    return spec is None or spec.startswith(("spawn", "tcp:"))

"""The lifecycle questions of targets/base.py (``Target.running``, ``base.Place``), on the
parts that need no engine: the kinds crossjit does not start answer with nothing to do,
and a container it has no ``config`` of is used as it runs. The container kinds' real
starts and removals are in tests/integration/test_place_lifecycle.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossjit.errors import ContainerError, UsageError
from crossjit.targets.container import Container
from crossjit.targets.executors import ExecutorConfig
from crossjit.targets.spawn import LocalSpawn
from crossjit.targets.ssh import SshDevice
from crossjit.targets.tcp import TcpExecutor


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Any engine call fails: what passes below asked no engine."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")


def test_what_each_kind_says_about_watch_sessions() -> None:
    spawn, tcp = LocalSpawn("spawn:/bin/exe"), TcpExecutor("tcp:127.0.0.1:7000")
    device = SshDevice.from_spec("ssh:pi@board")
    container = Container("crossjit-x")
    # run --watch opens a fresh session per reload: a tcp executor serves one connection
    assert (spawn.fresh_sessions, tcp.fresh_sessions, device.fresh_sessions,
            container.fresh_sessions) == (True, False, True, True)
    # ssh and `docker exec -i` copy stdin as they start; a spawned executor does not
    assert (spawn.reads_stdin_ahead, device.reads_stdin_ahead,
            container.reads_stdin_ahead) == (False, True, True)


@pytest.mark.usefixtures("no_engine")
def test_places_crossjit_does_not_start_need_nothing() -> None:
    entered = []
    for target in (LocalSpawn("spawn:/bin/exe"), TcpExecutor("tcp:127.0.0.1:9"),
                   SshDevice.from_spec("ssh:pi@board"), Container("crossjit-someones")):
        with target.running(keep=False):
            entered.append(target.spec)
    assert entered == ["spawn:/bin/exe", "tcp:127.0.0.1:9", "ssh:pi@board",
                       "docker:someones"]


@pytest.mark.usefixtures("no_engine")
def test_a_live_spare_means_the_container_runs() -> None:
    asked = []

    def ready(name: str) -> bool:
        asked.append(name)
        return True

    cfg = ExecutorConfig(variant="musl", name="crossjit-axis-spare")
    with Container(cfg.name, ready=ready, config=cfg).running():
        pass  # no engine was asked (DOCKER_HOST goes nowhere): the spare said it runs
    assert asked == ["crossjit-axis-spare"]
    # without a spare it must ask the engine whether the container runs (here: none)
    with pytest.raises(ContainerError, match="no Docker engine is answering"), \
            Container(cfg.name, config=cfg).running():
        pass


def test_up_needs_to_know_what_the_container_is() -> None:
    with pytest.raises(UsageError, match="does not know how crossjit-someones is made"):
        Container("crossjit-someones").up()

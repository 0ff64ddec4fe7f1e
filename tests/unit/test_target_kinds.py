"""targets/kinds.py: every spec maps to its kind's Target class (docker: is asked of the
engine, in tests/integration/test_remote_engine.py and the container tests)."""

from __future__ import annotations

import pytest

from crossjit.errors import UsageError
from crossjit.project.plan import ExecutorChoice
from crossjit.targets.kinds import target_of
from crossjit.targets.spawn import LocalSpawn
from crossjit.targets.ssh import SshDevice
from crossjit.targets.tcp import TcpExecutor


def test_spawn_and_default() -> None:
    t = target_of(ExecutorChoice(spec="spawn:/bin/exe a b"))
    assert isinstance(t, LocalSpawn) and t.spec == "spawn:/bin/exe a b"
    default = target_of(ExecutorChoice())
    assert isinstance(default, LocalSpawn)
    assert default.spec.startswith("spawn:") and "jitlink-executor" in default.spec


def test_tcp() -> None:
    t = target_of(ExecutorChoice(spec="tcp:127.0.0.1:7000"))
    assert isinstance(t, TcpExecutor) and t.spec == "tcp:127.0.0.1:7000"
    assert t.local_pids(None) == ()  # type: ignore[arg-type]  # nothing of it runs here
    with pytest.raises(UsageError, match="local executor"):
        t.attach(None)


def test_ssh_keeps_env_and_workdir() -> None:
    t = target_of(ExecutorChoice(spec="ssh:pi@board:2222", env=(("A", "1"),), workdir="/srv"))
    assert isinstance(t, SshDevice) and t.spec == "ssh:pi@board:2222"
    assert t.env == (("A", "1"),) and t.workdir == "/srv"


def test_tcp_refuses_a_debugger_session_before_connecting() -> None:
    t = TcpExecutor("tcp:127.0.0.1:9")  # nothing listens: connecting would fail otherwise
    with pytest.raises(UsageError, match="crossjit debug needs a local executor"), \
            t.session(new_session=True):
        pass

"""Which engines are remote, the current docker context, and remote-engine container specs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from crossjit.targets import containers, executors
from tests.prereq import require_tool


@pytest.mark.parametrize(("host", "remote"), [
    ("unix:///var/run/docker.sock", False),
    ("unix:///run/user/1000/docker.sock", False),
    ("tcp://10.1.2.3:2376", True),
    ("tcp://127.0.0.1:2375", True),  # a forwarded engine looks like this
    ("https://10.1.2.3:2376", True),
    ("ssh://pi@board", True),
])
def test_is_remote(host: str, remote: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CROSSJIT_DOCKER_REMOTE", raising=False)
    assert containers.is_remote(host) is remote


def test_is_remote_can_be_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROSSJIT_DOCKER_REMOTE", "1")
    assert containers.is_remote("unix:///var/run/docker.sock")
    monkeypatch.setenv("CROSSJIT_DOCKER_REMOTE", "0")
    assert not containers.is_remote("tcp://10.1.2.3:2376")


def test_current_context_is_the_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A context made by the real docker CLI and selected with `docker context use`: the
    hot path's unix-socket shortcut steps aside and the context's endpoint is used."""
    docker = require_tool("docker", "the docker CLI (scripts/docker-setup.sh)")
    env = {"DOCKER_CONFIG": str(tmp_path), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    for argv in (["context", "create", "far", "--docker", "host=tcp://10.9.8.7:2376"],
                 ["context", "use", "far"]):
        subprocess.run([docker, *argv], env=env, check=True, capture_output=True, timeout=60)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    assert containers._current_context_name() == "far"
    assert containers._local_socket() is None
    endpoint = containers._context_endpoint()
    assert endpoint is not None and endpoint[0] == "tcp://10.9.8.7:2376"
    monkeypatch.setenv("DOCKER_CONTEXT", "default")  # DOCKER_CONTEXT wins over config.json
    assert containers._context_endpoint() is None
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")  # and DOCKER_HOST wins
    monkeypatch.delenv("DOCKER_CONTEXT")
    assert containers._context_endpoint() is None


def test_remote_spec_mounts_nothing_of_this_host() -> None:
    cfg = executors.ExecutorConfig(variant="musl", name="crossjit-x", remote=True,
                                   mounts=((Path("/srv/host"), "/srv/www"),))
    spec = executors.run_spec(cfg, "img", Path("/nonexistent"))
    assert spec.binds == {}
    assert set(spec.tmpfs) == {"/tmp", executors.CONTAINER_RUN}
    assert "mode=0700" in spec.tmpfs[executors.CONTAINER_RUN]
    assert spec.cap_add == ("SYS_PTRACE",) and spec.cap_drop == ("ALL",)
    assert spec.network == "none"
    assert spec.labels[executors.L_CHANNEL] == executors.CHANNEL_EXEC
    assert spec.labels[executors.L_RUNDIR] == ""  # no host folder: `down` removes none
    local = executors.run_spec(executors.ExecutorConfig(variant="musl", name="crossjit-x"),
                               "img", Path("/run/x"))
    assert local.cap_add == () and local.binds == {"/run/x": ("/run/crossjit", "rw")}


def test_ports_note_names_the_forward() -> None:
    note = executors.ports_note("crossjit-mg", (8000, 8443), "ssh://me@board:2222")
    assert "on the engine's machine board" in note
    assert note.endswith("ssh -N -L 8000:127.0.0.1:8000 -L 8443:127.0.0.1:8443 me@board")
    assert "10.1.2.3" in executors.ports_note("c", (80,), "tcp://10.1.2.3:2376")

"""Executor containers on the real engine: up, hardening, sessions, down, clean, errors."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from crossjit.targets import containers, executors, soname
from tests.integration import containers_env as env

pytestmark = pytest.mark.integration
ZLIB_PROFILE = "profiles/zlib-musl.yaml"


def test_up_is_ready_after_the_handshake(musl: str) -> None:
    info = executors.probe(musl, deadline=30)
    assert info.triple == "x86_64-pc-linux-musl"
    assert info.dialect == "llvm-16"


@pytest.mark.parametrize("variant", ["musl", "debian"])
def test_hardening_from_docker_inspect(variant: str, request: pytest.FixtureRequest) -> None:
    name = request.getfixturevalue(variant)
    attrs = env.engine().inspect(name)
    host, cfg = attrs["HostConfig"], attrs["Config"]
    assert_hardened(attrs)
    # No network at all: nothing is bound anywhere, the channel is a unix socket.
    assert host["NetworkMode"] == "none"
    assert host["PortBindings"] in (None, {})
    assert attrs["NetworkSettings"]["Ports"] in (None, {})
    mounts = {m["Destination"]: m for m in attrs["Mounts"]}
    assert set(mounts) == {"/run/crossjit"}
    assert mounts["/run/crossjit"]["RW"] is True
    rundir = Path(mounts["/run/crossjit"]["Source"])
    assert rundir.stat().st_mode & 0o777 == 0o700
    labels = cfg["Labels"]
    assert labels[containers.MANAGED] == "1"
    assert labels["crossjit.variant"] == variant
    procs = [args for _pid, _ppid, args in env.engine().processes(name)]
    assert not any("listen=" in a for a in procs), procs


def assert_hardened(attrs: dict[str, Any]) -> None:
    """What every executor container has (``docker inspect``), whatever its network."""
    host, cfg = attrs["HostConfig"], attrs["Config"]
    assert cfg["User"] == "65534:65534"
    assert host["CapDrop"] == ["ALL"]
    assert host["CapAdd"] in (None, [])
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["Privileged"] is False
    assert host["ReadonlyRootfs"] is True
    assert host["Tmpfs"] == {"/tmp": "rw,nosuid,nodev,noexec,size=64m"}
    assert host["PidsLimit"] == 128
    assert host["Memory"] == 1 << 30
    assert host["Init"] is True  # docker-init reaps orphaned session processes
    assert host["PortBindings"] in (None, {})
    assert cfg["Labels"][containers.MANAGED] == "1"


def test_up_makes_the_run_folder_private(musl: str) -> None:
    """The folder of every container's run dir holds the daemon's socket too: `up` makes
    it 0700 (the launcher will not use a daemon socket in a folder others can enter),
    also one an older crossjit left 0755."""
    root = executors.run_dir(musl).parent
    root.chmod(0o755)
    env.ok("executor", "up", "musl")
    assert root.stat().st_mode & 0o777 == 0o700


def test_sessions_leave_no_zombies(debian: str) -> None:
    """socat exits before LLVM's executor; PID 1 must reap it or pids_limit fills up."""
    for _ in range(3):
        executors.probe(debian, deadline=30)
    engine = env.engine()
    states = []
    for pid, _ppid, _args in engine.processes(debian):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue  # already gone: reaped
        states.append((pid, stat.rsplit(")", 1)[1].split()[0]))
    assert all(state != "Z" for _pid, state in states), states


def test_debian_executor_speaks_llvm16(debian: str) -> None:
    info = executors.probe(debian, deadline=30)
    assert (info.triple, info.dialect) == ("x86_64-pc-linux-gnu", "llvm-16")


def test_status_json(musl: str) -> None:
    rows = json.loads(env.ok("executor", "status", "--json"))
    row = next(r for r in rows if r["name"] == musl)
    assert (row["variant"], row["status"]) == ("musl", "running")


def test_session_dlopens_by_soname() -> None:
    """The zlib profile: libz.so → libz.so.1, shipped in the FROM-scratch image."""
    env.require_musl_executor_binary()
    root = env.musl_sysroot()
    name = env.executor_up("--profile", ZLIB_PROFILE)
    lib = soname.resolve(root, "libz.so")
    with executors.session(name, interactive=False) as client:
        handle = client.open_dylib(lib.soname)
        crc32, version, nope = client.lookup(handle, ["crc32", "zlibVersion", "nope"], False)
    assert crc32 and version and nope is None
    attrs = env.engine().inspect(name)
    assert attrs["Config"]["Labels"]["crossjit.profile"] == ZLIB_PROFILE
    env.ok("executor", "down", "--profile", ZLIB_PROFILE)
    assert env.engine().get(name) is None


def test_session_cleans_up_after_a_failure(musl: str) -> None:
    with pytest.raises(RuntimeError), executors.session(musl, interactive=False):
        raise RuntimeError("boom")
    procs = [args for _pid, _ppid, args in env.engine().processes(musl)]
    keepalive = "/usr/bin/crossjit-executor unix=/tmp/keepalive.sock"
    assert procs == [f"/sbin/docker-init -- {keepalive}", keepalive]


def test_interrupted_session_kills_a_busy_executor(debian: str) -> None:
    """Ctrl-C while the program runs: socat and the executor must not linger.

    LLVM's executor runs any address as main, so pause() stands in for a program that
    never returns (crossjit-executor only runs finalized JIT memory).
    """

    def interrupt(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        with pytest.raises(KeyboardInterrupt), executors.session(debian, interactive=False) as c:
            (pause,) = c.lookup(c.open_dylib(None), ["pause"])
            assert pause is not None
            busy = [a for _p, _pp, a in env.engine().processes(debian)]
            assert any(a.startswith("llvm-jitlink-executor") for a in busy), busy
            signal.alarm(1)
            c.run_as_main(pause, ["pause"])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    procs = [args for _pid, _ppid, args in env.engine().processes(debian)]
    assert procs == ["/sbin/docker-init -- sleep infinity", "sleep infinity"]


def test_executor_down_removes_it(musl: str) -> None:
    assert env.ok("executor", "down", "musl") == ""
    assert env.engine().get(musl) is None
    done = env.cli("executor", "down", "musl")
    assert done.returncode == 125
    assert done.stderr.startswith("error: no executor container crossjit-musl")


def test_session_on_a_stopped_executor_exits_125() -> None:
    env.engine()
    env.ok("executor", "down")
    done = env.cli("executor", "logs", "musl")
    assert done.returncode == 125
    assert done.stderr.splitlines() == [
        "error: executor crossjit-musl is not running",
        "hint: start it: crossjit executor up musl  (or --profile PROFILE)",
    ]


def test_clean_finds_leftovers(tmp_path: Path) -> None:
    env.require_musl_executor_binary()
    env.musl_sysroot()
    name = env.executor_up("musl")
    (tmp_path / "crossjit" / "junk").mkdir(parents=True)
    out = env.ok("clean", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert f"containers: removed 1 ({name})" in out
    assert env.engine().find() == []
    assert not (tmp_path / "crossjit").exists()


def test_engine_down_says_how_to_start_one() -> None:
    done = env.cli("executor", "status", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert done.returncode == 125
    lines = done.stderr.splitlines()
    assert lines[0] == "error: no Docker engine is answering"
    assert "scripts/docker-setup.sh" in lines[-1] and lines[-1].startswith("hint: ")


def test_unknown_profile_key_exits_125(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntarget: {triple: x86_64-linux-musl}\nexecuter: musl\nsources: [a.c]\n")
    done = env.cli("executor", "up", "--profile", str(bad))
    assert done.returncode == 125
    assert f"{bad}:3: executer: unknown key; did you mean 'executor'?" in done.stderr


def test_alpine_executor() -> None:
    env.require_alpine()
    name = env.executor_up("alpine")
    assert executors.probe(name).triple.endswith("linux-musl")
    env.ok("executor", "down", "alpine")

"""Everything container-based against a *remote* Docker engine (issue 12, item 3).

The engine is a second dockerd in a private network namespace, reached over TCP with
TLS (tests/integration/remote_engine.py). crossjit runs with DOCKER_HOST,
DOCKER_TLS_VERIFY and DOCKER_CERT_PATH naming only that engine, in a mount namespace
where the local engine's socket is /dev/null — so nothing can reach the local engine —
and a cache directory of its own (its sysroot is built there, by the remote engine).

In file order, sharing the engine: `sysroot build debian-musl`, `executor up musl`
(hardened, nothing of this host mounted), corpus programs on `docker:musl` (stdout and
exit status equal to native builds; stdin travels), a mongoose profile answering `GET /`
on the engine machine's loopback (reached with `ip netns exec … curl`, the namespace's
own loopback), and the seed debugging scenario through the container's gdbserver
(x == 1 at sub1, x = 42 set, exit 41).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import corpus
from tests.integration.remote_engine import RemoteEngine, require_prerequisites
from tests.integration.serve import free_port
from tests.prereq import missing, require_tool

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LOCAL_SOCKET = "/var/run/docker.sock"
TAG = f"rmt{os.getpid() % 100000}"
SEED = "int sub1(int x) { return x - 1; } int main(int argc, char **argv) { return sub1(argc); }\n"


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteEngine]:
    if os.geteuid() != 0:
        missing("a second Docker engine in a network namespace needs root")
    require_prerequisites()
    require_tool("unshare")
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    build = REPO / "executor" / "build" / "crossjit-executor-musl"
    if not build.is_file():
        missing(f"{build} (make -C executor)")
    local = subprocess.run(["docker", "image", "inspect", "debian:bookworm-slim"],
                           capture_output=True, env=RemoteEngine.local_env(), check=False)
    if local.returncode != 0:
        missing("debian:bookworm-slim on the local engine (scripts/docker-setup.sh)")
    engine = RemoteEngine(tmp_path_factory.mktemp("remote-engine"))
    try:
        engine.start()
        yield engine
    finally:
        engine.close()


def crossjit(remote: RemoteEngine, *args: str, cwd: Path = REPO, timeout: float = 400,
             stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """`crossjit ARGS` with only the remote engine reachable."""
    return subprocess.run(isolated(remote, [sys.executable, "-m", "crossjit", *args]),
                          cwd=cwd, env=environment(remote), input=stdin,
                          capture_output=True, timeout=timeout, check=False)


def environment(remote: RemoteEngine) -> dict[str, str]:
    cache = remote.workdir / "cache"
    cache.mkdir(exist_ok=True)
    return remote.env(PYTHONPATH=str(REPO), XDG_CACHE_HOME=str(cache),
                      XDG_RUNTIME_DIR=str(remote.workdir))


def isolated(remote: RemoteEngine, argv: list[str]) -> list[str]:
    """``argv`` in a mount namespace where the local engine's socket is /dev/null."""
    script = f'mount --bind /dev/null {LOCAL_SOCKET} && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *argv]


def text(p: subprocess.CompletedProcess[bytes]) -> str:
    return (p.stdout + p.stderr).decode(errors="replace")


def remote_names(remote: RemoteEngine) -> set[str]:
    return set(remote.docker("ps", "-a", "--format", "{{.Names}}").split())


def local_names() -> set[str]:
    p = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True,
                       text=True, env=RemoteEngine.local_env(), timeout=60, check=False)
    return set(p.stdout.split())


def test_local_engine_is_unreachable(remote: RemoteEngine) -> None:
    """The guard the other tests rely on: inside the namespace, the local socket is gone."""
    p = subprocess.run(isolated(remote, ["docker", "-H", f"unix://{LOCAL_SOCKET}", "version"]),
                       capture_output=True, text=True, timeout=60, check=False,
                       env=remote.local_env())
    assert p.returncode != 0, p.stdout
    p = subprocess.run(isolated(remote, ["docker", "info", "--format", "{{.DockerRootDir}}"]),
                       capture_output=True, text=True, timeout=60, check=False,
                       env=environment(remote))
    assert p.stdout.strip() == str(remote.workdir / "data"), p.stderr


def test_sysroot_build(remote: RemoteEngine) -> None:
    p = crossjit(remote, "sysroot", "build", "debian-musl", timeout=900)
    assert p.returncode == 0, text(p)
    root = remote.workdir / "cache" / "crossjit" / "sysroots" / "debian-musl"
    assert (root / "lib" / "ld-musl-x86_64.so.1").exists(), text(p)
    assert (root / "usr" / "include" / "stdio.h").is_file()
    manifest = json.loads((root / "manifest.json").read_text())
    # built by the remote engine: the image is there, not necessarily here
    images = remote.docker("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert manifest["image"] in images, (manifest, images)
    assert not remote_names(remote)  # the export container is gone


def test_executor_up(remote: RemoteEngine) -> None:
    p = crossjit(remote, "executor", "up", "musl")
    assert p.returncode == 0, text(p)
    assert "on the remote engine tcp://" in text(p)
    attrs = json.loads(remote.docker("inspect", "crossjit-musl"))[0]
    host = attrs["HostConfig"]
    assert host["Binds"] in (None, []), host["Binds"]  # nothing of this host is mounted
    assert [m["Type"] for m in attrs["Mounts"]] == [], attrs["Mounts"]
    assert set(host["Tmpfs"]) == {"/tmp", "/run/crossjit"}
    assert "mode=0700" in host["Tmpfs"]["/run/crossjit"]
    assert host["CapDrop"] == ["ALL"]
    assert host["CapAdd"] == ["SYS_PTRACE"]  # only that, for gdbserver (docs/containers.md)
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["ReadonlyRootfs"] is True
    assert host["NetworkMode"] == "none"
    assert attrs["Config"]["User"] == "65534:65534"
    assert attrs["Config"]["Labels"]["crossjit.channel"] == "exec"
    # SYS_PTRACE gives no process a capability: the user is not root, no-new-privileges
    # (this engine shares our pid namespace, so `docker top`'s pids are ours to read)
    pids = remote.docker("top", "crossjit-musl", "-eo", "pid").split()[1:]
    assert pids
    for pid in pids:
        status = dict(line.split(":\t", 1) for line in
                      Path(f"/proc/{pid}/status").read_text().splitlines() if ":\t" in line)
        assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0, status
        assert status["NoNewPrivs"].strip() == "1", status


@pytest.mark.parametrize("name", ["argc_sub1", "qsort_cb", "exit7", "stdin_echo", "segv"])
def test_corpus_on_remote(remote: RemoteEngine, name: str, tmp_path: Path) -> None:
    case = next(c for c in corpus.CASES if c.name == name)
    expected = corpus.native_run(case, 0, False, tmp_path)
    p = crossjit(remote, *corpus.crossjit_cmd(case, "docker:musl", 0, False)[3:],
                 stdin=case.stdin)
    corpus.check(case, corpus.Run(p.returncode, p.stdout, p.stderr), expected)
    assert "crossjit-musl" in remote_names(remote)


def test_mongoose_get(remote: RemoteEngine, tmp_path: Path) -> None:
    from tests.integration.mongoose_server import derived_profile

    name = f"mg-{TAG}"
    profile = derived_profile(REPO / "profiles" / "mongoose.yaml", name, tmp_path)
    port = free_port()
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(
            isolated(remote, [sys.executable, "-m", "crossjit", "run", "-v", str(profile),
                              "--", f"http://127.0.0.1:{port}", "/srv/www"]),
            cwd=REPO, env=environment(remote), stdout=o, stderr=e)
    try:
        body = _get_in_ns(remote, port, "/", deadline=time.monotonic() + 400, proc=proc,
                          err=err)
        assert "Index of /" in body and "hello.json" in body, body
        www = REPO / "examples" / "mongoose" / "www"
        assert _get_in_ns(remote, port, "/hello.json") == (www / "hello.json").read_text()
        log = err.read_text(errors="replace")
        assert f"serves port 8000 on the engine's machine {remote.address}" in log, log
        assert f"crossjit-{name}" in remote_names(remote)
        assert f"crossjit-{name}" not in local_names()
    finally:
        proc.send_signal(signal.SIGINT)  # reaches unshare's child too: one process group
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert f"crossjit-{name}" not in remote_names(remote), err.read_text()


def _get_in_ns(remote: RemoteEngine, port: int, path: str, deadline: float | None = None,
               proc: subprocess.Popen[bytes] | None = None, err: Path | None = None) -> str:
    """GET http://127.0.0.1:PORT/PATH from inside the engine's namespace (its loopback)."""
    while True:
        p = subprocess.run(["ip", "netns", "exec", remote.netns, "curl", "-sf", "-m", "5",
                            f"http://127.0.0.1:{port}{path}"], capture_output=True,
                           text=True, timeout=30, check=False)
        if p.returncode == 0 or deadline is None:
            assert p.returncode == 0, p.stderr
            return p.stdout
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            raise AssertionError(f"no answer on port {port}: "
                                 f"{err.read_text() if err else p.stderr}")
        time.sleep(0.5)


def test_debug_seed_scenario(remote: RemoteEngine, tmp_path: Path) -> None:
    require_tool("gdb", "gdb (apt-get install gdb)")
    (tmp_path / "seed.c").write_text(SEED)
    probe = "docker inspect --format '{{json .HostConfig}}' crossjit-musl"
    (tmp_path / "cmds").write_text(f"continue\nprint x\nset var x = 42\nprint x\n"
                                   f"shell echo @@host@@; {probe}\ncontinue\n")
    p = crossjit(remote, "debug", "-v", "seed.c", "--batch", "cmds", "--break", "sub1",
                 "--debugger", "gdb", "-e", "docker:musl", cwd=tmp_path)
    out = text(p)
    src = tmp_path / "seed.c"
    assert f"Breakpoint 1, sub1 (x=1) at {src}:1" in out, out
    assert f"1\t{SEED.strip()}" in out, out
    assert "$1 = 1" in out and "$2 = 42" in out, out
    assert p.returncode == 41, out
    m = re.search(r"attaching to pid (\d+): (.*)", out)
    assert m, out
    argv = shlex.split(m.group(2))
    remote_cmd = argv[argv.index("-ex") + 1]
    assert remote_cmd.startswith("target remote | docker exec -i crossjit-musl "), remote_cmd
    assert f"--attach - {m.group(1)}" in remote_cmd, remote_cmd
    # at the breakpoint, from the engine: nothing but SYS_PTRACE added, still no network
    host = json.loads(out.split("@@host@@\n", 1)[1].split("\n", 1)[0])
    assert host["CapAdd"] == ["SYS_PTRACE"] and host["CapDrop"] == ["ALL"]
    assert host["NetworkMode"] == "none" and host["Privileged"] is False
    assert host["SecurityOpt"] == ["no-new-privileges:true"]


TICKER = """#include <stdio.h>
#include <unistd.h>
int main(void) {
  for (int i = 0; i < 100000; i++) { printf("%s %d\\n", "v1", i); fflush(stdout); usleep(50000); }
  return 0;
}
"""


def test_watch_follows_an_edit(remote: RemoteEngine, tmp_path: Path) -> None:
    """`run --watch` in a profile's own container there: an edit replaces the program
    (the old session is ended through its relay's `docker exec`), Ctrl-C removes it."""
    name = f"tick-{TAG}"
    (tmp_path / "main.c").write_text(TICKER)
    profile = tmp_path / "tick.yaml"
    profile.write_text(f"name: {name}\ntarget:\n  triple: x86_64-linux-musl\n"
                       "sysroot: debian-musl\nexecutor:\n  variant: musl\n"
                       "sources: [main.c]\n")
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(
            isolated(remote, [sys.executable, "-m", "crossjit", "run", str(profile),
                              "--watch"]),
            cwd=tmp_path, env=environment(remote), stdin=subprocess.DEVNULL, stdout=o,
            stderr=e)

    def wait_for(needle: str, deadline: float) -> None:
        end = time.monotonic() + deadline
        while needle not in out.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < end, err.read_text()[-3000:]
            time.sleep(0.05)

    try:
        wait_for("v1 3\n", 300)
        assert f"crossjit-{name}" in remote_names(remote)
        (tmp_path / "main.c").write_text(TICKER.replace('"v1"', '"v2"'))
        wait_for("v2 3\n", 60)
        seen = out.read_text()
        time.sleep(0.5)  # the old program is gone: no v1 line after the first v2 one
        after = out.read_text()[seen.index("v2 0"):]
        assert "v1" not in after, after
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert f"crossjit-{name}" not in remote_names(remote), err.read_text()[-3000:]


def test_doctor_names_the_remote_engine(remote: RemoteEngine) -> None:
    out = text(crossjit(remote, "doctor", timeout=120))
    assert f"remote: tcp://{remote.address}:2376" in out, out


def test_executor_down(remote: RemoteEngine) -> None:
    p = crossjit(remote, "executor", "down", "musl")
    assert p.returncode == 0, text(p)
    assert "crossjit-musl" not in remote_names(remote)


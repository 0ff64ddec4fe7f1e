"""Mongoose served from a JIT'd process in the musl container, checked through real HTTP.

`crossjit run profiles/mongoose.yaml -- http://127.0.0.1:PORT /srv/www` runs as a user
would (a subprocess); the tests browse it from the host: the directory listing of the
mounted examples/mongoose/www (the seeds' bug was "Not found [/]"), exact file bytes,
the JSON endpoint, a 404, 200 concurrent requests, and finally SIGINT (Ctrl-C) to
`crossjit run`, after which the container it started must be gone.

The tests share one server and run in file order; the last one stops it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration import containers_env as env
from tests.integration.serve import free_port, stop_within
from tests.mongoose import mongoose_dir

pytestmark = pytest.mark.integration

PROFILE = "profiles/mongoose.yaml"
CONTAINER = "crossjit-mongoose"
WWW = env.REPO / "examples" / "mongoose" / "www"
START_DEADLINE = 600.0  # a first run may build the executor image (vfs is slow)
CONCURRENT = 200


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str
    stdout: Path
    stderr: Path


def get(url: str, timeout: float = 10.0) -> tuple[int, bytes, str]:
    """(status, body, content type) of a GET; 4xx/5xx are answers, not exceptions."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return int(r.status), r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read(), err.headers.get("Content-Type", "")


def container_exists() -> bool:
    return env.container_exists(CONTAINER)


def wait_for_server(server: Server) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while True:
        if server.proc.poll() is not None:
            pytest.fail(f"crossjit run exited {server.proc.returncode} before serving:\n"
                        f"{server.stderr.read_text()}")
        try:
            if get(server.base + "/api/hello", timeout=2)[0] == 200:
                return
        except OSError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            pytest.fail(f"no answer on {server.base} within {START_DEADLINE:.0f} s:\n"
                        f"{server.stderr.read_text()}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes], sig: int, timeout: float = 60) -> int:
    return stop_within(
        proc, sig, timeout,
        lambda: f"crossjit run did not exit within {timeout:.0f} s of signal {sig}",
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env.require_musl_executor_binary()
    env.require_debian_base()
    mongoose_dir()  # fetchable (skips on a laptop without PyPI)
    env.musl_sysroot()
    if container_exists():
        # `run` would reuse it and (rightly) leave it running: the removal check needs a
        # container that this run starts itself.
        pytest.fail(f"{CONTAINER} already exists; remove it: crossjit executor down {CONTAINER}",
                    pytrace=False)
    port = free_port()
    logs = tmp_path_factory.mktemp("mongoose")
    out, err = logs / "stdout", logs / "stderr"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "crossjit", "run", PROFILE, "--",
             f"http://127.0.0.1:{port}", "/srv/www"],
            cwd=env.REPO, stdin=subprocess.DEVNULL, stdout=o, stderr=e,
        )
    srv = Server(proc, f"http://127.0.0.1:{port}", out, err)
    try:
        wait_for_server(srv)
        yield srv
    finally:
        if proc.poll() is None:
            stop(proc, signal.SIGTERM)
        if container_exists():  # safety net; test_ctrl_c_removes_the_container checks it
            env.cli("executor", "down", CONTAINER, timeout=60)


def test_get_root_lists_the_served_directory(server: Server) -> None:
    status, body, ctype = get(server.base + "/")
    assert status == 200, body[:200]
    assert ctype.startswith("text/html")
    page = body.decode()
    assert "Index of /" in page
    for entry in ('href="index.txt"', 'href="hello.json"', 'href="docs/"'):
        assert entry in page
    assert "Not found" not in page


def test_subdirectory_listing(server: Server) -> None:
    status, body, _ = get(server.base + "/docs/")
    assert status == 200
    assert 'href="notes.md"' in body.decode()


@pytest.mark.parametrize("name", ["index.txt", "hello.json", "docs/notes.md"])
def test_files_are_served_byte_for_byte(server: Server, name: str) -> None:
    status, body, _ = get(f"{server.base}/{name}")
    assert status == 200
    assert body == (WWW / name).read_bytes()


def test_json_endpoint(server: Server) -> None:
    status, body, ctype = get(server.base + "/api/hello")
    assert status == 200
    assert ctype == "application/json"
    reply = json.loads(body)
    assert reply["message"] == "hello from crossjit"
    assert isinstance(reply["requests"], int) and reply["requests"] >= 1


def test_missing_path_is_404(server: Server) -> None:
    status, _, _ = get(server.base + "/no/such/file.txt")
    assert status == 404


def test_200_concurrent_requests_all_succeed(server: Server) -> None:
    paths = ["/", "/index.txt", "/api/hello", "/docs/notes.md"]
    expected = {"/index.txt": (WWW / "index.txt").read_bytes(),
                "/docs/notes.md": (WWW / "docs" / "notes.md").read_bytes()}

    def one(i: int) -> tuple[str, int, bytes]:
        path = paths[i % len(paths)]
        status, body, _ = get(server.base + path, timeout=30)
        return path, status, body

    # One thread per request: all 200 are in flight at once against the single-threaded
    # event loop (connections beyond the listen backlog are retried by the kernel).
    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        futures = [pool.submit(one, i) for i in range(CONCURRENT)]
        results = [f.result(timeout=120) for f in futures]
    failures = [(p, s) for p, s, _ in results if s != 200]
    assert failures == []
    for path, _, body in results:
        if path in expected:
            assert body == expected[path]
    # Still answering afterwards, and it counted them all.
    status, body, _ = get(server.base + "/api/hello")
    assert status == 200
    assert json.loads(body)["requests"] > CONCURRENT


def test_requests_are_logged_on_stdout(server: Server) -> None:
    get(server.base + "/index.txt")
    deadline = time.monotonic() + 10
    while "GET /index.txt" not in server.stdout.read_text():
        assert time.monotonic() < deadline, server.stdout.read_text()[-500:]
        time.sleep(0.05)
    assert server.stdout.read_text().startswith("serving /srv/www on http://127.0.0.1:")


def test_ctrl_c_removes_the_container(server: Server) -> None:
    assert container_exists()
    status = stop(server.proc, signal.SIGINT)
    assert status == 130, _tail(server.stderr)
    listed = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"],
                            capture_output=True, text=True, timeout=30, check=True)
    assert CONTAINER not in listed.stdout.split()
    with pytest.raises(OSError):  # nothing listens any more
        get(server.base + "/api/hello", timeout=2)


def test_sigterm_removes_the_container_too(tmp_path: Path) -> None:
    """What `kill`, systemd or a CI timeout send: the same cleanup as Ctrl-C, status 143."""
    if container_exists():
        pytest.fail(f"{CONTAINER} was left behind", pytrace=False)
    port = free_port()
    err = tmp_path / "stderr"
    with open(err, "wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "crossjit", "run", PROFILE, "--",
             f"http://127.0.0.1:{port}", "/srv/www"],
            cwd=env.REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=e,
        )
    srv = Server(proc, f"http://127.0.0.1:{port}", tmp_path / "none", err)
    try:
        wait_for_server(srv)
        assert stop(proc, signal.SIGTERM) == 143, _tail(err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert not container_exists()


def _tail(path: Path) -> str:
    return path.read_text()[-2000:]

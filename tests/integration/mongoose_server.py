"""A JIT'd Mongoose served by `crossjit run PROFILE -- URL /srv/www ...`, for the HTTPS and
browser tests: started as a user would (a subprocess), probed until it answers, stopped
with SIGINT (Ctrl-C) at the end, its container checked gone."""

from __future__ import annotations

import signal
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration import containers_env as env
from tests.integration.containers_env import container_exists
from tests.integration.serve import free_port, stop_within
from tests.mongoose import mongoose_dir

START_DEADLINE = 600.0  # a first run may build the sysroot and the executor image
STOP_DEADLINE = 60.0


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str
    container: str
    stdout: Path
    stderr: Path


def unverified() -> ssl.SSLContext:
    """Only to see whether a TLS server answers yet (its certificate may not exist yet)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=unverified()) as r:
            return int(r.status) == 200
    except OSError:
        return False  # not listening (or not speaking TLS) yet


def stop(server: Server) -> int:
    return stop_within(
        server.proc, signal.SIGINT, STOP_DEADLINE,
        lambda: f"crossjit run did not exit within {STOP_DEADLINE:.0f} s of Ctrl-C",
    )


@contextmanager
def serving(profile: Path, scheme: str, logs: Path, *extra_args: str,
            prepare: Callable[[], object] | None = None) -> Iterator[Server]:
    """`crossjit run PROFILE -- SCHEME://127.0.0.1:PORT /srv/www EXTRA...` until the block
    ends; then Ctrl-C, and the container it started must be gone. ``prepare``: what the
    profile needs ready first (default: the x86-64 musl executor and sysroot)."""
    from crossjit.project.profile import load_profile

    env.require_debian_base()
    mongoose_dir()  # fetchable (skips on a laptop without PyPI)
    if prepare is None:
        env.require_musl_executor_binary()
        env.musl_sysroot()
    else:
        prepare()
    container = "crossjit-" + load_profile(profile).name
    if container_exists(container):
        pytest.fail(f"{container} already exists; remove it: crossjit executor down {container}",
                    pytrace=False)
    base = f"{scheme}://127.0.0.1:{free_port()}"
    out, err = logs / "stdout", logs / "stderr"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(
            [*env.cli_argv(), "run", str(profile), "--", base, "/srv/www", *extra_args],
            cwd=env.REPO, stdin=subprocess.DEVNULL, stdout=o, stderr=e,
        )
    server = Server(proc, base, container, out, err)
    try:
        deadline = time.monotonic() + START_DEADLINE
        while not _answers(base + "/api/hello"):
            if proc.poll() is not None:
                pytest.fail(f"crossjit run exited {proc.returncode} before serving:\n"
                            f"{err.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no answer on {base} within {START_DEADLINE:.0f} s:\n"
                            f"{err.read_text()[-3000:]}")
            time.sleep(0.2)
        yield server
    finally:
        status = stop(server) if proc.poll() is None else proc.returncode
        left = container_exists(container)
        if left:
            env.cli("executor", "down", container, timeout=60)
        assert status == 130, f"crossjit run exited {status}:\n{err.read_text()[-2000:]}"
        assert not left, f"{container} was left running after Ctrl-C"


def derived_profile(source: Path, name: str, dest: Path) -> Path:
    """``source`` under another name (so its container does not collide with the tests
    of the profile itself), written into ``dest`` with its relative paths made absolute."""
    text = source.read_text()
    renamed = text.replace(f"\nname: {source.stem}\n", f"\nname: {name}\n")
    assert renamed != text, f"{source} has no 'name: {source.stem}' line"
    absolute = renamed.replace("../examples/", f"{env.REPO}/examples/")
    assert absolute != renamed
    out = dest / f"{name}.yaml"
    out.write_text(absolute)
    return out


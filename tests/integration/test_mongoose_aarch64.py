"""Mongoose JIT'd for AArch64 (`crossjit jit --target aarch64-*`), served by the executor
crossjit picks under qemu-user, browsed from this host over loopback: the directory
listing, a file's exact bytes, a 404, 200 concurrent requests, then /api/stop.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration import aarch64_env as a64
from tests.integration.corpus import REPO
from tests.integration.serve import free_port
from tests.integration.test_mongoose_e2e import CONCURRENT, WWW, get
from tests.mongoose import EXAMPLE_MAIN, mongoose_dir

pytestmark = pytest.mark.integration

START_DEADLINE = 300.0  # a cold cache compiles mongoose.c for aarch64 first
MAX_SECONDS = 240  # the server stops by itself even if a test goes wrong


@pytest.mark.parametrize("target", [a64.GNU, a64.MUSL])
def test_mongoose_on_aarch64(target: str, tmp_path: Path) -> None:
    a64.spec("llvm16" if target == a64.GNU else "cj-musl")  # prerequisites
    src = mongoose_dir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out, err = tmp_path / "out", tmp_path / "err"
    cmd = [sys.executable, "-m", "crossjit", "jit", "--target", target, "-O2", "-I", str(src),
           str(EXAMPLE_MAIN), str(src / "mongoose.c"), "--", base, str(WWW), str(MAX_SECONDS)]
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(cmd, stdout=o, stderr=e, cwd=REPO,
                                env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        deadline = time.monotonic() + START_DEADLINE
        while True:
            assert proc.poll() is None, f"exited {proc.returncode}:\n{err.read_text()}"
            try:
                if get(base + "/api/hello", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "no answer in time:\n" + err.read_text()
            time.sleep(0.2)
        status, body, _ = get(base + "/")
        assert status == 200 and b"index.txt" in body and b"hello.json" in body, body[:500]
        status, body, _ = get(base + "/index.txt")
        assert (status, body) == (200, (WWW / "index.txt").read_bytes())
        assert get(base + "/no/such/file")[0] == 404
        with ThreadPoolExecutor(max_workers=32) as pool:
            answers = list(pool.map(lambda _: get(base + "/hello.json", timeout=60)[:2],
                                    range(CONCURRENT)))
        assert answers == [(200, (WWW / "hello.json").read_bytes())] * CONCURRENT
        assert get(base + "/api/stop")[0] == 200
        assert proc.wait(60) == 0, err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

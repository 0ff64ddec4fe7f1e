"""An AArch64 device over SSH: ssh_device.py's sshd with arch="aarch64" (its user's shell
and tools are arm64 busybox, everything it runs is AArch64 code under qemu-user through a
binfmt_misc of its own). Shows: crossjit probes it as aarch64 and uploads the AArch64
executor, which runs code built for AArch64; a corpus subset gives the same stdout and
exit status as the local AArch64 executor; a fleet of both agrees; nothing is left
running on the device.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import aarch64_env, ssh_device
from tests.integration.corpus import CASES, REPO, Case, crossjit_cmd, crossjit_run
from tests.integration.test_executor_support import executor, qemu_aarch64

pytestmark = pytest.mark.integration

SPEC = f"ssh:{ssh_device.ALIAS}"
SUBSET = ("argc_sub1", "libm_fp", "exit7", "segv", "stdin_echo", "multi_tu", "no_newline",
          "ctors", "setjmp_lj")
# (uname() itself is not among the static AArch64 executor's symbols: no libc to dlopen)
MACHINE = r"""
#include <stdio.h>
int main(void) {
#ifdef __aarch64__
    const char *built = "aarch64";
#else
    const char *built = "other";
#endif
    printf("built for %s, long %zu\n", built, sizeof(long));
    return 0;
}
"""


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ssh_device.Device]:
    qemu_aarch64()
    executor("aarch64-musl-static")
    with ssh_device.device(tmp_path_factory.mktemp("sshdev-a64"), "aarch64") as dev:
        old = os.environ.get("CROSSJIT_SSH_CONFIG")
        os.environ["CROSSJIT_SSH_CONFIG"] = str(dev.config)
        try:
            yield dev
        finally:
            if old is None:
                os.environ.pop("CROSSJIT_SSH_CONFIG", None)
            else:
                os.environ["CROSSJIT_SSH_CONFIG"] = old


def test_device_is_probed_as_aarch64_and_gets_the_aarch64_executor(
        device: ssh_device.Device, tmp_path: Path) -> None:
    assert device.run("uname -m").strip() == "aarch64"
    src = tmp_path / "machine.c"
    src.write_text(MACHINE)
    events = tmp_path / "events.jsonl"
    p = subprocess.run([sys.executable, "-m", "crossjit", "jit", "-e", SPEC, str(src)],
                       capture_output=True, text=True, timeout=300, cwd=REPO, check=False,
                       env=dict(os.environ, CROSSJIT_EVENTS=str(events)))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "built for aarch64, long 8\n"
    sent = [json.loads(line) for line in events.read_text().splitlines()]
    builds = {e["build"] for e in sent if e["event"] in ("executor-uploaded", "executor-cached")}
    assert builds == {"crossjit-executor-aarch64-musl-static"}, sent


@pytest.mark.parametrize("case", [c for c in CASES if c.name in SUBSET], ids=str)
def test_corpus_matches_the_local_aarch64_executor(case: Case, device: ssh_device.Device
                                                   ) -> None:
    local, triple = aarch64_env.spec("cj-musl")
    there = crossjit_run(crossjit_cmd(case, SPEC, 0, False), case.stdin, timeout=300)
    here = crossjit_run([sys.executable, "-m", "crossjit", "jit", "-e", local, "--target",
                         triple, *map(str, case.paths()), "--", *case.args], case.stdin,
                        timeout=300)
    err = there.stderr.decode(errors="replace")
    assert (there.status, there.stdout) == (here.status, here.stdout), err
    for needle in case.expect_stderr:
        assert needle in err


def test_fleet_of_the_device_and_the_local_aarch64_executor_agrees(
        device: ssh_device.Device, tmp_path: Path) -> None:
    src = tmp_path / "machine.c"
    src.write_text(MACHINE)
    profile = tmp_path / "cjfleet-a64.yaml"
    profile.write_text(f"name: cjfleet-a64\nsources: [{src}]\n")
    p = subprocess.run([sys.executable, "-m", "crossjit", "run", str(profile), "--compare",
                        "--json", "--on", f"local:aarch64-linux-musl,dev={SPEC}"],
                       capture_output=True, text=True, timeout=300, cwd=REPO, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    objs = [json.loads(line) for line in p.stdout.splitlines()]
    results = {o["target"]: o for o in objs if "status" in o and "stream" not in o}
    assert {n: (r["triple"], r["status"], r["agrees"]) for n, r in results.items()} == {
        "aarch64-linux-musl": ("aarch64-linux-musl", 0, True),
        "dev": ("aarch64-linux-musl", 0, True)}
    assert [o["text"] for o in objs if o.get("target") == "dev" and o.get("stream") ==
            "stdout"] == ["built for aarch64, long 8"]


def test_nothing_is_left_running_on_the_device(device: ssh_device.Device) -> None:
    assert not device.wait_no_processes(), device.processes()
    assert not device.listening_tcp_udp() - {f"{device.address}:22"}

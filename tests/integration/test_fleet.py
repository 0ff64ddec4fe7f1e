"""Fleets (``crossjit run PROFILE --on ...`` / a profile's ``targets:``) on real targets.

Five targets at once: this host's glibc executor, a musl container and a debian container
of the real engine (this module's own, ``crossjit-cjfleet-*``), the SSH device of
ssh_device.py (a real sshd in a private network namespace), and AArch64 (crossjit-executor
under qemu-user). Shows: every target's output, prefixed, equal to the native build's; one
build per triple (the children compile nothing); a target-dependent output detected and
named with --compare, as JSON; a down device named while the others' results are shown;
Ctrl-C stops every target and leaves nothing running; --timeout stops a fleet.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration import containers_env, ssh_device
from tests.integration.corpus import CORPUS, REPO
from tests.integration.test_executor_support import executor, qemu_aarch64
from tests.prereq import require_tool

pytestmark = pytest.mark.integration

MUSL, DEBIAN = "cjfleet-musl", "cjfleet-debian"  # this module's containers: crossjit-NAME
TRIPLES = {"glibc": "x86_64-linux-gnu", "musl": "x86_64-linux-musl",
           "debian": "x86_64-linux-gnu", "device": "x86_64-linux-gnu",
           "arm64": "aarch64-linux-musl"}
ON = ["glibc=local", f"musl=docker:{MUSL}", f"debian=docker:{DEBIAN}",
      f"device=ssh:{ssh_device.ALIAS}", "arm64=local:aarch64-linux-musl"]

LIBC = r"""
#include <stdio.h>
int main(int argc, char **argv) {
#ifdef __GLIBC__
    printf("libc: glibc\n");
#else
    printf("libc: musl\n");
#endif
    printf("args: %d %s\n", argc - 1, argc > 1 ? argv[1] : "-");
    return 0;
}
"""
SLEEPER = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("ready\n"); fflush(stdout); sleep(120); return 0; }
"""


@dataclass
class Env:
    tmp: Path
    device: ssh_device.Device
    container_profiles: tuple[Path, ...] = ()

    def ensure_containers(self) -> None:
        """Up again if something removed them (`crossjit clean` run elsewhere on this
        engine removes every crossjit container)."""
        for p in self.container_profiles:
            info = containers_env.engine().get(f"crossjit-{p.stem}")
            if info is None or info.status != "running":
                up = _cli("executor", "up", "--profile", str(p))
                assert up.returncode == 0, up.stderr

    def profile(self, name: str, source: Path, extra: str = "") -> Path:
        p = self.tmp / f"{name}.yaml"
        p.write_text(f"name: {name}\nsources: [{source}]\n{extra}")
        return p

    def source(self, name: str, text: str) -> Path:
        p = self.tmp / name
        p.write_text(text)
        return p


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crossjit", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def fleet_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    require_tool("clang-16")
    qemu_aarch64()
    for variant in ("glibc", "musl", "aarch64-musl-static"):
        executor(variant)
    containers_env.engine()
    containers_env.musl_sysroot()  # the musl container's loader comes from it
    tmp = tmp_path_factory.mktemp("fleet")
    box = tmp / "containers"
    box.mkdir()
    (box / "x.c").write_text("int main(void) { return 0; }\n")
    made = []
    try:
        for name, variant in ((MUSL, "musl"), (DEBIAN, "debian")):
            p = box / f"{name}.yaml"
            p.write_text(f"name: {name}\nexecutor: {variant}\nsources: [x.c]\n")
            up = _cli("executor", "up", "--profile", str(p))
            assert up.returncode == 0, up.stderr
            made.append(p)
        with ssh_device.device(tmp_path_factory.mktemp("fleetdev")) as dev:
            old = os.environ.get("CROSSJIT_SSH_CONFIG")
            os.environ["CROSSJIT_SSH_CONFIG"] = str(dev.config)
            try:
                yield Env(tmp, dev, tuple(made))
            finally:
                if old is None:
                    os.environ.pop("CROSSJIT_SSH_CONFIG", None)
                else:
                    os.environ["CROSSJIT_SSH_CONFIG"] = old
    finally:
        for p in made:
            _cli("executor", "down", "--profile", str(p), timeout=120)


@pytest.fixture
def fleet(fleet_env: Env) -> Env:
    fleet_env.ensure_containers()
    return fleet_env


def prefixed(text: str) -> dict[str, list[str]]:
    """``[name] line`` lines → name → lines (the table's lines have no brackets)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("[") and "] " in line:
            name, _, rest = line[1:].partition("] ")
            out.setdefault(name, []).append(rest)
    return out


def table(stdout: str) -> dict[str, list[str]]:
    """The summary table's rows: target → [triple, status...]."""
    lines = stdout.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.split()[:3] == ["target", "triple",
                                                                     "status"])
    rows = {}
    for ln in lines[head + 1:]:
        if ln.startswith("fleet: "):
            break
        cols = ln.split()
        rows[cols[0]] = cols[1:]
    return rows


def native_stdout(source: Path, tmp: Path) -> list[str]:
    exe = tmp / source.stem
    subprocess.run(["clang-16", "-O0", str(source), "-o", str(exe), "-lm"], check=True,
                   timeout=120)
    return subprocess.run([str(exe)], capture_output=True, text=True, timeout=60,
                          check=True).stdout.splitlines()


def test_one_corpus_program_on_five_targets(fleet: Env) -> None:
    src = CORPUS / "qsort_cb.c"
    targets = "".join(f"  - {{name: {n}, executor: '{s}'}}\n"
                      for n, _, s in (o.partition("=") for o in ON))
    profile = fleet.profile("cjfleet-qsort", src, "targets:\n" + targets)
    started = time.monotonic()
    p = _cli("run", str(profile))  # the profile's `targets:`: no --on needed
    wall = time.monotonic() - started
    assert p.returncode == 0, p.stdout + p.stderr
    want = native_stdout(src, fleet.tmp)
    assert want  # the program prints something to compare
    got = prefixed(p.stdout)
    assert set(got) == set(TRIPLES), p.stdout
    for name, lines in got.items():
        assert lines == want, (name, p.stdout, p.stderr)
    rows = table(p.stdout)
    assert {n: r[0] for n, r in rows.items()} == TRIPLES
    assert all(r[1:3] == ["exit", "0"] for r in rows.values()), rows
    assert "fleet: 5 targets in" in p.stdout
    assert wall < 120


def test_compare_json_names_the_disagreeing_and_the_down_target(fleet: Env) -> None:
    profile = fleet.profile("cjfleet-libc", fleet.source("libc.c", LIBC))
    # Port 2 of the device's own (private) address: nothing listens, ssh is refused.
    on = [*ON, f"down=ssh:{ssh_device.ALIAS}:2"]
    p = _cli("run", str(profile), "--on", ",".join(on[:3]), *(a for o in on[3:]
                                                               for a in ("--on", o)),
             "--json", "--compare", "--", "hello")
    assert p.returncode == 1, p.stdout + p.stderr
    objs = [json.loads(line) for line in p.stdout.splitlines()]  # every line is JSON
    lines = [o for o in objs if "stream" in o]
    results = {o["target"]: o for o in objs if "status" in o and "stream" not in o}
    summary = objs[-1]["fleet"]
    assert set(results) == {*TRIPLES, "down"}
    for name, triple in TRIPLES.items():
        r = results[name]
        assert (r["status"], r["error"], r["triple"]) == (0, None, triple), r
        assert (r["compiled"], r["generated"]) == (0, 0), r  # the fleet's build, reused
        libc = "musl" if "musl" in triple else "glibc"
        out = [o["text"] for o in lines if o["target"] == name and o["stream"] == "stdout"]
        assert out == [f"libc: {libc}", "args: 1 hello"], (name, out)
    down = results["down"]
    assert down["status"] is None and "Connection refused" in down["error"], down
    assert summary["failed"] == ["down"]
    assert summary["reference"] in ("glibc", "debian", "device")  # the glibc majority
    assert sorted(summary["disagreed"]) == ["arm64", "musl"]
    assert results["musl"]["agrees"] is False and results["device"]["agrees"] is True
    assert "-libc: glibc\n+libc: musl\n" in results["musl"]["diff"]
    err = p.stderr
    assert "failed on down" in err and "disagreed with" in err, err
    assert "musl" in err and "arm64" in err, err


def test_ctrl_c_stops_every_target(fleet: Env) -> None:
    profile = fleet.profile("cjfleet-sleep", fleet.source("sleep.c", SLEEPER))
    names = ("glibc", "musl", "device")
    proc = subprocess.Popen(
        [sys.executable, "-m", "crossjit", "run", str(profile), "--on",
         ",".join(o for o in ON if o.split("=")[0] in names)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    ready: set[str] = set()
    deadline = time.monotonic() + 120
    while ready != set(names):
        assert time.monotonic() < deadline, ready
        line = proc.stdout.readline().decode()
        assert line, proc.stderr.read() if proc.stderr else ""
        if line.endswith("] ready\n"):
            ready.add(line[1:].split("]")[0])
    assert fleet.device.processes()  # the device runs the executor now
    assert _sleeping_executors(MUSL), "no executor in the container runs the program"
    proc.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C sends crossjit
    status = proc.wait(30)
    assert status == 130, proc.stderr.read() if proc.stderr else ""
    assert not fleet.device.wait_no_processes(), "the device still runs something"
    deadline = time.monotonic() + 10
    while (left := _sleeping_executors(MUSL)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, "the container still runs the fleet's program"
    assert not _processes_mentioning(str(profile)), "a target's crossjit is still running"


@pytest.mark.parametrize("fork", ["1", "0"], ids=["forked", "spawned"])
def test_timeout_stops_a_fleet_and_names_the_targets(fleet: Env, fork: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # CROSSJIT_FLEET_FORK=0: children are fresh `python -m crossjit` processes instead
    monkeypatch.setenv("CROSSJIT_FLEET_FORK", fork)
    profile = fleet.profile(f"cjfleet-slow{fork}", fleet.source("slow.c", SLEEPER))
    started = time.monotonic()
    p = _cli("run", str(profile), "--on", "local,local:x86_64-linux-musl", "--timeout", "3",
             timeout=60)
    assert time.monotonic() - started < 30
    assert p.returncode == 1, p.stdout + p.stderr
    assert prefixed(p.stdout) == {"local": ["ready"], "x86_64-linux-musl": ["ready"]}
    assert "failed on local, x86_64-linux-musl" in p.stderr, p.stderr
    assert "timed out after 3 s" in p.stderr, p.stderr
    assert not _processes_mentioning(str(profile))


NANOSLEEP = {"35", "230"}  # x86-64 nanosleep, clock_nanosleep: what sleep() waits in


def _sleeping_executors(name: str) -> list[int]:
    """Executors in the container (host pids, from `docker top`) that are in sleep():
    the ones running SLEEPER — an idle session's executor (a daemon keeps a spare one
    there) waits for frames in a read instead."""
    top = subprocess.run(["docker", "top", f"crossjit-{name}", "-o", "pid,args"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    found = []
    for line in top.splitlines()[1:]:
        pid, _, args = line.strip().partition(" ")
        if "crossjit-executor" not in args:
            continue
        calls = set()
        for task in Path(f"/proc/{pid}/task").glob("*"):  # main() runs on a thread of its own
            with contextlib.suppress(OSError, IndexError):
                calls.add((task / "syscall").read_text().split()[0])
        if calls & NANOSLEEP:
            found.append(int(pid))
    return found


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found

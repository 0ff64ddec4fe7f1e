"""A fleet run against each of its targets run alone, in the same session.

    sudo python -m bench.fleet [--rounds N] [--program tests/corpus/qsort_cb.c]

Five targets, as tests/integration/test_fleet.py: this host's glibc executor, a musl and
a debian container (``crossjit-cjbench-*``, started here and removed at the end), the
SSH device of tests/integration/ssh_device.py (a real sshd in a private network
namespace: needs root) and AArch64 (crossjit-executor under qemu-user). Caches are warmed
by one fleet run first (objects built, the executor uploaded to the device, its probe
remembered). Then every round runs the fleet once and every target alone once
(``crossjit run PROFILE -e SPEC --target TRIPLE``: what the fleet's children run),
interleaved so that load from other work hits all alike; medians are reported with the
ratio fleet / slowest single target (goal ≤ 1.5; also per round, against that round's
slowest) and the load average before and after.
All runs are cold starts (``CROSSJIT_DAEMON=0``), as a first command of the day would be.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from crossjit.project.plan import local_executor_for
from tests.integration import ssh_device

REPO = Path(__file__).resolve().parent.parent
MUSL, DEBIAN = "cjbench-musl", "cjbench-debian"
TARGETS = (("glibc", "local", "x86_64-linux-gnu"),
           ("musl", f"docker:{MUSL}", "x86_64-linux-musl"),
           ("debian", f"docker:{DEBIAN}", "x86_64-linux-gnu"),
           ("device", f"ssh:{ssh_device.ALIAS}", "x86_64-linux-gnu"),
           ("arm64", "local:aarch64-linux-musl", "aarch64-linux-musl"))


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "crossjit", *args]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=600, check=False)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{cmd} exited {done.returncode}: {done.stderr.decode()[-3000:]}")
    return elapsed


def single(profile: Path, spec: str, triple: str) -> list[str]:
    if spec.startswith("local"):
        spec = local_executor_for(triple) or "spawn"
    return cli("run", str(profile), "-e", spec, "--target", triple)


def main() -> int:
    ap = argparse.ArgumentParser(description="fleet wall time vs single targets")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--program", type=Path, default=REPO / "tests/corpus/qsort_cb.c")
    opts = ap.parse_args()
    env = dict(os.environ, CROSSJIT_DAEMON="0", PYTHONPATH=str(REPO))
    with tempfile.TemporaryDirectory(prefix="crossjit-bench-fleet-") as tmp:
        work = Path(tmp)
        (work / "x.c").write_text("int main(void) { return 0; }\n")
        made = []
        try:
            for name, variant in ((MUSL, "musl"), (DEBIAN, "debian")):
                p = work / f"{name}.yaml"
                p.write_text(f"name: {name}\nexecutor: {variant}\nsources: [x.c]\n")
                subprocess.run(cli("executor", "up", "--profile", str(p)), env=env,
                               check=True, capture_output=True, timeout=900)
                made.append(p)
            devdir = work / "device"
            devdir.mkdir()
            with ssh_device.device(devdir) as dev:
                env["CROSSJIT_SSH_CONFIG"] = str(dev.config)
                return _measure(work, opts, env)
        finally:
            for p in made:
                subprocess.run(cli("executor", "down", "--profile", str(p)), env=env,
                               capture_output=True, timeout=120, check=False)


def _measure(work: Path, opts: argparse.Namespace, env: dict[str, str]) -> int:
    profile = work / "cjbench-fleet.yaml"
    profile.write_text(f"name: cjbench-fleet\nsources: [{opts.program.resolve()}]\n")
    on = ",".join(f"{n}={s}" for n, s, _ in TARGETS)
    fleet_cmd = cli("run", str(profile), "--on", on)
    cmds = {"fleet (5 targets)": fleet_cmd,
            **{n: single(profile, s, t) for n, s, t in TARGETS}}
    timed(fleet_cmd, env)  # warm: objects, the device's executor and probe
    load0 = os.getloadavg()
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(opts.rounds):
        for k, cmd in cmds.items():
            times[k].append(timed(cmd, env))
    load1 = os.getloadavg()
    med = {k: statistics.median(v) for k, v in times.items()}
    slowest = max((k for k in med if not k.startswith("fleet")), key=lambda k: med[k])
    print(f"program: {opts.program.name}; {opts.rounds} rounds; cold starts "
          f"(CROSSJIT_DAEMON=0); load average {load0[0]:.2f} → {load1[0]:.2f} "
          f"(nproc {os.cpu_count()})")
    print("| run | median wall | min | max |\n| --- | --- | --- | --- |")
    for k, v in times.items():
        print(f"| {k} | {med[k]:.2f} s | {min(v):.2f} s | {max(v):.2f} s |")
    ratio = med["fleet (5 targets)"] / med[slowest]
    print(f"ratio fleet / slowest single ({slowest}): {ratio:.2f} (goal ≤ 1.5)")
    per_round = [times["fleet (5 targets)"][i] / max(times[n][i] for n, _, _ in TARGETS)
                 for i in range(opts.rounds)]
    print(f"per round, fleet / that round's slowest single: median "
          f"{statistics.median(per_round):.2f}, min {min(per_round):.2f}, "
          f"max {max(per_round):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Start-up: each command cold (no daemon) and warm (a daemon running), side by side.

    python -m bench.startup [--rounds N]

Commands: `--help`, `profile check profiles/mongoose.yaml` (its validation cached),
`jit` of a hello program whose objects are cached, `build profiles/mongoose.yaml` with
nothing to do, and the Mongoose link + run against `llvm-jitlink-16` (bench/mongoose_link.py's
objects and rounds: start → first HTTP 200). Floors for reference: `python -c pass` and
`python -c "import typer"`. Every round runs every (command, mode) once, interleaved, so
load from other work on the machine hits all alike; medians are reported, and the load
average before and after.

Commands are started as a user starts them: the `crossjit` console script next to this
Python (or `python -m crossjit`), with CROSSJIT_DAEMON=0 for cold, and for warm a daemon
of its own (private socket, `crossjit daemon start`, stopped at the end).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.mongoose_link import EXECUTOR, LLVM16, build_objects, daemon_child, free_port, one_round

REPO = Path(__file__).resolve().parent.parent


def crossjit_cmd() -> list[str]:
    script = Path(sys.executable).parent / "crossjit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "crossjit"]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    elapsed = time.perf_counter() - t0
    if done.returncode not in (0, 3):  # hello exits with its argument count
        raise RuntimeError(f"{cmd} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description="crossjit start-up, cold and warm")
    ap.add_argument("--rounds", type=int, default=15)
    opts = ap.parse_args()
    if not EXECUTOR.exists():
        print(f"needs {EXECUTOR} (apt-get install llvm-16)", file=sys.stderr)
        return 2
    cj = crossjit_cmd()
    exe = f"spawn:{EXECUTOR}"
    with tempfile.TemporaryDirectory(prefix="crossjit-startup-") as tmp:
        work = Path(tmp)
        sock = work / "daemon" / "daemon.sock"
        cold = {**os.environ, "CROSSJIT_DAEMON": "0"}
        warm = {**os.environ, "CROSSJIT_DAEMON_SOCKET": str(sock), "CROSSJIT_DAEMON": "1"}
        for env in (cold, warm):
            env.pop("CROSSJIT_NO_DAEMON", None)
        hello = work / "hello.c"
        hello.write_text((REPO / "examples" / "hello" / "hello.c").read_text())
        commands: dict[str, list[str]] = {
            "crossjit --help": [*cj, "--help"],
            "crossjit profile check profiles/mongoose.yaml":
                [*cj, "profile", "check", "profiles/mongoose.yaml"],
            "crossjit jit hello.c (objects cached)": [*cj, "jit", "-e", exe, str(hello), "--",
                                                      "a", "b", "c"],
            "crossjit build profiles/mongoose.yaml (no-op)":
                [*cj, "build", "profiles/mongoose.yaml"],
        }
        floors = {"python -c pass": [sys.executable, "-c", "pass"],
                  'python -c "import typer"': [sys.executable, "-c", "import typer"]}
        objs = [str(o) for o in build_objects(work)]
        root = work / "www"
        root.mkdir()
        (root / "index.txt").write_text("hello\n")
        jit = [*cj, "jit", "--executor", exe, *objs, "--"]
        llvm = [str(LLVM16 / "llvm-jitlink"), f"--oop-executor={EXECUTOR}", *objs, "-args",
                "mongoose"]
        for cmd in commands.values():  # fill the caches (objects, profile, compiler id)
            timed(cmd, cold)
        subprocess.run([*cj, "daemon", "start"], env=warm, check=True,
                       stdout=subprocess.DEVNULL)
        link: dict[str, tuple[list[str], dict[str, str] | None,
                              Callable[[int], int] | None]] = {
            "cold": (jit, cold, None),
            "warm": (jit, warm, lambda _pid: daemon_child(sock)),
            "llvm": (llvm, None, None),
        }
        times: dict[tuple[str, str], list[float]] = {}
        load_before = os.getloadavg()
        try:
            for cmd, link_env, pid_of in link.values():  # a warm-up round, not recorded
                one_round(cmd, free_port(), root, link_env, pid_of)
            for _ in range(opts.rounds):
                for name, cmd in floors.items():
                    times.setdefault((name, "floor"), []).append(timed(cmd, cold))
                for name, cmd in commands.items():
                    for mode, mode_env in (("cold", cold), ("warm", warm)):
                        times.setdefault((name, mode), []).append(timed(cmd, mode_env))
                for mode, (cmd, link_env, pid_of) in link.items():
                    sample = one_round(cmd, free_port(), root, link_env, pid_of)
                    times.setdefault(("mongoose", mode), []).append(sample.seconds)
        finally:
            subprocess.run([*cj, "daemon", "stop"], env=warm, check=False,
                           stdout=subprocess.DEVNULL)
        load_after = os.getloadavg()

    def med(key: tuple[str, str]) -> float:
        return statistics.median(times[key]) * 1000

    print(f"median of {opts.rounds} interleaved rounds, {os.cpu_count()} cores, "
          f"load average {load_before[0]:.1f} before / {load_after[0]:.1f} after\n")
    print("| command | cold (no daemon) | warm (daemon) |")
    print("| --- | --- | --- |")
    for name in floors:
        print(f"| `{name}` (floor) | {med((name, 'floor')):.0f} ms | — |")
    for name in commands:
        print(f"| `{name}` | {med((name, 'cold')):.0f} ms | {med((name, 'warm')):.0f} ms |")
    llvm_ms = med(("mongoose", "llvm"))
    print(f"| Mongoose link + run → first HTTP 200 | {med(('mongoose', 'cold')):.0f} ms | "
          f"{med(('mongoose', 'warm')):.0f} ms |")
    print(f"| `llvm-jitlink-16` (the same objects and executor) | {llvm_ms:.0f} ms | — |")
    print(f"| **ratio crossjit / llvm-jitlink-16** | "
          f"**{med(('mongoose', 'cold')) / llvm_ms:.2f}×** | "
          f"**{med(('mongoose', 'warm')) / llvm_ms:.2f}×** |")
    typer_ms = med(('python -c "import typer"', "floor"))
    print(f"\n--help cold − import typer: {med(('crossjit --help', 'cold')) - typer_ms:+.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

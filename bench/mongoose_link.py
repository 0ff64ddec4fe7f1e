"""Link + run the Mongoose objects: crossjit vs LLVM 16's llvm-jitlink, side by side.

    python -m bench.mongoose_link [--rounds N] [--arch aarch64]

Both controllers get the same objects (clang-16 -c -fPIC -O0 -g of Mongoose 7.23 and
examples/mongoose/main.c) and the same executor (Debian's LLVM 16 llvm-jitlink-executor,
spawned over a socketpair / pipes). Measured per round: wall time from starting the host
tool to the first HTTP 200 from the JIT'd server, and the host tool's peak RSS (VmHWM).
Prints medians and ratios (crossjit / LLVM).

``--arch aarch64``: the objects are built for aarch64-linux-gnu against the arm64 root
(scripts/arm64-root) and the executor is Debian's *arm64* LLVM 16 executor under
qemu-aarch64-static -L ROOT, for both tools (llvm-jitlink-16 runs it through a two-line
wrapper script, as its --oop-executor takes a path).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.mongoose import mongoose_dir

REPO = Path(__file__).resolve().parent.parent
LLVM16 = Path("/usr/lib/llvm-16/bin")
EXECUTOR = LLVM16 / "llvm-jitlink-executor"


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_rss_kib: int


def build_objects(work: Path, target: list[str] | None = None) -> list[Path]:
    src = mongoose_dir()
    objs = []
    for c in (src / "mongoose.c", REPO / "examples" / "mongoose" / "main.c"):
        out = work / (c.stem + ".o")
        subprocess.run(["clang-16", *(target or []), "-c", "-fPIC", "-O0", "-g", f"-I{src}",
                        str(c), "-o", str(out)], check=True)
        objs.append(out)
    return objs


def aarch64_executor(work: Path) -> tuple[list[str], str, Path]:
    """(clang target flags, crossjit's spawn spec, a wrapper script for llvm-jitlink) for
    the arm64 LLVM 16 executor under qemu."""
    import shlex
    import shutil

    from crossjit.project.plan import arm64_root

    root = arm64_root()
    exe = root / "usr/lib/llvm-16/bin/llvm-jitlink-executor"
    qemu = shutil.which("qemu-aarch64-static")
    if not exe.exists() or qemu is None:
        raise SystemExit(f"needs {exe} (scripts/arm64-root) and qemu-aarch64-static")
    wrapper = work / "llvm-jitlink-executor-aarch64"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.join([qemu, "-L", str(root), str(exe)])} "$@"\n')
    wrapper.chmod(0o755)
    spec = "spawn:" + shlex.join([qemu, "-L", str(root), str(exe)])
    return ["--target=aarch64-linux-gnu", f"--sysroot={root}"], spec, wrapper


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def daemon_child(sock: Path) -> int:
    """The pid of the daemon child that runs the newest command (from the daemon's log)."""
    for line in reversed(sock.with_suffix(".log").read_text().splitlines()):
        if line.startswith("crossjit daemon: child "):
            return int(line.split()[3].rstrip(":"))
    raise RuntimeError("the daemon ran no command")


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def http_get(url: str, timeout: float = 1.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        r.read()
        return int(r.status)


def one_round(cmd: list[str], port: int, root: Path, env: dict[str, str] | None = None,
              host_pid: Callable[[int], int] | None = None) -> Sample:
    """``host_pid`` maps the started process to the one holding the host-side state (the
    daemon's child for a command handed to the daemon)."""
    args = [f"http://127.0.0.1:{port}", str(root)]
    t0 = time.perf_counter()
    proc = subprocess.Popen([*cmd, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env)
    deadline = t0 + 60
    try:
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"{cmd[0]} exited {proc.returncode}: {err}")
            try:
                if http_get(f"http://127.0.0.1:{port}/api/hello", 0.5) == 200:
                    break
            except OSError:
                pass
            if time.perf_counter() > deadline:
                raise RuntimeError(f"no HTTP 200 from {cmd[0]} within 60 s")
            time.sleep(0.002)
        elapsed = time.perf_counter() - t0
        rss = peak_rss_kib(host_pid(proc.pid) if host_pid else proc.pid)
        http_get(f"http://127.0.0.1:{port}/api/stop")
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Sample(elapsed, rss)


# The executor is spawned before the CLI's imports (launcher) and boots meanwhile; the
# build and the link plan run before its Setup is read, when this executor's triple is
# known from last time (run/known.py): "connected" ends after both.
PHASES = (("start", "Python start-up + imports"),
          ("connected", "rest of executor boot + Setup (build, link plan overlap it)"),
          ("built", "inputs (object cache)"), ("linked", "lookups + reserve + link"),
          ("loaded", "transfer + finalize"))


def breakdown(cmd: list[str], port: int, root: Path,
              env: dict[str, str]) -> list[tuple[str, float]]:
    """One more crossjit round with CROSSJIT_TIMINGS: where its time to first 200 goes."""
    with tempfile.NamedTemporaryFile(suffix=".json") as marks_file:
        t0 = time.time()
        sample = one_round(cmd, port, root, {**env, "CROSSJIT_TIMINGS": marks_file.name})
        marks: dict[str, float] = json.loads(Path(marks_file.name).read_text())["marks"]
    rows, prev = [], t0
    for key, label in PHASES:
        rows.append((label, marks[key] - prev))
        prev = marks[key]
    rows.append(("run main + first HTTP 200", t0 + sample.seconds - prev))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description="Mongoose link+run: crossjit vs llvm-jitlink-16")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--arch", choices=("x86_64", "aarch64"), default="x86_64")
    opts = ap.parse_args()
    if not EXECUTOR.exists():
        print(f"needs {EXECUTOR} (apt-get install llvm-16)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="crossjit-bench-") as tmp:
        work = Path(tmp)
        target: list[str] = []
        spec, oop = f"spawn:{EXECUTOR}", EXECUTOR
        if opts.arch == "aarch64":
            target, spec, oop = aarch64_executor(work)
        objs = [str(o) for o in build_objects(work, target)]
        root = work / "www"
        root.mkdir()
        (root / "index.txt").write_text("hello\n")
        jit = [sys.executable, "-m", "crossjit", "jit", "--executor", spec, *objs, "--"]
        plain = {**os.environ, "CROSSJIT_NO_DAEMON": "1"}
        sock = work / "daemon" / "daemon.sock"
        warm = {**os.environ, "CROSSJIT_DAEMON_SOCKET": str(sock)}
        warm.pop("CROSSJIT_NO_DAEMON", None)
        subprocess.run([*jit[:3], "daemon", "start"], env=warm, check=True,
                       stdout=subprocess.DEVNULL)
        tools: dict[str, tuple[list[str], dict[str, str] | None, Callable[[int], int] | None]]
        tools = {
            "crossjit": (jit, plain, None),
            "crossjit (daemon)": (jit, warm, lambda _pid: daemon_child(sock)),
            "llvm-jitlink-16": ([str(LLVM16 / "llvm-jitlink"), f"--oop-executor={oop}",
                                 *objs, "-args", "mongoose"], None, None),  # -args: argv[0] too
        }
        samples: dict[str, list[Sample]] = {k: [] for k in tools}
        try:
            for _ in range(opts.rounds):
                for name, (cmd, env, pid_of) in tools.items():  # interleaved: drift hits all
                    samples[name].append(one_round(cmd, free_port(), root, env, pid_of))
            rows = breakdown(jit, free_port(), root, plain)
        finally:
            subprocess.run([*jit[:3], "daemon", "stop"], env=warm, check=False,
                           stdout=subprocess.DEVNULL)
    print(f"Mongoose ({opts.arch}) link+run to first HTTP 200, {opts.rounds} rounds "
          f"({os.cpu_count()} cores, Python {sys.version.split()[0]})")
    print(f"{'tool':<20}{'median s':>10}{'min s':>10}{'peak RSS MiB':>14}")
    med: dict[str, tuple[float, float]] = {}
    for name, ss in samples.items():
        t = statistics.median(s.seconds for s in ss)
        m = statistics.median(s.peak_rss_kib for s in ss) / 1024
        med[name] = (t, m)
        print(f"{name:<20}{t:>10.3f}{min(s.seconds for s in ss):>10.3f}{m:>14.1f}")
    (lt, lm) = med["llvm-jitlink-16"]
    for name in ("crossjit", "crossjit (daemon)"):
        ct, cm = med[name]
        print(f"ratio {name}/llvm: time {ct / lt:.2f}x, peak memory {cm / lm:.2f}x")
    print("crossjit breakdown (one extra round):")
    for label, secs in rows:
        print(f"  {label:<62}{secs * 1000:>8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

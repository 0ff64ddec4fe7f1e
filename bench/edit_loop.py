"""Edit → serving: time from changing main.c until the *new* JSON reply is served.

    python -m bench.edit_loop [--rounds N] [--arch aarch64] [--crossjit "CMD ..."]

Mongoose 7.23 (mongoose.c, its object cached by every flow) + a copy of
examples/mongoose/main.c whose /api/hello reply is changed to a fresh token each round.
Five flows, interleaved round by round so machine drift hits them alike:

  (a) crossjit   edit → `crossjit run PROFILE` (a temporary profile pointing at the copy;
                 its musl executor container was started once by `executor up`, and a
                 warm build filled the caches) → poll until the token is served.
  (a'') daemon   the same one-shot `crossjit run` (own copy and port, same container) with
                 a crossjit daemon running (private socket): the launcher hands it over, the
                 forked child takes the daemon's spare session. (a) runs with
                 CROSSJIT_DAEMON=0, so no daemon is used or started there.
  (a') --watch   one resident `crossjit run PROFILE --watch` (started once, warm, in the
                 same container, its own copy and port); edit → poll until served. Its
                 breakdown comes from the watcher's "reloaded in" line.
  (b) seeds      edit → clang-16 -c main.c → `llvm-jitlink-16 --oop-executor=…` with
                 mongoose.o + main.o, on this host (glibc), LLVM 16's own executor.
  (c) static     edit → musl-gcc -static main.c mongoose.o → `docker cp` into a running
                 container of the same FROM-scratch musl image (not read-only, unlike the
                 executor's) → `docker exec` the new binary (the old one was stopped).

``--arch aarch64``: the same for profiles/mongoose-aarch64.yaml (its arm64 container, every
AArch64 process under qemu-aarch64-static): (b) compiles with clang-16
--target=aarch64-linux-gnu against the arm64 root and runs Debian's arm64 LLVM 16 executor
under qemu (bench/mongoose_link.py's wrapper); (c) links statically with `zig cc -target
aarch64-linux-musl` (the ziglang wheel: the musl cross toolchain at hand) and runs the
binary with the image's qemu-aarch64-static.

Every flow compiles at -O1 like profiles/mongoose.yaml, and is stopped between rounds
with GET /api/stop (outside the measurement) — except (a'), whose old server is running
when the edit lands, as in real use. Prints medians, ratios and the breakdown
of each flow; (a)'s comes from CROSSJIT_TIMINGS (crossjit/session.py's phase marks).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.mongoose import EXAMPLE_MAIN, mongoose_dir

REPO = Path(__file__).resolve().parent.parent
PROFILE = REPO / "profiles" / "mongoose.yaml"
PROFILE_AARCH64 = REPO / "profiles" / "mongoose-aarch64.yaml"
WWW = REPO / "examples" / "mongoose" / "www"
LLVM16 = Path("/usr/lib/llvm-16/bin")
ORIGINAL_REPLY = 'MG_ESC("hello from crossjit")'
BENCH_NAME = "mongoose-edit-bench"  # → container crossjit-mongoose-edit-bench
STATIC_CONTAINER = "crossjit-edit-bench-static"
BENCH_NAME_AARCH64 = "mongoose-a64-edit-bench"  # its own containers: both may run at once
STATIC_CONTAINER_AARCH64 = "crossjit-a64-edit-bench-static"
SERVE_DEADLINE = 60.0
OPT = "-O1"


@dataclass(frozen=True)
class Arch:
    """What differs between the x86-64 and the AArch64 edit loop."""

    profile: Path
    bench_name: str
    static_container: str
    seeds_cc: tuple[str, ...] = ()  # clang-16 target flags of (b)
    oop_executor: Path = LLVM16 / "llvm-jitlink-executor"
    static_cc: tuple[str, ...] = ("musl-gcc",)
    static_run: tuple[str, ...] = ()  # what runs (c)'s binary in its container


X86_64 = Arch(PROFILE, BENCH_NAME, STATIC_CONTAINER)


def aarch64(work: Path) -> Arch:
    from bench.mongoose_link import aarch64_executor

    target, _, wrapper = aarch64_executor(work)
    return Arch(PROFILE_AARCH64, BENCH_NAME_AARCH64, STATIC_CONTAINER_AARCH64,
                seeds_cc=tuple(target), oop_executor=wrapper,
                static_cc=(sys.executable, "-m", "ziglang", "cc", "-target",
                           "aarch64-linux-musl"),
                static_run=("/usr/bin/qemu-aarch64-static",))


@dataclass
class Sample:
    total: float
    phases: dict[str, float] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} exited {done.returncode}:\n{done.stderr}")


def edit(main_c: Path, token: str) -> None:
    """The edit under test: the JSON reply becomes ``token``."""
    text = EXAMPLE_MAIN.read_text()
    assert ORIGINAL_REPLY in text, f"{EXAMPLE_MAIN} no longer has {ORIGINAL_REPLY}"
    main_c.write_text(text.replace(ORIGINAL_REPLY, f'MG_ESC("{token}")'))


def wait_for_token(url: str, token: str, proc: subprocess.Popen[bytes]) -> float:
    """perf_counter() at the first reply that carries ``token``."""
    deadline = time.perf_counter() + SERVE_DEADLINE
    needle = token.encode()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if needle in r.read():
                    return time.perf_counter()
        except (urllib.error.URLError, OSError):
            pass  # not listening yet (or the old server is still going away)
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"{proc.args!r} exited {proc.returncode}: {err[-2000:]}")
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{token} not served on {url} within {SERVE_DEADLINE:.0f} s")
        time.sleep(0.002)


def stop(base: str, proc: subprocess.Popen[bytes]) -> None:
    try:
        with urllib.request.urlopen(base + "/api/stop", timeout=5) as r:
            r.read()
    except (urllib.error.URLError, OSError):
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Flow:
    name = ""

    def setup(self) -> None: ...

    def round(self, token: str) -> Sample:
        raise NotImplementedError

    def teardown(self) -> None: ...


class Crossjit(Flow):
    """(a): crossjit run against a running executor container, warm caches, no daemon."""

    name = "(a) crossjit run"
    start_label = "python start-up + CLI imports"
    def __init__(self, work: Path, cmd: list[str], arch: Arch = X86_64) -> None:
        self.work, self.cmd, self.arch = work, cmd, arch
        self.env = {"CROSSJIT_DAEMON": "0"}  # cold: never hand it to a daemon, nor start one
        self.main_c = work / "main.c"
        self.profile = work / "mongoose-edit-bench.yaml"
        self.timings = work / "timings.json"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    def setup(self) -> None:
        edit(self.main_c, "warm")
        doc = yaml.safe_load(self.arch.profile.read_text())
        doc["name"] = self.arch.bench_name
        doc["sources"] = ["@mongoose/mongoose.c", str(self.main_c)]
        doc["executor"]["ports"] = [self.port]
        doc["executor"]["mounts"] = [f"{WWW}:/srv/www"]
        self.profile.write_text(yaml.safe_dump(doc, sort_keys=False))
        env = {**os.environ, **self.env}
        run([*self.cmd, "executor", "up", "--profile", str(self.profile)], env)
        run([*self.cmd, "build", str(self.profile)], env)

    def round(self, token: str) -> Sample:
        edit(self.main_c, token)
        self.timings.unlink(missing_ok=True)
        env = {**os.environ, **self.env, "CROSSJIT_TIMINGS": str(self.timings)}
        env.pop("CROSSJIT_NO_DAEMON", None)
        wall0, t0 = time.time(), time.perf_counter()
        proc = subprocess.Popen(
            [*self.cmd, "run", str(self.profile), "--", self.base, "/srv/www"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
        )
        try:
            served = wait_for_token(self.base + "/api/hello", token, proc)
        finally:
            stop(self.base, proc)
        total = served - t0
        t = json.loads(self.timings.read_text())
        m = {k: v - wall0 for k, v in t["marks"].items()}
        main = next(s for s in t["steps"] if s["input"] == str(self.main_c))
        assert main["compiled"] and main["generated"], "the edited main.c was not rebuilt"
        # The session opens while the build runs (run/session.py's _overlapped) unless a
        # daemon's spare was ready: both phases count from "prepared"; the link waits for both.
        ready = max(m["built"], m["connected"])
        build = m["built"] - m["prepared"]
        phases = {
            self.start_label: m["start"],
            "profile load (cached) + fetch check": m["prepared"] - m["start"],
            "executor session (container check, docker exec + handshake, or the spare; "
            "overlaps the build)": m["connected"] - m["prepared"],
            "compile main.c (clang-16 → bitcode)": main["compile_s"],
            "codegen main.o (llvmlite)": main["codegen_s"],
            "build rest (cache lookups, mongoose.o + runtime from cache)":
                max(0.0, build - main["compile_s"] - main["codegen_s"]),
            "waiting for the session after the build": max(0.0, m["connected"] - m["built"]),
            "link (Python JIT linker, symbol lookups, reserve)": m["linked"] - ready,
            "transfer + finalize (segments over the socket)": m["loaded"] - m["linked"],
            "start → new reply served (run main, listen, first HTTP)": total - m["loaded"],
        }
        return Sample(total, phases)

    def teardown(self) -> None:
        subprocess.run([*self.cmd, "executor", "down", f"crossjit-{self.arch.bench_name}"],
                       capture_output=True, timeout=120,
                       env={**os.environ, **self.env})  # no daemon left behind


class Daemon(Crossjit):
    """(a''): the same one-shot `crossjit run`, with a crossjit daemon running (its own
    private socket); it keeps a connected spare session in the container between runs."""

    name = "(a'') crossjit run, daemon running"
    start_label = "launcher → daemon's forked child (imports warm)"

    def __init__(self, work: Path, cmd: list[str], arch: Arch = X86_64) -> None:
        (work / "daemon").mkdir()
        super().__init__(work / "daemon", cmd, arch)
        self.env = {"CROSSJIT_DAEMON": "1",
                    "CROSSJIT_DAEMON_SOCKET": str(self.work / "d" / "daemon.sock")}

    def setup(self) -> None:
        super().setup()  # the same container as (a): `executor up` finds it running
        run([*self.cmd, "daemon", "start"], {**os.environ, **self.env})

    def teardown(self) -> None:
        subprocess.run([*self.cmd, "daemon", "stop"], env={**os.environ, **self.env},
                       capture_output=True, timeout=120)


RELOAD_LINE = re.compile(r"crossjit: main\.c: reloaded in (\d+) ms \(([^)]*)\)")


class Watch(Crossjit):
    """(a'): one resident `crossjit run --watch`; each round edits and waits for the token."""

    name = "(a') crossjit run --watch"

    def __init__(self, work: Path, cmd: list[str], arch: Arch = X86_64) -> None:
        (work / "watch").mkdir()
        super().__init__(work / "watch", cmd, arch)
        self.log = self.work / "watch.stderr"
        self.proc: subprocess.Popen[bytes] | None = None

    def setup(self) -> None:
        edit(self.main_c, "warm")
        doc = yaml.safe_load(self.arch.profile.read_text())
        doc["name"] = self.arch.bench_name  # the container (a) started: --watch uses it, leaves it
        doc["sources"] = ["@mongoose/mongoose.c", str(self.main_c)]
        doc["executor"]["ports"] = [self.port]
        doc["executor"]["mounts"] = [f"{WWW}:/srv/www"]
        self.profile.write_text(yaml.safe_dump(doc, sort_keys=False))
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(
                [*self.cmd, "run", str(self.profile), "--watch", "--", self.base, "/srv/www"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                env={**os.environ, **self.env},
            )
        wait_for_token(self.base + "/api/hello", "warm", self.proc)

    def round(self, token: str) -> Sample:
        assert self.proc is not None
        mark = self.log.stat().st_size
        t0 = time.perf_counter()
        edit(self.main_c, token)
        served = wait_for_token(self.base + "/api/hello", token, self.proc)
        total = served - t0
        deadline = time.perf_counter() + SERVE_DEADLINE
        while not (m := RELOAD_LINE.search(self.log.read_bytes()[mark:].decode())):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"no reload line for {token}:\n{self.log.read_text()}")
            time.sleep(0.01)
        reload_s = int(m.group(1)) / 1000
        parts = dict(p.rsplit(" ", 1) for p in m.group(2).split(", "))
        phases = {f"{k} (reload line)": int(v) / 1000 for k, v in parts.items()}
        phases["notice the save (≤20 ms poll) + new reply served"] = total - reload_s
        return Sample(total, phases)

    def teardown(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Seeds(Flow):
    """(b): clang-16 → objects → llvm-jitlink-16 --oop-executor (LLVM 16), on this host."""

    name = "(b) clang-16 + llvm-jitlink-16"

    def __init__(self, work: Path, src: Path, arch: Arch = X86_64) -> None:
        self.work, self.src, self.arch = work / "seeds", src, arch
        self.main_c = self.work / "main.c"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    def _cc(self, c: Path, o: Path) -> None:
        run(["clang-16", *self.arch.seeds_cc, "-c", "-fPIC", OPT, f"-I{self.src}", str(c),
             "-o", str(o)])

    def setup(self) -> None:
        self.work.mkdir()
        self._cc(self.src / "mongoose.c", self.work / "mongoose.o")  # cached for every round

    def round(self, token: str) -> Sample:
        edit(self.main_c, token)
        t0 = time.perf_counter()
        self._cc(self.main_c, self.work / "main.o")
        t1 = time.perf_counter()
        proc = subprocess.Popen(
            [str(LLVM16 / "llvm-jitlink"), f"--oop-executor={self.arch.oop_executor}",
             str(self.work / "mongoose.o"), str(self.work / "main.o"),
             "-args", "mongoose", self.base, str(WWW)],  # -args includes argv[0]
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            served = wait_for_token(self.base + "/api/hello", token, proc)
        finally:
            stop(self.base, proc)
        return Sample(served - t0, {
            "compile main.c (clang-16 -c)": t1 - t0,
            "llvm-jitlink: link + load + start → new reply served": served - t1,
        })


class Static(Flow):
    """(c): musl-gcc -static → docker cp into a running musl container → docker exec."""

    name = "(c) musl-gcc -static + docker cp"

    def __init__(self, work: Path, src: Path, arch: Arch = X86_64) -> None:
        self.work, self.src, self.arch = work / "static", src, arch
        self.container = arch.static_container
        if arch.static_run:  # the aarch64 one: zig's musl cross toolchain, run under qemu
            self.name = "(c) zig cc -static (aarch64 musl) + docker cp"
        self.main_c = self.work / "main.c"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    def setup(self) -> None:
        self.work.mkdir()
        run([*self.arch.static_cc, "-c", OPT, f"-I{self.src}", str(self.src / "mongoose.c"),
             "-o", str(self.work / "mongoose.o")])
        # The image (a) runs in: FROM scratch, musl's loader + crossjit-executor (its CMD
        # keeps the container alive). Writable root, unlike the hardened executor container.
        image = subprocess.run(
            ["docker", "inspect", "-f", "{{.Config.Image}}", f"crossjit-{self.arch.bench_name}"],
            capture_output=True, text=True, timeout=60, check=True).stdout.strip()
        subprocess.run(["docker", "rm", "-f", self.container], capture_output=True, timeout=60)
        run(["docker", "run", "-d", "--name", self.container, "--network", "host",
             "--user", "65534:65534", "--tmpfs", "/tmp", "-v", f"{WWW}:/srv/www:ro", image])

    def round(self, token: str) -> Sample:
        edit(self.main_c, token)
        binary = self.work / "server"
        t0 = time.perf_counter()
        run([*self.arch.static_cc, "-static", OPT, f"-I{self.src}", str(self.main_c),
             str(self.work / "mongoose.o"), "-o", str(binary)])
        t1 = time.perf_counter()
        run(["docker", "cp", str(binary), f"{self.container}:/server"])
        t2 = time.perf_counter()
        proc = subprocess.Popen(
            ["docker", "exec", self.container, *self.arch.static_run, "/server", self.base,
             "/srv/www"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            served = wait_for_token(self.base + "/api/hello", token, proc)
        finally:
            stop(self.base, proc)
        return Sample(served - t0, {
            f"compile + static link ({os.path.basename(self.arch.static_cc[-1])})": t1 - t0,
            "docker cp": t2 - t1,
            "docker exec → new reply served": served - t2,
        })

    def teardown(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.container], capture_output=True, timeout=60)


def ms(x: float) -> str:
    return f"{x * 1000:.0f} ms"


def report(flows: list[Flow], samples: dict[str, list[Sample]], rounds: int,
           arch: str = "x86_64") -> None:
    med = {f.name: statistics.median(s.total for s in samples[f.name]) for f in flows}
    a = med[next(f.name for f in flows if type(f) is Crossjit)]
    b = med[next(f.name for f in flows if isinstance(f, Seeds))]
    watch = med[next(f.name for f in flows if isinstance(f, Watch))]
    daemon = med[next(f.name for f in flows if isinstance(f, Daemon))]
    print(f"\nedit → new reply served ({arch}), median of {rounds} interleaved rounds\n")
    print("| flow | median | min | max | vs (a) | vs (b) |")
    print("|---|---|---|---|---|---|")
    for f in flows:
        tot = [s.total for s in samples[f.name]]
        print(f"| {f.name} | {ms(med[f.name])} | {ms(min(tot))} | {ms(max(tot))} | "
              f"{med[f.name] / a:.2f}× | {med[f.name] / b:.2f}× |")
    print(f"\n(a)/(b) = {a / b:.2f} (goal ≤ 2.0: {'met' if a <= 2 * b else 'not met'}); "
          f"(a'')/(b) = {daemon / b:.2f} (goal ≤ 1.0: {'met' if daemon <= b else 'not met'}); "
          f"(a')/(b) = {watch / b:.2f}; goal (a') ≤ (b) and "
          f"(a') < 300 ms: {'met' if watch <= b and watch < 0.3 else 'not met'}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    for f in flows:
        print(f"\n{f.name}: median per phase")
        print("| phase | median |")
        print("|---|---|")
        for phase in samples[f.name][0].phases:
            values = [s.phases[phase] for s in samples[f.name]]
            print(f"| {phase} | {ms(statistics.median(values))} |")


def main() -> int:
    ap = argparse.ArgumentParser(description="edit → serving: crossjit vs llvm-jitlink vs static")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--crossjit", default=f"{sys.executable} -m crossjit",
                    help="how to start crossjit (default: this Python's -m crossjit)")
    ap.add_argument("--arch", choices=("x86_64", "aarch64"), default="x86_64",
                    help="aarch64: profiles/mongoose-aarch64.yaml, the seeds' flow against "
                    "the qemu'd arm64 LLVM 16 executor")
    opts = ap.parse_args()
    tools = ["clang-16", "docker", str(LLVM16 / "llvm-jitlink")]
    for tool in (*tools, *(["musl-gcc"] if opts.arch == "x86_64" else [])):
        if shutil.which(tool) is None:
            print(f"needs {tool} (scripts/bootstrap --docker)", file=sys.stderr)
            return 2
    src = mongoose_dir()
    with tempfile.TemporaryDirectory(prefix="crossjit-edit-") as tmp:
        work = Path(tmp)
        cmd = shlex.split(opts.crossjit)
        arch = aarch64(work) if opts.arch == "aarch64" else X86_64
        flows: list[Flow] = [Crossjit(work, cmd, arch), Daemon(work, cmd, arch),
                             Watch(work, cmd, arch), Seeds(work, src, arch),
                             Static(work, src, arch)]
        samples: dict[str, list[Sample]] = {f.name: [] for f in flows}
        try:
            for f in flows:
                f.setup()
            for f in flows:  # one unrecorded round each: page cache, docker, clang warm
                f.round("warmup-" + secrets.token_hex(4))
            for i in range(opts.rounds):
                for f in flows:  # interleaved
                    s = f.round(f"edit-{i}-{secrets.token_hex(4)}")
                    samples[f.name].append(s)
                    print(f"round {i + 1}/{opts.rounds} {f.name}: {ms(s.total)}",
                          file=sys.stderr, flush=True)
        finally:
            for f in reversed(flows):
                f.teardown()
        report(flows, samples, opts.rounds, opts.arch)
    return 0


if __name__ == "__main__":
    sys.exit(main())

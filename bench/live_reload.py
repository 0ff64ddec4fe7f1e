"""`--watch --live` against `--watch` and the seeds' flow: edit → new reply, throughput,
per-call cost.

    python -m bench.live_reload [--rounds N] [--seconds S] [--runs R]

Mongoose 7.23 + a copy of examples/mongoose/main.c, musl target, crossjit-executor-musl on
this host (`executor: local`; no container, so the numbers are the reload's own):

1. edit → new reply: two resident watchers, `--watch --live --json` and `--watch`, each
   with its own copy and port, and the seeds' flow (bench/edit_loop.py's (b): clang-16 -c
   main.c, then `llvm-jitlink-16 --oop-executor` with mongoose.o + main.o, glibc, LLVM
   16's executor); every round writes a fresh token into each copy's /api/hello reply (a
   real compile every time) and polls until it is served — the live one on one
   keep-alive connection whose request counter must keep counting (state kept), the
   others with new connections. Rounds interleave the three. The live reload's phases
   come from its --json events (compile, codegen, other build, patch).
2. throughput: 4 keep-alive clients on /api/hello for S seconds against each server, R
   runs, the order alternating (live first, then restart first, ...). Two measures:
   requests/s (what the clients saw: on a shared 2-core machine the Python clients and
   the other users' work decide much of it) and the server's CPU time per request (the
   executor's utime+stime from /proc over the run, divided by the requests it served),
   which the machine's load disturbs far less; the cost of --live (the stubs,
   `noinline` and per-function optimisation together) is given for both.
3. per call: a loop calling a function of another file 10^8 times, linked with and
   without --live (a direct `call` against `call stub; jmp *slot`), run by
   crossjit-executor; ns per call.

Medians; the load average is printed with every part.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.edit_loop import Seeds
from tests.integration.serve import listener_pid
from tests.mongoose import EXAMPLE_MAIN, mongoose_dir

REPO = Path(__file__).resolve().parent.parent
ORIGINAL = '"hello from crossjit"'
DEADLINE = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Conn:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def hello(self) -> dict[str, object]:
        self.sock.sendall(b"GET /api/hello HTTP/1.1\r\nHost: x\r\n\r\n")
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        m = re.search(rb"(?i)content-length:\s*(\d+)", head)
        assert m is not None
        n = int(m.group(1))
        while len(self.buf) < n:
            self._more()
        body, self.buf = self.buf[:n], self.buf[n:]
        value = json.loads(body)
        assert isinstance(value, dict)
        return value

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        self.buf += chunk

    def close(self) -> None:
        self.sock.close()


class Server:
    def __init__(self, work: Path, live: bool) -> None:
        self.live = live
        self.dir = work / ("live" if live else "restart")
        self.dir.mkdir()
        self.port = free_port()
        self.main_c = self.dir / "main.c"
        self.main_c.write_text(EXAMPLE_MAIN.read_text())
        mg = mongoose_dir()
        (self.dir / "www").mkdir()
        self.profile = self.dir / "p.yaml"
        self.profile.write_text(
            f"name: livebench{'l' if live else 'r'}\ntarget: {{triple: x86_64-linux-musl}}\n"
            f"sysroot: debian-musl\nexecutor: local\nsources: [\"{mg / 'mongoose.c'}\", "
            f"main.c]\ninclude: [\"{mg}\"]\nopt: 1\n"
            f"args: [http://127.0.0.1:{self.port}, {self.dir / 'www'}]\n")
        self.log = self.dir / "stderr"
        self.out = self.dir / "stdout"
        argv = [sys.executable, "-m", "crossjit", "run", str(self.profile), "--watch"]
        if live:
            argv += ["--live", "--json"]
        with open(self.log, "wb") as err, open(self.out, "wb") as out:
            self.proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err,
                                         env={**os.environ, "CROSSJIT_NO_DAEMON": "1"})
        self.conn: Conn | None = None
        self.wait_token("hello from crossjit")

    def edit(self, token: str) -> None:
        self.main_c.write_text(EXAMPLE_MAIN.read_text().replace(ORIGINAL, f'"{token}"'))

    def wait_token(self, token: str) -> float:
        end = time.perf_counter() + DEADLINE
        while True:
            try:
                if self.conn is None:
                    self.conn = Conn(self.port)
                v = self.conn.hello()
                if v["message"] == token:
                    return time.perf_counter()
                if not self.live:  # the restarting server: a new connection per poll
                    self.conn.close()
                    self.conn = None
            except OSError:
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
            if self.proc.poll() is not None or time.perf_counter() > end:
                raise RuntimeError(f"{token} not served:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.001)

    def events(self, kind: str) -> list[dict[str, object]]:
        """--json's events of one kind (the server's request log shares stdout)."""
        out = []
        for line in self.out.read_text(errors="replace").splitlines():
            if line.startswith('{"event":'):
                ev = json.loads(line)
                if ev["event"] == kind:
                    out.append(ev)
        return out

    def executor_pid(self) -> int:
        """The process listening on the port: the executor running the server."""
        pid = listener_pid(self.port)
        if pid is None:
            raise RuntimeError(f"nothing listens on port {self.port}")
        return pid

    def requests(self) -> int:
        assert self.conn is not None
        n = self.conn.hello()["requests"]
        assert isinstance(n, int)
        return n

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(srv: Server, seconds: float, clients: int = 4) -> tuple[float, float]:
    """(requests/s, server CPU µs per request) of ``clients`` keep-alive clients."""
    pid = srv.executor_pid()
    cpu0 = cpu_seconds(pid)
    rate, n = _hammer(srv.port, seconds, clients)
    return rate, (cpu_seconds(pid) - cpu0) * 1e6 / n


def _hammer(port: int, seconds: float, clients: int) -> tuple[float, int]:
    counts = [0] * clients
    end = time.perf_counter() + seconds

    def one(i: int) -> None:
        c = Conn(port)
        while time.perf_counter() < end:
            c.hello()
            counts[i] += 1
        c.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0), sum(counts)


CALLS_MAIN = """\
int step(int x);
int main(int argc, char **argv) {
  (void)argv;
  int x = argc;
  for (long i = 0; i < 100000000L; i++) x = step(x);
  return x & 1;
}
"""


def per_call_ns(work: Path, live: bool) -> float:
    from crossjit.compile import build
    from crossjit.orc.client import OrcClient
    from crossjit.project.plan import executor_builds, host_triple
    from crossjit.run import loader, session

    d = work / f"calls-{live}"
    d.mkdir()
    (d / "main.c").write_text(CALLS_MAIN)
    (d / "step.c").write_text("int step(int x) { return x * 3 + 1; }\n")
    o = build.BuildOptions(target=host_triple(), opt_level=2, live=live)
    built = build.build([d / "main.c", d / "step.c"], o)
    objects = [*built.objects, build.runtime_object(o)]
    with OrcClient.open(f"spawn:{executor_builds() / 'crossjit-executor-glibc'}") as c:
        program = loader.load(c, objects, live=live)
        t0 = time.perf_counter()
        session.run_loaded(c, program, ["calls"])
        return (time.perf_counter() - t0) * 1e9 / 1e8


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--runs", type=int, default=6, help="throughput runs per server")
    ap.add_argument("--no-seeds", action="store_true", help="skip the seeds' flow")
    a = ap.parse_args()
    loads = [f"start: {load()}"]
    with tempfile.TemporaryDirectory(prefix="crossjit-live-bench-") as tmp:
        work = Path(tmp)
        seeds = None if a.no_seeds else Seeds(work, mongoose_dir())
        if seeds is not None:
            seeds.setup()
        live, restart = Server(work, True), Server(work, False)
        try:
            times: dict[str, list[float]] = {"live": [], "restart": [], "seeds": []}
            for _ in range(a.rounds):
                for name, srv in (("live", live), ("restart", restart)):
                    before = srv.requests() if srv.live else 0
                    token = secrets.token_hex(6)
                    t0 = time.perf_counter()
                    srv.edit(token)
                    times[name].append(srv.wait_token(token) - t0)
                    if srv.live and srv.requests() <= before:
                        raise RuntimeError("the live server's counter did not continue")
                    time.sleep(0.2)
                if seeds is not None:
                    times["seeds"].append(seeds.round(secrets.token_hex(6)).total)
            loads.append(f"after edit -> reply: {load()}")
            reloads = live.events("reloaded")[-a.rounds:]
            if len(reloads) != a.rounds or live.events("restarted"):
                raise RuntimeError(f"expected {a.rounds} live reloads and no restart:\n"
                                   f"{live.log.read_text()[-3000:]}")
            rates: dict[str, list[float]] = {"live": [], "restart": []}
            cpu: dict[str, list[float]] = {"live": [], "restart": []}
            for run in range(a.runs):
                order = [("live", live), ("restart", restart)]
                for name, srv in order if run % 2 == 0 else order[::-1]:
                    rate, us = throughput(srv, a.seconds)
                    rates[name].append(rate)
                    cpu[name].append(us)
                    print(f"  throughput run {run + 1} {name}: {rate:.0f} req/s, "
                          f"{us:.2f} µs CPU/request ({load()})", file=sys.stderr)
            loads.append(f"after throughput: {load()}")
        finally:
            live.stop()
            restart.stop()
        calls = {k: per_call_ns(work, k) for k in (True, False)}
        loads.append(f"end: {load()}")
    lm, rm = _med(times["live"]), _med(times["restart"])
    phases = {k: _med([float(ev["ms"][k]) for ev in reloads])  # type: ignore[index]
              for k in ("total", "build", "compile", "codegen", "patch", "patch_link",
                        "patch_load", "patch_switch")}
    print(f"edit -> new reply, median of {a.rounds} (each x{a.rounds} sorted: see below):")
    print(f"  --watch --live  {lm * 1000:5.0f} ms (state kept; its reload: compile "
          f"{phases['compile']:.0f}, codegen {phases['codegen']:.0f}, other build "
          f"{phases['build'] - phases['compile'] - phases['codegen']:.0f}, patch "
          f"{phases['patch']:.1f} = link {phases['patch_link']:.1f} + load "
          f"{phases['patch_load']:.1f} + switch {phases['patch_switch']:.1f}; total "
          f"{phases['total']:.0f} ms from the poll's notice)")
    print(f"  --watch         {rm * 1000:5.0f} ms (restart, state lost)  "
          f"live/restart {lm / rm:.2f}")
    if seeds is not None:
        sm = _med(times["seeds"])
        print(f"  seeds' flow     {sm * 1000:5.0f} ms (clang-16 + llvm-jitlink-16, restart)  "
              f"live/seeds {lm / sm:.2f}")
    for k, v in times.items():
        if v:
            print(f"    {k}: {' '.join(f'{x * 1000:.0f}' for x in sorted(v))} ms")
    ql, qr = _med(rates["live"]), _med(rates["restart"])
    cl, cr = _med(cpu["live"]), _med(cpu["restart"])
    print(f"throughput, 4 keep-alive clients, median of {a.runs} x {a.seconds:g} s interleaved:")
    print(f"  requests/s:       --live {ql:.0f}, without {qr:.0f} ({(1 - ql / qr) * 100:+.1f} % "
          f"cost)  runs: live {' '.join(f'{x:.0f}' for x in rates['live'])}; without "
          f"{' '.join(f'{x:.0f}' for x in rates['restart'])}")
    ml, mr = min(cpu["live"]), min(cpu["restart"])
    print(f"  server CPU/request: --live {cl:.2f} µs, without {cr:.2f} µs "
          f"({(cl / cr - 1) * 100:+.1f} % cost; least disturbed runs: {ml:.2f} / {mr:.2f} µs, "
          f"{(ml / mr - 1) * 100:+.1f} %)  runs: live "
          f"{' '.join(f'{x:.2f}' for x in cpu['live'])}; without "
          f"{' '.join(f'{x:.2f}' for x in cpu['restart'])}")
    print(f"call to another file's function: live {calls[True]:.2f} ns, "
          f"direct {calls[False]:.2f} ns ({calls[True] - calls[False]:+.2f} ns per call)")
    for line in loads:
        print(f"{line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

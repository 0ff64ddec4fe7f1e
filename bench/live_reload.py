"""`--watch --live` against `--watch`: edit → new reply, throughput, per-call cost.

    python -m bench.live_reload [--rounds N] [--seconds S]

Mongoose 7.23 + a copy of examples/mongoose/main.c, musl target, crossjit-executor-musl on
this host (`executor: local`; no container, so the numbers are the reload's own):

1. edit → new reply: two resident watchers, `--watch --live` and `--watch`, each with its
   own copy and port; every round writes a fresh token into each copy's /api/hello reply
   (a real compile every time) and polls until it is served — the live one on one
   keep-alive connection whose request counter must keep counting (state kept), the
   restarting one with new connections. Rounds interleave the two.
2. throughput: 4 keep-alive clients on /api/hello for S seconds against each server,
   three times interleaved: requests/s with and without --live (the stubs, `noinline`
   and per-function optimisation together).
3. per call: a loop calling a function of another file 10^8 times, linked with and
   without --live (a direct `call` against `call stub; jmp *slot`), run by
   crossjit-executor; ns per call.

Medians; the seeds' flow (clang + llvm-jitlink) is measured by bench/edit_loop.py.
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
        argv = [sys.executable, "-m", "crossjit", "run", str(self.profile), "--watch"]
        if live:
            argv.append("--live")
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err,
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


def throughput(port: int, seconds: float, clients: int = 4) -> float:
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
    return sum(counts) / (time.perf_counter() - t0)


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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=3.0)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="crossjit-live-bench-") as tmp:
        work = Path(tmp)
        live, restart = Server(work, True), Server(work, False)
        try:
            times: dict[str, list[float]] = {"live": [], "restart": []}
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
            rates: dict[str, list[float]] = {"live": [], "restart": []}
            for _ in range(3):
                for name, srv in (("live", live), ("restart", restart)):
                    rates[name].append(throughput(srv.port, a.seconds))
        finally:
            live.stop()
            restart.stop()
        calls = {k: per_call_ns(work, k) for k in (True, False)}
    lm, rm = statistics.median(times["live"]), statistics.median(times["restart"])
    print(f"edit -> new reply, median of {a.rounds}: --live {lm * 1000:.0f} ms (state kept), "
          f"--watch {rm * 1000:.0f} ms (restart), ratio {lm / rm:.2f}")
    ql, qr = statistics.median(rates["live"]), statistics.median(rates["restart"])
    print(f"throughput, 4 keep-alive clients: --live {ql:.0f} req/s, without {qr:.0f} req/s "
          f"({(1 - ql / qr) * 100:+.1f} % cost)")
    print(f"call to another file's function: live {calls[True]:.2f} ns, "
          f"direct {calls[False]:.2f} ns ({calls[True] - calls[False]:+.2f} ns per call)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

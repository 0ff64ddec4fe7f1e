"""`crossjit run PROFILE --watch --live` with Mongoose: edits patched into the server.

A copy of examples/mongoose (main.c and www/) in tmp, Mongoose 7.23 fetched pinned, the
musl target; the executor is crossjit-executor-musl on this host ("local") or the
profile's hardened musl container. One keep-alive TCP connection: `/api/hello`, then the
handler's message is edited and saved; the next request on the *same socket* returns the
new text with the request counter continuing, `GET /` on it still lists the served
directory, and the process listening on the port is the same. Then a refused edit
(`s_requests` changes size): the paragraph names file, line and symbol, and the
ordinary restart follows (state lost: the counter starts again).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import containers_env as env
from tests.integration.serve import free_port, listener_pid
from tests.integration.test_watch import EXIT_DEADLINE, RELOAD_DEADLINE, Watch, edit
from tests.mongoose import EXAMPLE_MAIN, mongoose_dir
from tests.prereq import require_file

pytestmark = pytest.mark.integration

START_DEADLINE = 600.0  # the container variant may build the executor image


class Http:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def get(self, path: str) -> tuple[int, bytes]:
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        m = re.search(rb"(?i)content-length:\s*(\d+)", head)
        assert m, head
        n = int(m.group(1))
        while len(self.buf) < n:
            self._more()
        body, self.buf = self.buf[:n], self.buf[n:]
        return int(head.split()[1]), body

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf += chunk

    def close(self) -> None:
        self.sock.close()


def hello(h: Http) -> dict[str, object]:
    status, body = h.get("/api/hello")
    assert status == 200, body
    value = json.loads(body)
    assert isinstance(value, dict)
    return value


def project(tmp: Path, port: int, container: bool) -> Path:
    src = tmp / "app"
    src.mkdir()
    shutil.copy(EXAMPLE_MAIN, src / "main.c")
    shutil.copytree(EXAMPLE_MAIN.parent / "www", src / "www")
    mg = mongoose_dir()
    if container:
        executor = (f"executor:\n  variant: musl\n  ports: [{port}]\n"
                    f"  mounts: [\"{src / 'www'}:/srv/www\"]\n")
        root = "/srv/www"
    else:
        require_file(env.REPO / "executor" / "build" / "crossjit-executor-musl",
                     "crossjit-executor-musl (make -C executor)")
        executor = "executor: local\n"
        root = str(src / "www")
    profile = src / "live.yaml"
    profile.write_text(
        f"name: livemg{'c' if container else 'l'}\n"
        "target:\n  triple: x86_64-linux-musl\nsysroot: debian-musl\n" + executor
        + f"sources: [\"{mg / 'mongoose.c'}\", main.c]\ninclude: [\"{mg}\"]\nopt: 1\n"
        + ("live: true\n" if container else "")
        + f"args: [http://127.0.0.1:{port}, {root}]\n")
    return profile


@pytest.fixture(params=["local", "container"])
def watched(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Watch, Path, int]]:
    container = request.param == "container"
    if container:
        env.engine()
        env.require_musl_executor_binary()
    port = free_port()
    profile = project(tmp_path, port, container)
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    argv = [sys.executable, "-m", "crossjit", "run", str(profile), "--watch"]
    if not container:
        argv.append("--live")  # the container profile says `live: true`
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(argv, cwd=env.REPO, stdin=subprocess.DEVNULL, stdout=o,
                                stderr=e, env={**os.environ, "CROSSJIT_NO_DAEMON": "1"})
    w = Watch(proc, out, err)
    try:
        w.wait_for("the server", lambda: "serving" in w.out(), deadline=START_DEADLINE)
        yield w, profile.parent / "main.c", port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=EXIT_DEADLINE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def test_mongoose_edit_keeps_connection_and_counter(watched: tuple[Watch, Path, int]) -> None:
    w, main_c, port = watched
    h = Http(port)
    try:
        first = hello(h)
        assert first["message"] == "hello from crossjit"
        n = first["requests"]
        assert isinstance(n, int)
        pid = listener_pid(port)
        assert pid is not None
        mark = len(w.err())
        edit(main_c, '"hello from crossjit"', '"hello, live crossjit"')
        w.wait_for_err("reloaded main.c:", after=mark)
        reload_line = next(x for x in w.err()[mark:].splitlines() if "reloaded main.c:" in x)
        assert "variables kept" in reload_line, reload_line
        # the same socket: new text, the counter continued
        second = hello(h)
        assert second == {"message": "hello, live crossjit", "requests": n + 1}
        status, body = h.get("/")
        assert status == 200 and b"hello.json" in body and b"index.txt" in body, body[:300]
        assert hello(h)["requests"] == n + 3  # GET / counted too
        assert listener_pid(port) == pid

        # a second edit, on the same socket again
        mark = len(w.err())
        edit(main_c, '"hello, live crossjit"', '"hello again"')
        w.wait_for_err("reloaded main.c:", after=mark)
        assert hello(h) == {"message": "hello again", "requests": n + 4}

        # a link error in the edit (an undefined function): reported, the program runs on
        mark = len(w.err())
        good = main_c.read_text()
        edit(main_c, "  s_requests++;", "  s_requests++;\n  extern void no_such_function(void);\n"
             "  no_such_function();")
        w.wait_for_err("the previous program keeps running", after=mark)
        assert "no_such_function" in w.err()[mark:]
        assert hello(h) == {"message": "hello again", "requests": n + 5}
        assert listener_pid(port) == pid
        mark = len(w.err())
        main_c.write_text(good)  # the running code again: nothing to patch
        w.wait_for_err("no change to the program; it keeps running", after=mark)

        # a profile edit is not patched: the ordinary restart (the counter starts again)
        mark = len(w.err())
        profile = main_c.parent / "live.yaml"
        profile.write_text(profile.read_text().replace("opt: 1", "opt: 2"))
        w.wait_for_err("live.yaml: reloaded in", after=mark)
        assert ("live reload: kept state can't survive this edit: the profile changed"
                in w.err()[mark:]), w.err()[mark:]

        # refused: s_requests changes size -> one paragraph, then the ordinary restart
        mark = len(w.err())
        edit(main_c, "static unsigned long s_requests;", "static unsigned int s_requests;")
        w.wait_for_err("restarting (state lost)", after=mark)
        w.wait_for_err("main.c: reloaded in", after=mark)
        text = w.err()[mark:]
        line = next(i for i, x in enumerate(main_c.read_text().splitlines(), 1)
                    if "s_requests;" in x)
        assert (f"main.c:{line}: kept state can't survive this edit: kept variable "
                "'s_requests' changed size (8 -> 4 bytes)") in text, text
    finally:
        h.close()
    end = time.monotonic() + RELOAD_DEADLINE
    while True:  # the restarted server: a new process, the counter from 1
        try:
            h2 = Http(port)
            value = hello(h2)
            h2.close()
            break
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)
    assert value == {"message": "hello again", "requests": 1}
    assert listener_pid(port) != pid
    assert w.interrupt() == 130


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


STRESS_RELOADS = 200


def _reloads_above(w: Watch, n: int) -> bool:
    return w.err().count("reloaded main.c:") > n


def test_mongoose_200_reloads_under_load(tmp_path: Path) -> None:
    """200 saves in a row while a client keeps requesting on one keep-alive connection:
    no failed request, the counter never resets, every reload patched (none restarted),
    the server's memory grows by about the patches' size."""
    port = free_port()
    profile = project(tmp_path, port, container=False)
    main_c = profile.parent / "main.c"
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    argv = [sys.executable, "-m", "crossjit", "run", str(profile), "--watch", "--live"]
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(argv, cwd=env.REPO, stdin=subprocess.DEVNULL, stdout=o,
                                stderr=e, env={**os.environ, "CROSSJIT_NO_DAEMON": "1"})
    w = Watch(proc, out, err)
    seen: list[tuple[str, int]] = []
    failures: list[str] = []
    stop = threading.Event()

    def client() -> None:
        h = Http(port)
        try:
            while not stop.is_set():
                v = hello(h)
                assert isinstance(v["message"], str) and isinstance(v["requests"], int)
                seen.append((v["message"], v["requests"]))
                time.sleep(0.002)
        except Exception as exc:  # reported below
            failures.append(repr(exc))
        finally:
            h.close()

    try:
        w.wait_for("the server", lambda: "serving" in w.out(), deadline=START_DEADLINE)
        pid = listener_pid(port)
        assert pid is not None
        rss0 = _rss_kib(pid)
        th = threading.Thread(target=client, daemon=True)
        th.start()
        text = main_c.read_text()
        messages = ["hello from crossjit", "edit A", "edit B"]
        for i in range(STRESS_RELOADS):
            before = w.err().count("reloaded main.c:")
            new = messages[1 + i % 2]
            main_c.write_text(text.replace('"hello from crossjit"', f'"{new}"'))
            w.wait_for(f"live reload {i + 1}", functools.partial(_reloads_above, w, before))
            assert not failures, failures
        end = time.monotonic() + RELOAD_DEADLINE
        while not seen or seen[-1][0] != "edit B":
            assert time.monotonic() < end, seen[-3:]
            time.sleep(0.01)
        stop.set()
        th.join(RELOAD_DEADLINE)
        assert not failures, failures
        assert "restarting" not in w.err() and "main.c: reloaded in" not in w.err()
        counts = [n for _, n in seen]
        assert counts == list(range(counts[0], counts[0] + len(counts)))  # never reset
        assert {m for m, _ in seen} <= set(messages) and seen[-1][0] == "edit B"
        assert listener_pid(port) == pid
        grown = _rss_kib(pid) - rss0
        last = [x for x in w.err().splitlines() if "reloaded main.c:" in x][-1]
        mapped = int(re.search(r"(\d+) bytes of patches mapped", last).group(1))  # type: ignore[union-attr]
        assert grown * 1024 <= mapped + (8 << 20), (grown, mapped)
        print(f"{len(seen)} requests over {STRESS_RELOADS} reloads; RSS +{grown} KiB, "
              f"patches {mapped // 1024} KiB")
        assert w.interrupt() == 130
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _events(w: Watch) -> list[dict[str, object]]:
    """--json's events: the stdout lines that are JSON objects with an "event" (the
    server's own request log shares stdout with a local executor)."""
    out = []
    for line in w.out().splitlines():
        if line.startswith('{"event":'):
            value = json.loads(line)
            assert isinstance(value, dict)
            out.append(value)
    return out


def _next_event(w: Watch, kind: str, after: int) -> dict[str, object]:
    w.wait_for(f"a {kind!r} event", lambda: any(e["event"] == kind for e in _events(w)[after:]))
    return next(e for e in _events(w)[after:] if e["event"] == kind)


def test_json_events_for_reload_error_refusal_and_restart(tmp_path: Path) -> None:
    """`--watch --live --json`: one JSON object per line on stdout for the start, a live
    reload (unit, functions, variables, ms), a compile error (the program runs on), a
    refusal (symbol, file, line, reason) and the restart that follows it (its reason)."""
    port = free_port()
    profile = project(tmp_path, port, container=False)
    main_c = profile.parent / "main.c"
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    argv = [sys.executable, "-m", "crossjit", "run", str(profile), "--watch", "--live",
            "--json"]
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(argv, cwd=env.REPO, stdin=subprocess.DEVNULL, stdout=o,
                                stderr=e, env={**os.environ, "CROSSJIT_NO_DAEMON": "1"})
    w = Watch(proc, out, err)
    try:
        started = _next_event(w, "started", 0)
        assert started["live"] is True and started["files"] == [] and started["reason"] is None
        ms = started["ms"]
        assert isinstance(ms, dict) and ms["total"] > 0 and {"compile", "link", "load"} <= set(ms)
        w.wait_for("the server", lambda: "serving" in w.out(), deadline=START_DEADLINE)
        h = Http(port)
        try:
            n = hello(h)["requests"]
            assert isinstance(n, int)
            mark = len(_events(w))
            edit(main_c, '"hello from crossjit"', '"hello, json"')
            ev = _next_event(w, "reloaded", mark)
            assert ev["files"] == [str(main_c.resolve())], ev
            assert ev["units"] == [str(main_c.resolve())], ev
            assert isinstance(ev["functions"], int) and ev["functions"] >= 1, ev
            assert isinstance(ev["variables_kept"], int) and ev["variables_kept"] >= 3, ev
            assert ev["new_variables"] == 0 and ev["deferred"] is False, ev
            ms = ev["ms"]
            assert isinstance(ms, dict) and 0 < ms["patch"] <= ms["total"], ev
            parts = [ms["patch_link"], ms["patch_load"], ms["patch_switch"]]
            assert all(p > 0 for p in parts) and sum(parts) <= ms["patch"] + 0.1, ms
            assert ms["compile"] > 0 and ms["codegen"] > 0 and ms["compile"] + ms[
                "codegen"] <= ms["build"] + 0.1, ms
            assert isinstance(ev["patch_bytes"], int) and ev["patch_bytes"] > 0, ev
            assert hello(h) == {"message": "hello, json", "requests": n + 1}

            mark = len(_events(w))
            good = main_c.read_text()
            edit(main_c, "  s_requests++;", "  s_requests++ +;")  # a syntax error
            ev = _next_event(w, "error", mark)
            assert ev["running"] is True and "main.c" in str(ev["message"]), ev
            assert hello(h) == {"message": "hello, json", "requests": n + 2}
            main_c.write_text(good)
            _next_event(w, "unchanged", mark)

            mark = len(_events(w))
            edit(main_c, "static unsigned long s_requests;", "static unsigned int s_requests;")
            refused = _next_event(w, "refused", mark)
            restarted = _next_event(w, "restarted", mark)
        finally:
            h.close()
        line = next(i for i, x in enumerate(main_c.read_text().splitlines(), 1)
                    if "s_requests;" in x)
        assert refused["symbol"] == "s_requests" and refused["line"] == line, refused
        assert refused["unit"] == str(main_c.resolve()), refused
        assert refused["reason"] == "kept variable 's_requests' changed size (8 -> 4 bytes)"
        assert str(refused["message"]).endswith("restarting (state lost)"), refused
        assert restarted["reason"] == refused["message"], restarted
        assert restarted["files"] == [str(main_c.resolve())] and restarted["live"] is True
        # the text lines on stderr are unchanged by --json
        assert "kept state can't survive this edit" in w.err()
        assert w.interrupt() == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.parametrize("flag", ["--live", "--json"])
def test_live_and_json_need_watch(flag: str, tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text("name: needs-watch\nsources: [m.c]\n")
    p = subprocess.run([sys.executable, "-m", "crossjit", "run", str(profile), flag],
                       cwd=env.REPO, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "CROSSJIT_NO_DAEMON": "1"})
    assert p.returncode == 125, p.stderr
    assert f"{flag} needs --watch" in p.stderr and "Traceback" not in p.stderr
    assert p.stdout == ""

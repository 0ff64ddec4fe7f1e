"""`crossjit run PROFILE --watch` with real processes: edits → the new program runs.

Two cases, each one sequence of edits against one resident `crossjit run --watch`:

- local: a program that prints a line every 50 ms, run by this host's default LLVM
  executor; source edit, header edit, compile error (the old program keeps printing),
  fix, the program exiting by itself (reported, rerun on the next edit), SIGINT.
- musl container: a small HTTP server on plain sockets (SO_REUSEADDR), in a container
  the run starts; source edit with server-side TIME_WAIT sockets on the port, header
  edit, compile error (the old server still answers), fix, SIGINT removes the container.

Every wait has a deadline; failures show crossjit's stderr.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration import containers_env as env
from tests.integration.containers_env import container_exists
from tests.integration.serve import free_port, stop_within
from tests.prereq import llvm_executor, require_tool

pytestmark = pytest.mark.integration

START_DEADLINE = 600.0  # a first run may build the executor image (vfs is slow)
RELOAD_DEADLINE = 60.0
EXIT_DEADLINE = 60.0


@dataclass
class Watch:
    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def err(self) -> str:
        return self.stderr.read_text(errors="replace")

    def out(self) -> str:
        return self.stdout.read_text(errors="replace")

    def wait_for(self, what: str, ok: Callable[[], bool],
                 deadline: float = RELOAD_DEADLINE) -> None:
        end = time.monotonic() + deadline
        while not ok():
            if self.proc.poll() is not None:
                pytest.fail(f"crossjit run --watch exited {self.proc.returncode} while waiting "
                            f"for {what}:\n{self.err()[-3000:]}")
            if time.monotonic() > end:
                pytest.fail(f"no {what} within {deadline:.0f} s:\n{self.err()[-3000:]}")
            time.sleep(0.02)

    def wait_for_err(self, text: str, after: int = 0) -> None:
        self.wait_for(f"{text!r} on stderr", lambda: text in self.err()[after:])

    def interrupt(self) -> int:
        return stop_within(
            self.proc, signal.SIGINT, EXIT_DEADLINE,
            lambda: f"no exit within {EXIT_DEADLINE:.0f} s of SIGINT:\n{self.err()[-3000:]}",
        )



@contextlib.contextmanager
def start(profile: Path, tmp: Path) -> Iterator[Watch]:
    out, err = tmp / "stdout", tmp / "stderr"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "crossjit", "run", str(profile), "--watch"],
            cwd=env.REPO, stdin=subprocess.DEVNULL, stdout=o, stderr=e,
        )
    w = Watch(proc, out, err)
    try:
        yield w
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the same cleanup as Ctrl-C
            try:
                proc.wait(timeout=EXIT_DEADLINE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


# --- local: a program that prints and sleeps --------------------------------------------

TICKER = """\
#include <stdio.h>
#include <unistd.h>
#include "msg.h"
int main(void) {
  for (int i = 0; i < 2000000; i++) {
    printf("%s %s %d\\n", MSG, "tick", i);
    fflush(stdout);
    usleep(50000);
  }
  return 0;
}
"""


def test_local_program_follows_edits(tmp_path: Path) -> None:
    llvm_executor(16)  # the profile's local executor: Debian's default LLVM one
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    main_c, msg_h = tmp_path / "main.c", tmp_path / "msg.h"
    main_c.write_text(TICKER)
    msg_h.write_text('#define MSG "v1"\n')
    profile = tmp_path / "ticker.yaml"
    profile.write_text("name: watch-ticker\ntarget:\n  triple: x86_64-linux-gnu\n"
                       "executor: local\nsources: [main.c]\n")
    with start(profile, tmp_path) as w:
        w.wait_for("the first program's output", lambda: "v1 tick" in w.out(), START_DEADLINE)
        w.wait_for_err("crossjit: started in")

        edit(main_c, '"tick"', '"tock"')  # a source edit
        w.wait_for("the edited source's output", lambda: "v1 tock" in w.out())
        w.wait_for_err("main.c: reloaded in")

        msg_h.write_text('#define MSG "v2"\n')  # a header edit
        w.wait_for("the edited header's output", lambda: "v2 tock" in w.out())
        w.wait_for_err("msg.h: reloaded in")

        mark = len(w.err())
        edit(main_c, "return 0;", "return 0 +;")  # a compile error
        w.wait_for_err("the previous program keeps running", mark)
        assert "error: compiling" in w.err()[mark:] and "expected expression" in w.err()[mark:]
        printed = w.out().count("v2 tock")
        w.wait_for("the old program still printing",
                   lambda: w.out().count("v2 tock") > printed + 5)

        edit(main_c, "return 0 +;", "return 0;")  # fixed: the same program as before
        w.wait_for_err("no change to the program", mark)
        edit(main_c, '"tock"', '"fixed"')
        w.wait_for("the fixed program's output", lambda: "v2 fixed" in w.out())

        mark = len(w.err())
        edit(main_c, "i < 2000000", "i < 3")  # ends by itself: reported, watching goes on
        w.wait_for_err("program exited with status 0; waiting for changes", mark)
        edit(main_c, "return 0;", "return 7;")
        w.wait_for_err("program exited with status 7", mark)

        assert w.interrupt() == 130, w.err()[-3000:]
        size = w.stdout.stat().st_size
        time.sleep(0.5)
        assert w.stdout.stat().st_size == size, "a program still prints after the watcher ended"


# --- musl container: a plain-sockets HTTP server -----------------------------------------

SERVER = """\
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include "reply.h"
#define PREFIX "one"
int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 8000;
  int s = socket(AF_INET, SOCK_STREAM, 0), on = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(s, (struct sockaddr *) &a, sizeof a) != 0 || listen(s, 64) != 0) {
    perror("bind/listen");
    return 1;
  }
  printf("listening on %d\\n", port);
  fflush(stdout);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    char buf[4096];
    if (read(c, buf, sizeof buf) < 0) { close(c); continue; }
    char body[256];
    int n = snprintf(body, sizeof body, "%s %s\\n", PREFIX, REPLY);
    dprintf(c, "HTTP/1.0 200 OK\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n%s",
            n, body);
    close(c);  /* the server closes first: its side of each connection is in TIME_WAIT */
  }
}
"""


def body(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return str(r.read().decode())
    except (urllib.error.URLError, OSError):
        return ""


def time_wait_on(port: int) -> int:
    """Sockets in TIME_WAIT whose local port is ``port`` (host networking: ours to see)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if int(local.split(":")[1], 16) == port and state == "06":
            count += 1
    return count


def test_musl_container_server_follows_edits(tmp_path: Path) -> None:
    env.require_musl_executor_binary()
    env.require_debian_base()
    env.musl_sysroot()
    name = f"watch-test-{secrets.token_hex(3)}"
    container = f"crossjit-{name}"
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    main_c, reply_h = tmp_path / "main.c", tmp_path / "reply.h"
    main_c.write_text(SERVER)
    reply_h.write_text('#define REPLY "alpha"\n')
    profile = tmp_path / "server.yaml"
    profile.write_text(
        f"name: {name}\ntarget:\n  triple: x86_64-linux-musl\nsysroot: debian-musl\n"
        f"executor:\n  variant: musl\n  ports: [{port}]\nsources: [main.c]\nopt: 1\n"
        f"args: ['{port}']\n")
    try:
        with start(profile, tmp_path) as w:
            w.wait_for("the first reply", lambda: body(url) == "one alpha\n", START_DEADLINE)
            assert container_exists(container)
            for _ in range(20):
                assert body(url) == "one alpha\n"
            assert time_wait_on(port) > 0, "expected server-side TIME_WAIT sockets on the port"

            edit(main_c, '"one"', '"two"')  # rebinding the port despite TIME_WAIT
            w.wait_for("the edited source's reply", lambda: body(url) == "two alpha\n")
            w.wait_for_err("main.c: reloaded in")

            reply_h.write_text('#define REPLY "beta"\n')
            w.wait_for("the edited header's reply", lambda: body(url) == "two beta\n")
            w.wait_for_err("reply.h: reloaded in")

            mark = len(w.err())
            edit(main_c, "int port =", "int port = =")
            w.wait_for_err("the previous program keeps running", mark)
            assert "error: compiling" in w.err()[mark:], w.err()[mark:]
            for _ in range(5):  # still served by the old program
                assert body(url) == "two beta\n"

            edit(main_c, "int port = =", "int port =")
            edit(main_c, '"two"', '"three"')
            w.wait_for("the fixed program's reply", lambda: body(url) == "three beta\n")

            assert w.interrupt() == 130, w.err()[-3000:]
            assert not container_exists(container), f"{container} is left behind"
            assert body(url) == ""  # nothing listens any more
    finally:
        if container_exists(container):
            env.cli("executor", "down", container, timeout=120)

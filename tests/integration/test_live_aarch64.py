"""Live reload on AArch64: the qemu'd executors of this host (aarch64_env), real builds.

The same programs as test_live_reload.py, built for aarch64-linux-gnu (against the arm64
root) and aarch64-linux-musl: a kept `static int n` that keeps counting across reloads of
`bump` (the running, old `main` calls the new code through its stub: `adrp x16; ldr x16,
[x16, slot]; br x16`), and a heap list, a function-pointer table, an `atexit` callback and a
`qsort` comparator that all follow reloads. Every patch's code is finalized (the
executor's instruction-cache flush) before its slots switch.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest

from crossjit.compile import build
from crossjit.project.plan import arm64_root
from crossjit.run import session
from tests.integration import aarch64_env as a64
from tests.integration.corpus import REPO
from tests.integration.test_live_reload import (
    COUNTER,
    DEADLINE,
    MAIN,
    _stepped,
    _values,
    list_table_atexit_and_qsort,
    running,
    write,
)
from tests.integration.test_watch import EXIT_DEADLINE, Watch
from tests.prereq import require_tool

pytestmark = pytest.mark.integration

START_DEADLINE = 600.0  # the first build of the aarch64 runtime and sysroot-less headers


def _options(triple: str) -> build.BuildOptions:
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    sysroot = a64.root() if triple == a64.GNU else None  # musl: the bundled headers
    assert sysroot is None or sysroot == arm64_root()
    return build.BuildOptions(target=triple, opt_level=1, live=True, sysroot=sysroot)


@pytest.mark.parametrize("executor", ["cj-glibc", "cj-musl", "llvm16"])
def test_aarch64_counter_continues_from_kept_state(executor: str, tmp_path: Path) -> None:
    spec, triple = a64.spec(executor)
    main = write(tmp_path / "main.c", MAIN)
    counter = write(tmp_path / "counter.c", COUNTER.replace("STEP", "1"))
    with running(spec, [main, counter], tmp_path, o=_options(triple)) as r:
        pid = r.pid()
        r.wait_for("output", lambda ls: len(_values(ls)) >= 3)
        step = 1
        for i in range(4):
            step = 100 if step == 1 else 1
            write(counter, COUNTER.replace("STEP", str(step)))
            before = _values(r.lines())[-1]
            rep = r.reload([main, counter])
            assert rep is not None and rep.replaced == 1 and rep.kept == 1, rep
            lines = r.wait_for(f"reload {i + 1}'s step {step}",
                               functools.partial(_stepped, step=step, since=before))
            vals = _values(lines)
            assert all(y - x in (1, 100) for x, y in pairwise(vals)), vals[-20:]  # n kept
        assert r.pid() == pid
        write(counter, "int bump(void) { return -1; }\n")  # the old main's loop ends
        assert r.reload([main, counter]) is not None
        r.thread.join(DEADLINE)
        assert not r.thread.is_alive()
        outcome = r.result[0]
        assert isinstance(outcome, session.Outcome) and outcome.status == 7, r.result
        assert r.lines()[-1] == "done"
        assert r.pid() == pid


def test_aarch64_list_table_atexit_and_qsort_follow_reloads(tmp_path: Path) -> None:
    spec, triple = a64.spec("cj-musl")
    list_table_atexit_and_qsort(spec, tmp_path, _options(triple))


TICKER = """\
#include <stdio.h>
#include <unistd.h>
int bump(void);
int main(void) {
  for (;;) {
    printf("n=%d pid=%d\\n", bump(), (int)getpid());
    fflush(stdout);
    usleep(20000);
  }
}
"""


def test_aarch64_watch_live_keeps_the_counter(tmp_path: Path) -> None:
    """`crossjit run --watch --live --json` of an aarch64-linux-musl program on the qemu'd
    crossjit-executor: an edit of counter.c is patched in (a `reloaded` event, no
    restart), the counter continues from where it was with the new step, in the same
    process."""
    spec, triple = a64.spec("cj-musl")
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    (tmp_path / "main.c").write_text(TICKER)
    counter = write(tmp_path / "counter.c", COUNTER.replace("STEP", "1"))
    profile = tmp_path / "a64.yaml"
    profile.write_text(f"name: live-a64\ntarget:\n  triple: {triple}\n"
                       "sources: [main.c, counter.c]\nopt: 1\n")
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "crossjit", "run", str(profile), "--watch", "--live",
             "--json", "-e", spec], cwd=REPO, stdin=subprocess.DEVNULL, stdout=o, stderr=e,
            env={**os.environ, "CROSSJIT_NO_DAEMON": "1"})
    w = Watch(proc, out, err)

    def lines() -> list[tuple[int, int]]:
        return [(int(n[2:]), int(p[4:])) for n, p in
                (x.split() for x in w.out().splitlines() if x.startswith("n="))]

    def values() -> list[int]:
        return [n for n, _ in lines()]

    def events(kind: str) -> list[dict[str, object]]:
        return [ev for ev in (json.loads(x) for x in w.out().splitlines()
                              if x.startswith('{"event":')) if ev["event"] == kind]

    try:
        w.wait_for("the counter", lambda: len(values()) >= 5, deadline=START_DEADLINE)
        before = values()[-1]
        write(counter, COUNTER.replace("STEP", "100"))
        w.wait_for("a reloaded event", lambda: bool(events("reloaded")))
        ev = events("reloaded")[0]
        assert ev["units"] == [str(counter.resolve())] and ev["functions"] == 1, ev
        assert ev["variables_kept"] == 1, ev
        w.wait_for("the new step", lambda: any(
            y - x == 100 and x >= before for x, y in pairwise(values())))
        vals = values()
        assert all(y - x in (1, 100) for x, y in pairwise(vals)), vals[-20:]  # n kept
        assert len({pid for _, pid in lines()}) == 1  # the same process throughout
        assert not events("restarted")
        assert w.interrupt() == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=EXIT_DEADLINE)


def test_aarch64_container_mongoose_edit_keeps_connection_and_counter(tmp_path: Path) -> None:
    """Mongoose for aarch64-linux-musl in the FROM-scratch arm64 executor container (its
    own qemu-aarch64-static), `--watch --live` from the profile: on one keep-alive
    connection the edited reply arrives with the request counter continuing."""
    import shutil

    from tests.integration import containers_env as cenv
    from tests.integration.serve import free_port
    from tests.integration.test_aarch64_containers import _prepare
    from tests.integration.test_watch_live import Http, hello
    from tests.mongoose import EXAMPLE_MAIN

    cenv.engine()
    _prepare()  # qemu, the aarch64 musl executor, the aarch64 debian-musl sysroot
    port = free_port()
    src = tmp_path / "app"
    src.mkdir()
    shutil.copy(EXAMPLE_MAIN, src / "main.c")
    shutil.copytree(EXAMPLE_MAIN.parent / "www", src / "www")
    profile = src / "a64live.yaml"
    profile.write_text(
        "name: livemg-a64\ntarget:\n  triple: aarch64-linux-musl\nsysroot: debian-musl\n"
        f"executor:\n  variant: musl\n  ports: [{port}]\n  mounts: [\"www:/srv/www\"]\n"
        "fetch:\n  mongoose:\n    pypi: cymongoose==0.2.5\n"
        "    sha256: 8c0ec19752d493702c566735a28918f1b81a756197f78e4931c566dbad849a8f\n"
        "    subpath: thirdparty/mongoose\n"
        "sources: [\"@mongoose/mongoose.c\", main.c]\ninclude: [\"@mongoose\"]\nopt: 1\n"
        f"live: true\nargs: [http://127.0.0.1:{port}, /srv/www]\n")
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen([sys.executable, "-m", "crossjit", "run", str(profile),
                                 "--watch"], cwd=REPO, stdin=subprocess.DEVNULL, stdout=o,
                                stderr=e, env={**os.environ, "CROSSJIT_NO_DAEMON": "1"})
    w = Watch(proc, out, err)
    try:
        w.wait_for("the server", lambda: "serving" in w.out(), deadline=START_DEADLINE)
        h = Http(port)
        try:
            first = hello(h)
            assert first["message"] == "hello from crossjit"
            n = first["requests"]
            assert isinstance(n, int)
            mark = len(w.err())
            main_c = src / "main.c"
            main_c.write_text(main_c.read_text().replace('"hello from crossjit"',
                                                         '"hello, live arm64"'))
            w.wait_for_err("reloaded main.c:", after=mark)
            assert hello(h) == {"message": "hello, live arm64", "requests": n + 1}
            status, body = h.get("/")
            assert status == 200 and b"index.txt" in body, body[:300]
        finally:
            h.close()
        assert "restarting" not in w.err()
        assert w.interrupt() == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=EXIT_DEADLINE)

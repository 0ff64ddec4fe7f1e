"""Live reload (run/live.py) against real executors, with real edits and real builds.

- A two-file C loop (`bump` in counter.c with `static int n`): edits of counter.c are
  patched into the running process; the output continues from the old `n`; the running
  (old) `main` calls the new code; the executor's pid never changes; the last reload
  makes `bump` return -1 and `main` return. On crossjit-executor (many reloads) and on
  LLVM 14/16/19/22's executors (the calls are multiplexed with `run_as_main`).
- One C file holding a heap-allocated list, a function-pointer table, an `atexit`
  callback and a `qsort` comparator: after reloads all of them run the new code and the
  list keeps growing.
- Refusals by real edits: a kept variable's size, a function removed that another file
  still calls, TLS in a reloaded unit; the program keeps running the old code.
"""

from __future__ import annotations

import contextlib
import functools
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

from crossjit.compile import build
from crossjit.link.live import LiveRefusal
from crossjit.orc.client import OrcClient
from crossjit.orc.transport import SpawnedTransport
from crossjit.project.plan import executor_builds, host_triple
from crossjit.run import live, loader, session
from crossjit.run.live import Reload
from tests.prereq import llvm_executor, require_file, require_tool

pytestmark = pytest.mark.integration

DEADLINE = 30.0

MAIN = """\
#include <stdio.h>
#include <unistd.h>
int bump(void);
int main(int argc, char **argv) {
  FILE *out = fopen(argv[1], "w");
  for (;;) {
    int v = bump();
    if (v < 0) break;
    fprintf(out, "%d\\n", v);
    fflush(out);
    usleep(2000);
  }
  fprintf(out, "done\\n");
  fclose(out);
  return 7;
}
"""
COUNTER = """\
static int n;
int bump(void) { n += STEP; return n; }
"""


def opts(tmp: Path, debug: bool = False) -> build.BuildOptions:
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    return build.BuildOptions(target=host_triple(), opt_level=1, live=True, debug=debug)


def crossjit_executor() -> str:
    exe = require_file(executor_builds() / "crossjit-executor-glibc",
                       "crossjit-executor (make -C executor)")
    return f"spawn:{exe}"


def llvm_spec(version: int) -> Callable[[], str]:
    return lambda: f"spawn:{llvm_executor(version)}"


EXECUTORS: dict[str, Callable[[], str]] = {
    "crossjit": crossjit_executor, **{f"llvm-{v}": llvm_spec(v) for v in (14, 16, 19, 22)},
}


@dataclass
class Running:
    client: OrcClient
    live: live.LiveProgram
    thread: threading.Thread
    result: list[object]
    out: Path
    o: build.BuildOptions

    def lines(self) -> list[str]:
        return self.out.read_text().splitlines() if self.out.exists() else []

    def wait_for(self, what: str, ok: Callable[[list[str]], bool]) -> list[str]:
        end = time.monotonic() + DEADLINE
        while True:
            lines = self.lines()
            if ok(lines):
                return lines
            if time.monotonic() > end:
                pytest.fail(f"no {what} within {DEADLINE:.0f} s; last lines: {lines[-5:]}; "
                            f"run_as_main: {self.result}")
            time.sleep(0.005)

    def reload(self, sources: list[Path]) -> Reload | None:
        built = build.build(sources, self.o)
        names = set(self.live.objects)
        extra = [build.runtime_object(self.o)]
        if "<crossjit jitdebug>" in names:
            extra.append(build.runtime_object(self.o, "jitdebug.c", "<crossjit jitdebug>"))
        return self.live.reload([*built.objects, *extra])

    def pid(self) -> int:
        t = self.client.transport
        assert isinstance(t, SpawnedTransport)
        return t.proc.pid


@contextlib.contextmanager
def running(spec: str, sources: list[Path], tmp: Path, debug: bool = False,
            register: bool = False, o: build.BuildOptions | None = None) -> Iterator[Running]:
    """``register``: debug objects registered with the GDB JIT interface (as -g runs do);
    ``o``: build for another target than this host's (AArch64)."""
    o = o or opts(tmp, debug)
    built = build.build(sources, o)
    objects = [*built.objects, build.runtime_object(o)]
    if register:
        objects.append(build.runtime_object(o, "jitdebug.c", "<crossjit jitdebug>"))
    out = tmp / "out.txt"
    with OrcClient.open(spec) as client:
        program = loader.load(client, objects, live=True, debug=register)
        lp = live.LiveProgram.start(client, program, objects)
        result: list[object] = []

        def serve() -> None:
            try:
                result.append(session.run_loaded(client, program, ["prog", str(out)]))
            except Exception as exc:  # reported by the test
                result.append(exc)

        th = threading.Thread(target=serve, daemon=True)
        th.start()
        r = Running(client, lp, th, result, out, o)
        try:
            yield r
        finally:
            if th.is_alive():
                client.transport.close()  # unblocks run_as_main; the executor is killed
                th.join(10)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _values(lines: list[str]) -> list[int]:
    return [int(x) for x in lines if x.lstrip("-").isdigit()]


def _more(lines: list[str], n: int) -> bool:
    return len(_values(lines)) > n


def _stepped(lines: list[str], step: int, since: int) -> bool:
    """Some value from ``since`` on was followed by one ``step`` higher."""
    return any(y - x == step and x >= since for x, y in pairwise(_values(lines)))


@pytest.mark.parametrize("executor", list(EXECUTORS))
def test_counter_continues_from_kept_state(executor: str, tmp_path: Path) -> None:
    spec = EXECUTORS[executor]()
    main = write(tmp_path / "main.c", MAIN)
    counter = write(tmp_path / "counter.c", COUNTER.replace("STEP", "1"))
    reloads = 30 if executor == "crossjit" else 3
    with running(spec, [main, counter], tmp_path) as r:
        pid = r.pid()
        r.wait_for("output", lambda ls: len(_values(ls)) >= 3)
        step = 1
        for i in range(reloads):
            step = 100 if step == 1 else 1
            write(counter, COUNTER.replace("STEP", str(step)))
            before = _values(r.lines())[-1]
            rep = r.reload([main, counter])
            assert rep is not None and rep.files == (str(counter),)
            assert rep.replaced == 1 and rep.kept == 1 and rep.new_functions == 0
            lines = r.wait_for(f"reload {i + 1}'s step {step}",
                               functools.partial(_stepped, step=step, since=before))
            vals = _values(lines)
            # strictly increasing by the old or the new step: n was never reset
            assert all(y - x in (1, 100) for x, y in pairwise(vals)), vals[-20:]
        assert r.pid() == pid
        # the running (old) main calls the new bump, which ends the loop
        write(counter, "int bump(void) { return -1; }\n")
        rep = r.reload([main, counter])
        assert rep is not None
        r.thread.join(DEADLINE)
        assert not r.thread.is_alive()
        outcome = r.result[0]
        assert isinstance(outcome, session.Outcome) and outcome.status == 7, r.result
        assert r.lines()[-1] == "done"
        assert r.live.patch_bytes > 0 and r.live.retired_bytes > 0
        assert r.pid() == pid


STATEFUL = """\
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
struct node { int v; struct node *next; };
static struct node *list;          /* on the heap: must survive reloads */
static FILE *out;
static int twice(int x) { return 2 * x; }
static int (*ops[])(int) = { twice };
static int cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }
static void bye(void) { fprintf(out, "bye v1\\n"); fclose(out); }
static const char *tag(void) { return "v1"; }
static int done(int len) { (void)len; return 0; }
int main(int argc, char **argv) {
  out = fopen(argv[1], "w");
  atexit(bye);
  for (int i = 0;; i++) {
    struct node *n = malloc(sizeof *n);
    n->v = i; n->next = list; list = n;
    int len = 0;
    for (struct node *p = list; p; p = p->next) len++;
    int a[3] = {2, 1, 3};
    qsort(a, 3, sizeof a[0], cmp);
    fprintf(out, "%s len=%d ops=%d sorted=%d%d%d\\n", tag(), len, ops[0](10), a[0], a[1], a[2]);
    fflush(out);
    if (done(len)) break;
    usleep(2000);
  }
  return 0;
}
"""
V2 = (STATEFUL.replace('"v1"', '"v2"').replace("2 * x", "3 * x")
      .replace("*(const int *)a - *(const int *)b", "*(const int *)b - *(const int *)a")
      .replace("bye v1", "bye v2"))
V3 = V2.replace('"v2"', '"v3"').replace("bye v2", "bye v3").replace(
    "(void)len; return 0;", "return len > 0;")


@pytest.mark.parametrize("executor", ["crossjit", "llvm-16"])
def test_list_table_atexit_and_qsort_follow_reloads(executor: str, tmp_path: Path) -> None:
    list_table_atexit_and_qsort(EXECUTORS[executor](), tmp_path)


def list_table_atexit_and_qsort(spec: str, tmp_path: Path,
                                o: build.BuildOptions | None = None) -> None:
    """STATEFUL → V2 → V3 on ``spec`` (``o``: another target's build, test_live_aarch64)."""
    src = write(tmp_path / "prog.c", STATEFUL)
    with running(spec, [src], tmp_path, o=o) as r:
        r.wait_for("v1 output", lambda ls: len(ls) >= 3)
        write(src, V2)
        rep = r.reload([src])
        assert rep is not None and rep.replaced >= 6, rep
        assert rep.kept >= 3  # list, out, ops
        lines = r.wait_for("v2 output", lambda ls: any(x.startswith("v2") for x in ls))
        v1 = [x for x in lines if x.startswith("v1")]
        v2 = [x for x in lines if x.startswith("v2")]
        assert v1[-1].endswith("ops=20 sorted=123")
        assert v2[0].endswith("ops=30 sorted=321"), v2[0]
        len1 = int(v1[-1].split("len=")[1].split()[0])
        len2 = int(v2[0].split("len=")[1].split()[0])
        assert len2 == len1 + 1  # the list survived
        write(src, V3)
        assert r.reload([src]) is not None
        r.thread.join(DEADLINE)
        assert not r.thread.is_alive()
        outcome = r.result[0]
        assert isinstance(outcome, session.Outcome) and outcome.status == 0, r.result
        text = r.lines()
        assert text[-1] == "bye v3", text[-3:]  # the atexit callback registered by v1
        assert text[-2].startswith("v3 len=")


OTHER = """\
int helper(void);
int use(void) { return helper(); }
"""


def test_refusals_leave_the_old_program_running(tmp_path: Path) -> None:
    main = write(tmp_path / "main.c", MAIN.replace("int bump(void);",
                                                   "int bump(void);\nint use(void);"))
    counter = write(tmp_path / "counter.c", COUNTER.replace("STEP", "1")
                    + "int helper(void) { return 1; }\n")
    other = write(tmp_path / "other.c", OTHER)
    srcs = [main, counter, other]
    with running(crossjit_executor(), srcs, tmp_path) as r:
        r.wait_for("output", lambda ls: len(_values(ls)) >= 3)
        helper = "int helper(void) { return 1; }\n"
        cases = [
            ("static unsigned char n[16];\nint bump(void) { n[0] += 1; return n[0]; }\n"
             + helper, "kept variable 'n' changed size (4 -> 16 bytes)", "counter.c:1"),
            (COUNTER.replace("STEP", "1"),
             "function 'helper' was removed but loaded code still calls it", "counter.c:"),
            ("static __thread int n;\nint bump(void) { n += 1; return n; }\n" + helper,
             "'n' is a thread-local variable", "counter.c:1"),
        ]
        for text, what, where in cases:
            write(counter, text)
            with pytest.raises(LiveRefusal) as err:
                r.reload(srcs)
            para = live.refusal_paragraph(err.value)
            assert what in para and para.startswith(where), para
            assert para.endswith("; restarting (state lost)")
            n = len(_values(r.lines()))
            r.wait_for("the old program's output", functools.partial(_more, n=n + 2))
            vals = _values(r.lines())
            assert all(y - x == 1 for x, y in pairwise(vals))
        # after the refusals a good edit still applies (nothing half-done was left)
        write(counter, COUNTER.replace("STEP", "100") + "int helper(void) { return 1; }\n")
        assert r.reload(srcs) is not None
        r.wait_for("step 100", lambda ls: _stepped(ls, 100, 0))


THREADS = """\
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
int version(void);
static volatile int seen[4];
static volatile long calls[4];
static void *worker(void *arg) {
  int i = (int)(long)arg;
  for (;;) {
    int v = version();
    if (v < 0) return NULL;
    if (v > seen[i]) seen[i] = v;
    calls[i]++;
  }
}
int main(int argc, char **argv) {
  FILE *out = fopen(argv[1], "w");
  pthread_t t[4];
  for (long i = 0; i < 4; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  for (;;) {
    int v = version();
    fprintf(out, "%d %d %d %d %d\\n", v, seen[0], seen[1], seen[2], seen[3]);
    fflush(out);
    if (v < 0) break;
    usleep(1000);
  }
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  fprintf(out, "calls %ld\\n", calls[0] + calls[1] + calls[2] + calls[3]);
  fclose(out);
  return 0;
}
"""


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize(("executor", "reloads"), [("crossjit", 200), ("llvm-16", 40)])
def test_threads_call_a_function_reloaded_many_times(executor: str, reloads: int,
                                                     tmp_path: Path) -> None:
    """4 threads call `version()` in a tight loop while it is reloaded: no crash, no torn
    slot (a torn pointer would jump into nowhere), every thread reaches the newest
    version; the executor's memory grows by about the patches' size."""
    spec = EXECUTORS[executor]()
    main = write(tmp_path / "main.c", THREADS)
    ver = write(tmp_path / "ver.c", "int version(void) { return 1; }\n")
    with running(spec, [main, ver], tmp_path) as r:
        r.wait_for("threads running", lambda ls: bool(ls) and ls[-1].split()[1:] == ["1"] * 4)
        rss0 = _rss_kib(r.pid())
        last = 1
        for i in range(reloads):
            # two alternating sources after the first ones: the compile cache keeps the
            # loop about the patch link and load, not clang
            last = 2 + i % 2 if i >= 2 else 2 + i
            write(ver, f"int version(void) {{ return {last}; }}\n")
            assert r.reload([main, ver]) is not None
            assert r.thread.is_alive(), r.result
        write(ver, "int version(void) { return 1000; }\n")
        assert r.reload([main, ver]) is not None
        r.wait_for("every thread on the newest version",
                   lambda ls: bool(ls) and ls[-1].split() == ["1000"] * 5)
        grown = _rss_kib(r.pid()) - rss0
        patches = r.live.patch_bytes // 1024
        write(ver, "int version(void) { return -1; }\n")
        assert r.reload([main, ver]) is not None
        r.thread.join(DEADLINE)
        assert not r.thread.is_alive()
        assert isinstance(r.result[0], session.Outcome) and r.result[0].status == 0, r.result
        assert r.lines()[-1].startswith("calls ")
        # patches stay mapped (old code may still run): growth is about their size
        assert grown <= patches + 4096, (grown, patches)


SHAPES = """\
#include <cstdio>
#include <string>
#include <unistd.h>
static FILE *out;
static int made;
struct Tracked {
  std::string text;
  explicit Tracked(const char *t) : text(t) { made++; }
  ~Tracked() { std::fprintf(out, "destroyed %s\\n", text.c_str()); std::fflush(out); }
};
static const Tracked &tracked() { static Tracked t("VERSION"); return t; }
struct Shape {
  virtual int area() const;
  virtual ~Shape() {}
};
int Shape::area() const { return AREA; }
static Shape *kept;  // created by the first version, used by every later one
int main(int argc, char **argv) {
  out = std::fopen(argv[1], "w");
  kept = new Shape;
  for (;;) {
    int a = kept->area();
    std::fprintf(out, "%d %s %d\\n", a, tracked().text.c_str(), made);
    std::fflush(out);
    if (a < 0) break;
    usleep(2000);
  }
  return 0;
}
"""


def test_cxx_virtual_method_of_an_old_object_and_a_local_static(tmp_path: Path) -> None:
    """A virtual method edited: the object made by the first version dispatches to the
    new body through its old vtable; a function-local static std::string is constructed
    once (its guard is kept) and destroyed once at exit."""
    require_tool("clang++-16", "clang++-16 (apt-get install clang-16)")
    src = write(tmp_path / "shapes.cpp", SHAPES.replace("AREA", "1"))
    with running(crossjit_executor(), [src], tmp_path) as r:
        r.wait_for("v1 output", lambda ls: "1 VERSION 1" in ls)
        write(src, SHAPES.replace("AREA", "2").replace('"VERSION"', '"second"'))
        rep = r.reload([src])
        assert rep is not None and rep.kept >= 3  # out, made, the static and its guard
        r.wait_for("v2 output", lambda ls: "2 VERSION 1" in ls)  # not constructed again
        write(src, SHAPES.replace("AREA", "-1"))
        assert r.reload([src]) is not None
        r.thread.join(DEADLINE)
        assert not r.thread.is_alive()
        assert isinstance(r.result[0], session.Outcome) and r.result[0].status == 0, r.result
        lines = r.lines()
        assert lines[-2:] == ["-1 VERSION 1", "destroyed VERSION"], lines[-4:]
        assert sum(x.startswith("destroyed") for x in lines) == 1


LISTED = """\
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
struct node { int v; struct node *next; };
static struct node *list;
static float scale = 1.0f;
int bump(void);
int main(int argc, char **argv) {
  FILE *out = fopen(argv[1], "w");
  for (int i = 0;; i++) {
    struct node *n = malloc(sizeof *n);
    n->v = bump(); n->next = list; list = n;
    if (n->v < 0) break;
    fprintf(out, "%d\\n", (int)(n->v * scale));
    fflush(out);
    usleep(2000);
  }
  return 0;
}
"""


def test_dwarf_refusals_struct_layout_type_and_signature(tmp_path: Path) -> None:
    """With -g: a field added to a struct a kept pointer leads to, a kept variable's type
    changed at the same size, a prototype changed while another file calls it."""
    main = write(tmp_path / "main.c", LISTED)
    counter = write(tmp_path / "counter.c", COUNTER.replace("STEP", "1"))
    srcs = [main, counter]
    with running(crossjit_executor(), srcs, tmp_path, debug=True) as r:
        r.wait_for("output", lambda ls: len(_values(ls)) >= 3)
        cases = [
            (main, LISTED.replace("int v; struct", "int v; int w; struct"),
             "the layout of struct node changed, and kept variable 'list' holds or points "
             "to one", "main.c:5:"),
            (main, LISTED.replace("static float scale = 1.0f;", "static int scale = 1;"),
             "the type of kept variable 'scale' changed", "main.c:6:"),
            (counter, "static int n;\nlong bump(int step) { n += step; return n; }\n",
             "the signature of 'bump' changed while unchanged code calls it", "counter.c:2:"),
        ]
        for path, text, what, where in cases:
            original = path.read_text()
            write(path, text)
            with pytest.raises(LiveRefusal) as err:
                r.reload(srcs)
            para = live.refusal_paragraph(err.value)
            assert what in para and para.startswith(where), para
            write(path, original)
            n = len(_values(r.lines()))
            r.wait_for("the old program's output", functools.partial(_more, n=n + 2))
        # a compatible edit of the same files still applies
        write(counter, COUNTER.replace("STEP", "100"))
        assert r.reload(srcs) is not None
        r.wait_for("step 100", lambda ls: _stepped(ls, 100, 0))


def test_crash_in_reloaded_code_is_named(tmp_path: Path) -> None:
    """A fault in a patch's code: the report names the function and its line (-g)."""
    main = write(tmp_path / "main.c", MAIN)
    counter = write(tmp_path / "counter.c", COUNTER.replace("STEP", "1"))
    with running(crossjit_executor(), [main, counter], tmp_path, debug=True) as r:
        r.wait_for("output", lambda ls: len(_values(ls)) >= 3)
        write(counter, "static int n;\nint bump(void) {\n  n++;\n"
                       "  *(volatile int *)0 = n;\n  return n;\n}\n")
        assert r.reload([main, counter]) is not None
        r.thread.join(DEADLINE)
        outcome = r.result[0]
        assert isinstance(outcome, session.Outcome) and outcome.signal == 11, r.result
        where = r.live.program_at(outcome.fault_pc)
        assert where is not r.live.program
        text = session.describe_crash(outcome, where)
        assert "SIGSEGV in bump (counter.c:4)" in text, text


def test_gdb_breakpoint_stops_in_the_new_code(tmp_path: Path) -> None:
    """-g: the patch's debug objects are registered; gdb attached after a reload puts a
    breakpoint on the edited line, and the stop is inside the patch."""
    gdb = require_tool("gdb", "gdb (apt-get install gdb)")
    main = write(tmp_path / "main.c", MAIN)
    counter = write(tmp_path / "counter.c", "static int n;\nint bump(void) {\n"
                    "  n += 1;\n  return n;\n}\n")
    with running(crossjit_executor(), [main, counter], tmp_path, debug=True,
                 register=True) as r:
        r.wait_for("output", lambda ls: len(_values(ls)) >= 3)
        write(counter, "static int n;\nint bump(void) {\n  n += 100;\n  return n;\n}\n")
        assert r.reload([main, counter]) is not None
        lo = r.live.patch_bases[-1]
        done = subprocess.run(
            [gdb, "-nx", "-batch", "-p", str(r.pid()), "-ex", "break counter.c:3",
             "-ex", "continue", "-ex", "printf \"PC=%lx\\n\", $pc", "-ex", "delete",
             "-ex", "detach"],
            capture_output=True, text=True, timeout=120, check=False)
        out = done.stdout + done.stderr
        m = re.search(r"PC=([0-9a-f]+)", out)
        assert m, out[-3000:]
        pc = int(m.group(1), 16)
        assert lo <= pc < lo + r.live.patch_bytes, (hex(pc), hex(lo), out[-2000:])
        assert "counter.c:3" in out, out[-2000:]
        write(counter, "int bump(void) { return -1; }\n")
        assert r.reload([main, counter]) is not None
        r.thread.join(DEADLINE)
        assert isinstance(r.result[0], session.Outcome) and r.result[0].status == 7, r.result


SYNCED = """\
#include <stdio.h>
#include <unistd.h>
#include <crossjit.h>
int version(void);
int main(int argc, char **argv) {
  FILE *out = fopen(argv[1], "w");
  for (;;) {
    int a = version();
    usleep(3000);  /* a reload landing here would split a and b without the safe point */
    int b = version();
    fprintf(out, "%d %d\\n", a, b);
    fflush(out);
    if (b < 0) break;
    crossjit_reload_point();
  }
  return 0;
}
"""


def _pairs(lines: list[str]) -> list[tuple[int, int]]:
    out = []
    for x in lines:
        parts = x.split()
        if len(parts) == 2 and all(p.lstrip("-").isdigit() for p in parts):
            out.append((int(parts[0]), int(parts[1])))
    return out


@pytest.mark.parametrize("executor", ["crossjit", "llvm-14"])
def test_reload_point_applies_reloads_only_there(executor: str, tmp_path: Path) -> None:
    """A program calling crossjit_reload_point(): every reload takes effect at that call,
    so the two calls of one loop iteration always see the same version."""
    main = write(tmp_path / "main.c", SYNCED)
    ver = write(tmp_path / "ver.c", "int version(void) { return 0; }\n")
    with running(EXECUTORS[executor](), [main, ver], tmp_path) as r:
        r.wait_for("output", lambda ls: len(_pairs(ls)) >= 2)
        for v in range(1, 21):
            write(ver, f"int version(void) {{ return {v}; }}\n")
            rep = r.reload([main, ver])
            assert rep is not None and rep.deferred
            assert "applied at the next crossjit_reload_point()" in rep.line()
            time.sleep(0.004)
        r.wait_for("the last version", lambda ls: (20, 20) in _pairs(ls))
        write(ver, "int version(void) { return -1; }\n")
        assert r.reload([main, ver]) is not None
        r.thread.join(DEADLINE)
        assert isinstance(r.result[0], session.Outcome) and r.result[0].status == 0, r.result
        pairs = _pairs(r.lines())
        assert pairs[-1] == (-1, -1)
        assert all(a == b for a, b in pairs), [p for p in pairs if p[0] != p[1]]
        seen = [a for a, _ in pairs]
        assert seen == [*sorted(seen[:-1]), -1]  # versions only move forward


def test_without_the_reload_point_reloads_land_mid_iteration(tmp_path: Path) -> None:
    """The control for the test above: the same loop without crossjit_reload_point()
    gets its reloads at once, so some iterations see two versions."""
    main = write(tmp_path / "main.c", SYNCED.replace("    crossjit_reload_point();\n", ""))
    ver = write(tmp_path / "ver.c", "int version(void) { return 0; }\n")
    with running(crossjit_executor(), [main, ver], tmp_path) as r:
        r.wait_for("output", lambda ls: len(_pairs(ls)) >= 2)
        for v in range(1, 21):
            write(ver, f"int version(void) {{ return {v}; }}\n")
            rep = r.reload([main, ver])
            assert rep is not None and not rep.deferred
            time.sleep(0.004)
        write(ver, "int version(void) { return -1; }\n")
        assert r.reload([main, ver]) is not None
        r.thread.join(DEADLINE)
        pairs = _pairs(r.lines())
        assert any(a != b for a, b in pairs), pairs


def test_cxx_refusals_vtable_shape_and_static_constructors(tmp_path: Path) -> None:
    """A virtual method added (the old objects' vtable no longer fits), a global with a
    constructor in the reloaded unit (running it again would re-initialise state)."""
    require_tool("clang++-16", "clang++-16 (apt-get install clang-16)")
    base = SHAPES.replace("AREA", "1")
    src = write(tmp_path / "shapes.cpp", base)
    with running(crossjit_executor(), [src], tmp_path) as r:
        r.wait_for("v1 output", lambda ls: "1 VERSION 1" in ls)
        cases = [
            (base.replace("  virtual ~Shape() {}", "  virtual ~Shape() {}\n"
                          "  virtual int sides() const { return 0; }"),
             "the vtable of Shape changed shape (40 -> 48 bytes)", "shapes.cpp:12:"),
            (base.replace("static Shape *kept;", "static Shape *kept;\n"
                          "static std::string banner(\"hi\");"),
             "a reloaded unit with static constructors or destructors", "shapes.cpp"),
        ]
        for text, what, where in cases:
            write(src, text)
            with pytest.raises(LiveRefusal) as err:
                r.reload([src])
            para = live.refusal_paragraph(err.value)
            assert what in para and para.startswith(where), para
        write(src, SHAPES.replace("AREA", "-1"))
        assert r.reload([src]) is not None
        r.thread.join(DEADLINE)
        assert isinstance(r.result[0], session.Outcome) and r.result[0].status == 0, r.result

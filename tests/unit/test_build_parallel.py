"""build: codegen of several inputs at once, at most ``jobs`` children, deterministic results.

Real llvmlite and real forked codegen children (no mocks): a watcher thread counts this
process's live children in /proc while a build runs.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crossjit.compile import build
from crossjit.errors import CodegenError, UsageError

X86 = "x86_64-pc-linux-gnu"


def heavy_ir(seed: int, blocks: int = 700) -> bytes:
    """A module whose -O2 codegen takes a noticeable while (a long chain of arithmetic)."""
    body = [f"define i64 @f{seed}(i64 %x0) {{"]
    for i in range(blocks):
        body.append(f"  %y{i} = mul i64 %x{i}, {seed * 7 + i + 3}")
        body.append(f"  %z{i} = xor i64 %y{i}, {i * 131 + seed}")
        body.append(f"  %x{i + 1} = add i64 %z{i}, %x{i}")
    body.append(f"  ret i64 %x{blocks}")
    body.append("}")
    return ("\n".join(body) + "\n").encode()


def live_children() -> int:
    pid = os.getpid()
    n = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # the thread ended meanwhile
            n += len((task / "children").read_text().split())
    return n


@contextlib.contextmanager
def child_watch() -> Iterator[list[int]]:
    """Yields [peak]: the most children this process had at once while the block ran."""
    peak = [0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], live_children())
            time.sleep(0.002)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        yield peak
    finally:
        stop.set()
        t.join(5)


@pytest.fixture()
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # every codegen misses
    paths = []
    for i in range(6):
        p = tmp_path / f"m{i}.ll"
        p.write_bytes(heavy_ir(i))
        paths.append(p)
    return paths


def opts(jobs: int) -> build.BuildOptions:
    return build.BuildOptions(target=X86, opt_level=2, jobs=jobs)


def test_codegen_runs_jobs_children_at_once_and_never_more(
        modules: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with child_watch() as peak:
        two = build.build(modules, opts(2))
    assert peak[0] == 2, "two codegen children should overlap, and no third"
    assert all(s.generated for s in two.steps)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-serial"))
    with child_watch() as peak:
        one = build.build(modules, opts(1))
    assert peak[0] == 1
    # Deterministic: the same objects, in the inputs' order, whatever the job count.
    assert [o.name for o in two.objects] == [str(p) for p in modules]
    assert [o.data for o in two.objects] == [o.data for o in one.objects]
    for i, obj in enumerate(two.objects):
        assert obj.data[:4] == b"\x7fELF" and f"f{i}".encode() + b"\0" in obj.data


def test_every_failing_input_is_reported(modules: list[Path], tmp_path: Path) -> None:
    bad = []
    for name in ("broken_a.ll", "broken_b.ll"):
        p = tmp_path / name
        p.write_bytes(b"define i32 @f( {\n")
        bad.append(p)
    with pytest.raises(CodegenError) as err:
        build.build([modules[0], bad[0], modules[1], bad[1]], opts(2))
    assert err.value.what == "2 inputs failed to generate code"
    why = err.value.why or ""
    assert "cannot read LLVM IR from " + str(bad[0]) in why
    assert "cannot read LLVM IR from " + str(bad[1]) in why


def test_job_count_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(build.JOBS_ENV, "3")
    assert build.BuildOptions(target=X86).jobs == 3
    monkeypatch.delenv(build.JOBS_ENV)
    assert build.BuildOptions(target=X86).jobs == len(os.sched_getaffinity(0))
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(build.JOBS_ENV, bad)
        with pytest.raises(UsageError) as err:
            build.default_jobs()
        assert build.JOBS_ENV in err.value.what

"""The corpus: programs run through `crossjit jit` and compared with a native build."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
REPO = CORPUS.parent.parent


@dataclass(frozen=True)
class Case:
    name: str
    inputs: tuple[str, ...]
    args: tuple[str, ...] = ()
    stdin: bytes = b""
    cxx: bool = False
    native: bool = True  # False: no native build to compare with (e.g. unresolved symbols)
    expect_stderr: tuple[str, ...] = field(default=())

    def paths(self) -> list[Path]:
        return [CORPUS / i for i in self.inputs]

    def __str__(self) -> str:
        return self.name


CASES: tuple[Case, ...] = (
    Case("argc_sub1", ("argc_sub1.c",), ("a", "b", "c")),
    Case("data", ("data.c",)),
    Case("fnptr", ("fnptr.c",)),
    Case("qsort_cb", ("qsort_cb.c",)),
    Case("varargs", ("varargs.c",)),
    Case("setjmp_lj", ("setjmp_lj.c",)),
    Case("libm_fp", ("libm_fp.c",), ("x", "y")),
    Case("switch_table", ("switch_table.c",), ("blackjack",)),
    Case("multi_tu", ("multi_tu/main.c", "multi_tu/a.c", "multi_tu/b.c")),
    Case("weak_syms", ("weak_syms.c", "weak_strong.c")),
    Case("ctors", ("ctors.c",)),
    Case("cxx_objects", ("cxx_objects.cpp",), cxx=True),
    Case("cxx_exceptions", ("cxx_exceptions.cpp",), cxx=True),
    Case("no_newline", ("no_newline.c",)),
    Case("exit7", ("exit7.c",)),
    Case("segv", ("segv.c",), expect_stderr=("SIGSEGV",)),
    Case("stdin_echo", ("stdin_echo.c",), stdin=b"first line\nsecond line\n"),
    Case("unresolved", ("unresolved.c",), native=False,
         expect_stderr=("not_defined_anywhere", "also_missing", "unresolved.c")),
)


@dataclass(frozen=True)
class Run:
    status: int
    stdout: bytes
    stderr: bytes


def status_of(returncode: int) -> int:
    """A shell's view of a child's status: 128+N for signal N."""
    return 128 - returncode if returncode < 0 else returncode


def native_run(case: Case, opt: int, debug: bool, workdir: Path) -> Run:
    """Build with the host's clang-16 (gcc's libstdc++) and run it."""
    exe = workdir / f"{case.name}-O{opt}{'-g' if debug else ''}"
    if not exe.exists():
        cc = "clang++-16" if case.cxx else "clang-16"
        cmd = [cc, f"-O{opt}", *(["-g"] if debug else []), *map(str, case.paths()),
               "-o", str(exe), "-lm"]
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    p = subprocess.run([str(exe), *case.args], input=case.stdin, capture_output=True,
                       timeout=60, check=False)
    return Run(status_of(p.returncode), p.stdout, p.stderr)


def crossjit_cmd(case: Case, executor: str, opt: int, debug: bool) -> list[str]:
    return [sys.executable, "-m", "crossjit", "jit", "--executor", executor, "-O", str(opt),
            *(["-g"] if debug else []), *map(str, case.paths()), "--", *case.args]


def crossjit_run(cmd: list[str], stdin: bytes = b"", timeout: float = 120) -> Run:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, check=False,
                       env=env, cwd=REPO)
    return Run(p.returncode, p.stdout, p.stderr)


def check(case: Case, got: Run, expected: Run | None) -> None:
    """Same stdout and status as native (or 125 where no native build exists)."""
    err = got.stderr.decode(errors="replace")
    if expected is None:
        assert got.status == 125, err
    else:
        assert got.stdout == expected.stdout, err
        assert got.status == expected.status, err
    for needle in case.expect_stderr:
        assert needle in err

"""Exits from anywhere (issue 14, item 3): whatever ends the process — exit() inside libc
(errx) or a shared library, exit() on another thread, _exit(), abort(), a signal raised
through libc — `crossjit jit` gives what the natively built program gives: the same
status, the same stdout (atexit handlers and C++ static destructors run, or buffered
output lost, as natively) and stderr; for a signal, crossjit names it on stderr.

Executors: LLVM 16's and crossjit-executor (glibc, musl) spawned, LLVM 14/15/19/22 for the
library exits, the musl and debian container sessions; over tcp the status cannot be
known and crossjit says so. The oracle is the same program built natively against the
same libc (clang-16 for glibc, musl-gcc for musl).
"""

from __future__ import annotations

import functools
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration import containers_env as env
from tests.integration.corpus import REPO, Run, crossjit_run, status_of
from tests.integration.test_corpus import tcp_cmd
from tests.integration.test_executor_support import executor
from tests.prereq import LLVM_VERSIONS, llvm_executor, require_tool

pytestmark = pytest.mark.integration

EXITS = REPO / "tests" / "corpus" / "exits"


@dataclass(frozen=True)
class ExitCase:
    name: str
    signal: str | None = None  # the signal crossjit must name on stderr
    library: bool = False  # calls into libquit.so (--dlopen)
    cxx: bool = False  # glibc only: Debian has no musl libstdc++

    @property
    def source(self) -> Path:
        return EXITS / f"{self.name}.{'cpp' if self.cxx else 'c'}"

    def __str__(self) -> str:
        return self.name


CASES = (
    ExitCase("errx_libc"),
    ExitCase("exit_library", library=True),
    ExitCase("exit_thread"),
    ExitCase("underscore_exit"),
    ExitCase("abort_jit", signal="SIGABRT"),
    ExitCase("raise_term", signal="SIGTERM"),
    ExitCase("cxx_errx", cxx=True),
)
BY_NAME = {c.name: c for c in CASES}


@functools.cache
def _build_dir(libc: str, root: Path) -> Path:
    d = root / libc
    d.mkdir(exist_ok=True)
    return d


def _cc(libc: str, cxx: bool = False) -> str:
    if libc == "glibc":
        return require_tool("clang++-16" if cxx else "clang-16")
    return require_tool("musl-gcc", "musl-gcc (apt-get install musl-tools)")


def library(libc: str, root: Path) -> Path:
    """libquit.so for this libc (built once per session)."""
    out = _build_dir(libc, root) / "libquit.so"
    if not out.exists():
        subprocess.run([_cc(libc), "-shared", "-fPIC", "-o", str(out), str(EXITS / "libquit.c")],
                       check=True, capture_output=True, timeout=120)
    return out


def native(case: ExitCase, libc: str, root: Path) -> Run:
    """The program built natively, named like the input (errx prints the name), run."""
    d = _build_dir(libc, root)
    exe = d / case.name
    if not exe.exists():
        extra = (["-L", str(d), "-lquit", f"-Wl,-rpath,{d}"] if case.library else [])
        if case.library:
            library(libc, root)
        subprocess.run([_cc(libc, case.cxx), "-pthread", "-o", str(exe), str(case.source),
                        *extra],
                       check=True, capture_output=True, timeout=120)
    p = subprocess.run([str(exe)], capture_output=True, timeout=60, check=False)
    return Run(status_of(p.returncode), p.stdout, p.stderr)


def jit(case: ExitCase, spec: str, libc: str, root: Path) -> Run:
    dlopen = ["--dlopen", str(library(libc, root))] if case.library else []
    cmd = [sys.executable, "-m", "crossjit", "jit", "--executor", spec, *dlopen, str(case.source)]
    return crossjit_run(cmd, timeout=180)


def same_as_native(case: ExitCase, got: Run, expected: Run) -> None:
    err = got.stderr.decode(errors="replace")
    assert got.status == expected.status, err
    assert got.stdout == expected.stdout, err
    if case.signal is None:
        assert got.stderr == expected.stderr
    else:
        assert expected.stderr == b""  # the shell, not the program, names the signal
        assert case.signal in err, err
        assert "error" not in err, err


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exits-native")


def llvm16() -> str:
    return f"spawn:{llvm_executor(16)}"


SPAWNED = [pytest.param(c, v, id=f"{c}-{v}") for c in CASES
           for v in ("llvm16", "crossjit-glibc", "crossjit-musl")
           if not (c.cxx and v.endswith("musl"))]


@pytest.mark.parametrize(("case", "where"), SPAWNED)
def test_spawned_executor_matches_native(case: ExitCase, where: str, builds: Path) -> None:
    libc = "musl" if where.endswith("musl") else "glibc"
    spec = llvm16() if where == "llvm16" else f"spawn:{executor(libc)}"
    same_as_native(case, jit(case, spec, libc, builds), native(case, libc, builds))


OTHER_LLVM = [v for v in LLVM_VERSIONS if v != 16]


@pytest.mark.parametrize("version", OTHER_LLVM, ids=[f"llvm{v}" for v in OTHER_LLVM])
@pytest.mark.parametrize("name", ["errx_libc", "exit_library"])
def test_other_llvm_executors(name: str, version: int, builds: Path) -> None:
    case = BY_NAME[name]
    got = jit(case, f"spawn:{llvm_executor(version)}", "glibc", builds)
    same_as_native(case, got, native(case, "glibc", builds))


def test_tcp_cannot_know_the_status_and_says_so(builds: Path) -> None:
    """A tcp peer cannot see the executor's exit status: a clear error, not status 0."""
    case = BY_NAME["errx_libc"]
    cmd = [sys.executable, "-m", "crossjit", "jit", "--executor", "tcp:127.0.0.1:{port}",
           str(case.source)]
    got = crossjit_run(tcp_cmd(llvm_executor(16), cmd))
    err = got.stderr.decode(errors="replace")
    assert got.status == 125, err
    assert "cannot tell its exit status" in err and "spawn" in err, err
    assert "Traceback" not in err


def test_one_executor_runs_programs_after_one_that_returned(
        builds: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """The libc exit hook of a finished program leaves nothing behind: LLVM's executor
    (which releases all JIT memory before it exits) exits cleanly after a normal run, and
    a second program in the same executor still gets its own handlers run by errx."""
    from crossjit.compile.build import BuildOptions
    from crossjit.orc.transport import SpawnedTransport
    from crossjit.project.plan import ExecutorChoice, RunPlan
    from crossjit.run import session

    def plan(src: Path, triple: str) -> RunPlan:
        return RunPlan(name=src.stem, inputs=(src,), build=BuildOptions(target=triple),
                       executor=ExecutorChoice(spec=None), dlopen=(), args=())

    data, errx = REPO / "tests" / "corpus" / "data.c", BY_NAME["errx_libc"]
    with session.connect(llvm16()) as client:
        assert session.execute(client, plan(data, client.info.triple), None, None) == 0
    assert isinstance(client.transport, SpawnedTransport)
    assert client.transport.proc.returncode == 0, "the executor crashed after the program"
    first = capfd.readouterr().out

    with session.connect(llvm16()) as client:
        assert session.execute(client, plan(data, client.info.triple), None, None) == 0
        status = session.execute(client, plan(errx.source, client.info.triple), None, None)
    out = capfd.readouterr().out
    expected = native(errx, "glibc", builds)
    assert status == expected.status
    assert out == first + expected.stdout.decode()


# --- container sessions: the `docker exec`'s status is the executor's -------------------------


def _profile(tmp: Path, name: str, body: str) -> Path:
    p = tmp / f"{name}.yaml"
    p.write_text(f"name: {name}\n{body}sources: [{EXITS / 'errx_libc.c'}]\n")
    return p


def _own_container(tmp_path_factory: pytest.TempPathFactory, name: str,
                   body: str) -> Iterator[str]:
    """Profile ``name`` (``body``), its container up for the module's tests, then down."""
    prof = _profile(tmp_path_factory.mktemp("prof"), name, body)
    env.ok("executor", "up", "--profile", str(prof))
    yield name
    env.cli("executor", "down", f"crossjit-{name}")


@pytest.fixture(scope="module")
def exit_musl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This module's own musl executor container (crossjit-exit-musl)."""
    env.require_musl_executor_binary()
    env.musl_sysroot()
    yield from _own_container(tmp_path_factory, "exit-musl",
                              "target:\n  triple: x86_64-linux-musl\nsysroot: debian-musl\n"
                              "executor: musl\n")


@pytest.fixture(scope="module")
def exit_debian(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This module's own debian (LLVM 16 behind socat) container (crossjit-exit-debian)."""
    env.require_debian_base()
    env.glibc_sysroot()
    yield from _own_container(tmp_path_factory, "exit-debian",
                              "target:\n  triple: x86_64-linux-gnu\nsysroot: debian-glibc\n"
                              "executor:\n  variant: debian\n")


IN_CONTAINER = [c for c in CASES if not c.library and not c.cxx]


@pytest.mark.parametrize("case", IN_CONTAINER, ids=str)
def test_musl_container_matches_native(case: ExitCase, exit_musl: str, builds: Path) -> None:
    got = jit(case, f"docker:{exit_musl}", "musl", builds)
    same_as_native(case, got, native(case, "musl", builds))


@pytest.mark.parametrize("name", ["errx_libc", "underscore_exit", "raise_term"])
def test_debian_container_matches_native(name: str, exit_debian: str, builds: Path) -> None:
    case = BY_NAME[name]
    got = jit(case, f"docker:{exit_debian}", "glibc", builds)
    same_as_native(case, got, native(case, "glibc", builds))

"""Thread-local storage on AArch64 (TLS descriptors), through `crossjit jit --target
aarch64-*` on AArch64 executors under qemu-user, compared with the same program built
natively for aarch64 and run under qemu.

The programs of tests/corpus/tls/ that test_tls.py runs on x86-64: per-thread values with
seven threads running at once (extern across TUs, static, hidden, .tdata + .tbss,
_Alignas(64), a .tdata pointer to a string literal), many short-lived threads, C++
thread_local with destructors (in one TU and across TUs); and tls/regs.c, integer,
floating-point and vector values live in caller-saved registers across TLS descriptor
calls (the resolver must keep all but x0). Executors: crossjit-executor glibc and static
musl (C only: Debian has no musl libstdc++) and Debian's arm64 LLVM 16 executor, each at
-O0/-O2 with and without -g; LLVM 19 and 22 at -O0 and -O2 -g (82 runs: about 2 min on
a loaded 2-core machine). Refusals: initial-exec and TLS defined
outside the program, with AArch64's relocation names.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration import aarch64_env as a64
from tests.integration.corpus import Case, check, crossjit_cmd, crossjit_run
from tests.integration.test_tls import RUNS as X86_RUNS

RUNS = (*X86_RUNS, Case("tls_regs", ("tls/regs.c",)))

pytestmark = pytest.mark.integration

EXECUTORS = ("cj-glibc", "cj-musl", "llvm16", "llvm19", "llvm22")
COMBOS = ((0, False), (0, True), (2, False), (2, True))


def _combos(name: str) -> tuple[tuple[int, bool], ...]:
    # 19 and 22 speak the protocol family of 16: two of the four, as test_corpus_aarch64.
    return ((0, False), (2, True)) if name in ("llvm19", "llvm22") else COMBOS


MATRIX = [
    pytest.param(case, ex, opt, debug, id=f"{case}-{ex}-O{opt}{'-g' if debug else ''}")
    for ex in EXECUTORS
    for opt, debug in _combos(ex)
    for case in RUNS
    if not (case.cxx and ex == "cj-musl")
]
REFUSALS = (
    Case("tls_initial_exec", ("tls/initial_exec.c",), native=False,
         expect_stderr=("initial_exec.c:(.text+",
                        "R_AARCH64_TLSIE_ADR_GOTTPREL_PAGE21 against 'counter'",
                        "initial-exec", "hint: use the default model (TLS descriptors)")),
    Case("tls_extern", ("tls/extern_tls.c",), native=False,
         expect_stderr=("R_AARCH64_TLSDESC_ADR_PAGE21 against 'defined_nowhere'",
                        "not defined in the JIT'd program", "hint: define the variable")),
)


@pytest.fixture(scope="module")
def a64_tls_native(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("native-tls-aarch64")


def _cmd(case: Case, executor: str, opt: int, debug: bool) -> list[str]:
    spec, target = a64.spec(executor)
    cmd = crossjit_cmd(case, spec, opt, debug)
    cmd[cmd.index("jit") + 1:cmd.index("jit") + 1] = ["--target", target]
    return cmd


@pytest.mark.parametrize(("case", "executor", "opt", "debug"), MATRIX)
def test_tls_on_aarch64(case: Case, executor: str, opt: int, debug: bool,
                        a64_tls_native: Path) -> None:
    _, target = a64.spec(executor)
    expected = a64.native_run(case, target, opt, a64_tls_native)
    assert expected.status == 0, expected.stderr  # the programs check themselves too
    got = crossjit_run(_cmd(case, executor, opt, debug), timeout=300)
    check(case, got, expected)


@pytest.mark.parametrize("executor", EXECUTORS)
@pytest.mark.parametrize("case", REFUSALS, ids=str)
def test_tls_refusals_on_aarch64(case: Case, executor: str) -> None:
    got = crossjit_run(_cmd(case, executor, 0, False))
    check(case, got, None)
    assert b"Traceback" not in got.stderr

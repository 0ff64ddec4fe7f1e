"""The corpus on AArch64: every program through `crossjit jit --target aarch64-*` on
AArch64 executors under qemu-user, compared with the same program built natively for
aarch64 and run under qemu (stdout, exit status, crash signal and, with -g, line).

Executors: crossjit-executor (glibc, and static musl: C only, Debian has no musl
libstdc++) and Debian's arm64 llvm-jitlink-executor 16, each at -O0/-O2 x -g/no -g; the
LLVM 19 and 22 executors at two of the four (-O0 without -g, -O2 with -g). The full
matrix (354 runs) took 4 min here with a cold compile cache on a loaded 2-core machine,
this one (282 runs) about 3; 19 and 22 speak the same protocol family as 16.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration import aarch64_env as a64
from tests.integration.corpus import CASES, CORPUS, Case, check, crossjit_cmd, crossjit_run
from tests.integration.test_inline_asm import ASM

pytestmark = pytest.mark.integration

# Where a crash must be reported with -g: (file, text of the faulting line).
CRASH_LINES = {"segv": ("segv.c", "*target = v")}


def _line_of(file: str, text: str) -> int:
    lines = (CORPUS / file).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


COMBOS = ((0, False), (0, True), (2, False), (2, True))


def _combos(name: str) -> tuple[tuple[int, bool], ...]:
    return ((0, False), (2, True)) if name in ("llvm19", "llvm22") else COMBOS


EXECUTORS = ("cj-glibc", "cj-musl", "llvm16", "llvm19", "llvm22")
MATRIX = [
    pytest.param(case, ex, opt, debug, id=f"{case}-{ex}-O{opt}{'-g' if debug else ''}")
    for ex in EXECUTORS
    for opt, debug in _combos(ex)
    for case in CASES
    if not (case.cxx and ex == "cj-musl")
]


@pytest.fixture(scope="session")
def a64_native_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("native-aarch64")


@pytest.mark.parametrize(("case", "executor", "opt", "debug"), MATRIX)
def test_corpus_on_aarch64(case: Case, executor: str, opt: int, debug: bool,
                           a64_native_dir: Path) -> None:
    spec, target = a64.spec(executor)
    expected = a64.native_run(case, target, opt, a64_native_dir) if case.native else None
    cmd = crossjit_cmd(case, spec, opt, debug)
    cmd[cmd.index("jit") + 1:cmd.index("jit") + 1] = ["--target", target]
    got = crossjit_run(cmd, case.stdin, timeout=300)
    check(case, got, expected)
    if debug and case.name in CRASH_LINES:
        file, text = CRASH_LINES[case.name]
        assert f"({file}:{_line_of(file, text)})" in got.stderr.decode(errors="replace")


@pytest.mark.parametrize("target", [a64.GNU, a64.MUSL])
def test_jit_picks_a_local_aarch64_executor(target: str, a64_native_dir: Path) -> None:
    """No --executor: crossjit starts an AArch64 executor under qemu by itself."""
    case = next(c for c in CASES if c.name == "argc_sub1")
    a64.spec("cj-musl" if target == a64.MUSL else "llvm16")  # prerequisites, built
    expected = a64.native_run(case, target, 0, a64_native_dir)
    cmd = crossjit_cmd(case, "X", 0, False)
    i = cmd.index("--executor")
    cmd[i:i + 2] = ["--target", target, "-v"]
    got = crossjit_run(cmd, case.stdin)
    check(case, got, expected)
    assert "qemu-aarch64" in got.stderr.decode(errors="replace")


@pytest.mark.parametrize("opt", [0, 2], ids=["O0", "O2"])
@pytest.mark.parametrize("executor", ["cj-glibc", "cj-musl", "llvm16"])
@pytest.mark.parametrize("case", ASM, ids=str)
def test_inline_asm_on_aarch64(case: Case, executor: str, opt: int,
                               a64_native_dir: Path) -> None:
    """Inline and module-level AArch64 assembly: llvmlite optimises, Debian's llc (which
    has the asm parser llvmlite lacks) emits the object; output equals the native build."""
    spec, target = a64.spec(executor)
    expected = a64.native_run(case, target, opt, a64_native_dir)
    cmd = crossjit_cmd(case, spec, opt, False)
    cmd[cmd.index("jit") + 1:cmd.index("jit") + 1] = ["--target", target]
    check(case, crossjit_run(cmd, case.stdin, timeout=300), expected)

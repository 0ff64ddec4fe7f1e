"""Inline assembly (issue 14, item 2) through `crossjit jit`, compared with native, and an
LLVM fatal error that must end as crossjit's own message (status 125), not LLVM's exit.

On LLVM 16's executor and crossjit-executor (glibc, musl), spawned.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.integration.corpus import CASES, CORPUS, Case, check, crossjit_run, native_run
from tests.integration.test_executor_support import executor
from tests.prereq import llvm_executor

pytestmark = pytest.mark.integration

ASM = (Case("inline_asm", ("inline_asm.c",)), Case("module_asm", ("module_asm.c",)))
assert not {c.name for c in ASM} & {c.name for c in CASES}


def spec(where: str) -> str:
    return f"spawn:{llvm_executor(16)}" if where == "llvm16" else f"spawn:{executor(where)}"


@pytest.mark.parametrize("opt", [0, 2], ids=["O0", "O2"])
@pytest.mark.parametrize("where", ["llvm16", "glibc", "musl"])
@pytest.mark.parametrize("case", ASM, ids=str)
def test_inline_asm_matches_native(case: Case, where: str, opt: int, native_dir: Path) -> None:
    expected = native_run(case, opt, False, native_dir)
    cmd = [sys.executable, "-m", "crossjit", "jit", "--executor", spec(where), "-O", str(opt),
           *map(str, case.paths())]
    check(case, crossjit_run(cmd), expected)


FATAL = [
    # an error diagnostic without a handler: LLVM calls exit(1)
    ("bad_register.ll", "LLVM ended the process with status 1", "not_a_register"),
    # report_fatal_error: LLVM aborts
    ("cannot_select.ll", "LLVM was killed by SIGABRT", "Cannot select"),
]


@pytest.mark.parametrize("where", ["llvm16", "glibc"])
@pytest.mark.parametrize(("ir", "fate", "quote"), FATAL, ids=[f[0] for f in FATAL])
def test_llvm_fatal_error_is_crossjits_message(ir: str, fate: str, quote: str,
                                               where: str) -> None:
    """LLVM ends its process on this IR: crossjit names the input and how LLVM ended,
    quotes LLVM and exits 125, and no program runs."""
    got = crossjit_run([sys.executable, "-m", "crossjit", "jit", "--executor", spec(where),
                        str(CORPUS / ir)])
    err = got.stderr.decode(errors="replace")
    assert got.status == 125, err
    first = err.splitlines()[0]
    assert first.startswith("error: code generation failed for ") and ir in first, err
    assert fate in first and quote in err and "Traceback" not in err, err
    assert got.stdout == b""

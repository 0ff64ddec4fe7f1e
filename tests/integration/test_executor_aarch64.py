"""crossjit-executor's AArch64 builds: the instruction-cache flush after code is written
is compiled in (qemu-user does not model incoherent caches, so running code cannot show
a missing flush; the machine code can)."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.integration.test_executor_support import executor
from tests.prereq import require_tool

pytestmark = pytest.mark.integration
EM_AARCH64 = 183


@pytest.mark.parametrize("variant", ["aarch64-glibc", "aarch64-musl", "aarch64-musl-static"])
def test_aarch64_executor_flushes_the_instruction_cache(variant: str) -> None:
    objdump = require_tool("llvm-objdump-16", "llvm-objdump-16 (apt-get install llvm-16)")
    exe = executor(variant)
    head = exe.read_bytes()[:20]
    assert head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == EM_AARCH64
    asm = subprocess.run([objdump, "-d", str(exe)], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    # __clear_cache: clean D-cache to the point of unification, invalidate I-cache, sync.
    for insn in (r"dc\s+cvau", r"ic\s+ivau", r"dsb\s+ish", r"isb"):
        assert re.search(rf"\s{insn}\b", asm), f"{variant}: no {insn}"

"""codegen: the object cache key, and LLVM's fatal errors kept out of crossjit's process.

Real llvmlite throughout (no mocks): objects are generated and compared.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crossjit.compile import codegen
from crossjit.errors import CodegenError
from tests.prereq import require_file

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
X86 = "x86_64-pc-linux-gnu"

# A global reached from code: PIC and non-PIC objects relocate it differently.
IR = b"""
target triple = "x86_64-pc-linux-gnu"
@counter = external global i32
define i32 @get() {
  %v = load i32, ptr @counter
  ret i32 %v
}
"""

INLINE_ASM_IR = b"""
define i32 @bump(i32 %x) {
  %r = call i32 asm "add ${0:w}, ${0:w}, #1", "=r,0"(i32 %x)
  ret i32 %r
}
"""


@pytest.fixture()
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_same_input_hits_the_cache(cache_home: Path) -> None:
    ir = cache_home / "m.ll"
    ir.write_bytes(IR)
    opts = codegen.CodegenOptions(X86)
    first, hit1 = codegen.object_for(ir, opts)
    again, hit2 = codegen.object_for(ir, opts)
    assert (hit1, hit2) == (False, True)
    assert first == again and first[:4] == b"\x7fELF"


def test_a_changed_target_machine_setting_misses_the_cache(
        cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ir = cache_home / "m.ll"
    ir.write_bytes(IR)
    opts = codegen.CodegenOptions(X86)
    pic, _ = codegen.object_for(ir, opts)
    monkeypatch.setitem(codegen.TARGET_MACHINE, "codemodel", "large")
    large, hit = codegen.object_for(ir, opts)
    assert not hit
    assert large != pic  # really generated with the new setting, not a stale object
    monkeypatch.setitem(codegen.TARGET_MACHINE, "codemodel", "small")
    assert codegen.object_for(ir, opts) == (pic, True)


def test_codegen_version_and_options_are_part_of_the_key(
        cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ir = cache_home / "m.ll"
    ir.write_bytes(IR)
    base = codegen.CodegenOptions(X86)
    codegen.object_for(ir, base)
    for changed in (codegen.CodegenOptions(X86, opt_level=2),
                    codegen.CodegenOptions(X86, cpu="haswell"),
                    codegen.CodegenOptions(X86, features="+avx2")):
        assert codegen.object_for(ir, changed)[1] is False, changed
    monkeypatch.setattr(codegen, "CODEGEN_VERSION", codegen.CODEGEN_VERSION + 1)
    assert codegen.object_for(ir, base)[1] is False


def test_host_inline_asm_assembles() -> None:
    ir = b'module asm ".globl f\\0Af:\\0A  movl $$7, %eax\\0A  ret"\n'
    obj = codegen.isolated(ir, "asm.ll", codegen.CodegenOptions(X86))
    assert obj[:4] == b"\x7fELF" and b"f\x00" in obj


def test_an_llvm_exit_becomes_a_codegen_error() -> None:
    with pytest.raises(CodegenError) as err:
        codegen.isolated((CORPUS / "bad_register.ll").read_bytes(), "bad_register.ll",
                         codegen.CodegenOptions(X86))
    assert "bad_register.ll" in err.value.what
    assert "status 1" in err.value.what
    assert "not_a_register" in (err.value.why or "")


def test_an_llvm_abort_becomes_a_codegen_error() -> None:
    """An instruction LLVM's x86-64 backend cannot select: report_fatal_error aborts the
    child, the parent names the input and quotes LLVM."""
    ir = (Path(__file__).resolve().parents[1] / "corpus" / "cannot_select.ll").read_bytes()
    with pytest.raises(CodegenError) as err:
        codegen.isolated(ir, "cannot_select.ll", codegen.CodegenOptions(X86))
    assert "cannot_select.ll" in err.value.what and "SIGABRT" in err.value.what
    assert "Cannot select" in (err.value.why or "")


def test_inline_asm_for_another_cpu_goes_through_llc() -> None:
    """llvmlite has no AArch64 asm parser (LLVM would abort): such a module is optimised by
    llvmlite and handed to Debian's llc, whose object carries the assembled instruction."""
    require_file("/usr/lib/llvm-22/bin/llc", "llc (apt-get install llvm-22)")
    obj = codegen.isolated(INLINE_ASM_IR, "bump.ll",
                           codegen.CodegenOptions("aarch64-unknown-linux-gnu"))
    assert obj[:4] == b"\x7fELF" and int.from_bytes(obj[18:20], "little") == 183  # EM_AARCH64
    assert bytes.fromhex("00040011") in obj  # add w0, w0, #1


def test_ordinary_errors_still_come_back_from_the_child() -> None:
    with pytest.raises(CodegenError) as err:
        codegen.isolated(b"define i32 @f( {", "broken.ll", codegen.CodegenOptions(X86))
    assert err.value.what == "cannot read LLVM IR from broken.ll"


def test_the_resident_worker_generates_what_a_fork_does_and_survives_llvm_aborts() -> None:
    """`run --watch`'s worker (start_worker): the same object bytes as a forked child,
    one process for many modules; an LLVM abort ends that worker and is reported like
    isolated()'s, and the next module gets a fresh worker; ordinary errors come back."""
    opts = codegen.CodegenOptions(X86, 2)
    abort_ir = (CORPUS / "cannot_select.ll").read_bytes()
    codegen.start_worker()
    try:
        first = codegen._generate(IR, "get.ll", opts)
        assert first == codegen.isolated(IR, "get.ll", opts)
        pid = codegen._WORKER[0].pid
        # only stdio and its two pipes: no copy of the parent's sockets keeps them open
        assert len(os.listdir(f"/proc/{pid}/fd")) <= 5, os.listdir(f"/proc/{pid}/fd")
        assert codegen._generate(IR.replace(b"@get", b"@get2"), "get2.ll", opts) != first
        assert codegen._WORKER[0].pid == pid  # resident: no fork per module
        with pytest.raises(CodegenError) as err:
            codegen._generate(abort_ir, "cannot_select.ll", codegen.CodegenOptions(X86))
        assert "cannot_select.ll" in err.value.what and "SIGABRT" in err.value.what
        assert "Cannot select" in (err.value.why or "")
        assert not codegen._WORKER  # gone with LLVM's abort
        assert codegen._generate(IR, "get.ll", opts) == first
        assert codegen._WORKER[0].pid != pid
        with pytest.raises(CodegenError) as err:
            codegen._generate(b"define i32 @f( {", "broken.ll", opts)
        assert err.value.what == "cannot read LLVM IR from broken.ll"
        # another CPU's inline asm (llc, a child of the worker) works there too
        require_file("/usr/lib/llvm-22/bin/llc", "llc (apt-get install llvm-22)")
        a64 = codegen.CodegenOptions("aarch64-unknown-linux-gnu")
        assert codegen._generate(INLINE_ASM_IR, "bump.ll", a64) == \
            codegen.isolated(INLINE_ASM_IR, "bump.ll", a64)
    finally:
        codegen.stop_worker()
    assert not codegen._WORKER

"""JIT linker, AArch64: stubs and the GOT for externals, real compiler output, and the
error paths (range, alignment, wrong instruction, unsupported and TLS relocations)."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from crossjit.errors import LinkError, NotSupportedError
from crossjit.link import LinkedImage, Linker
from crossjit.link.arch import get_arch
from crossjit.link.arch.aarch64 import STUB_TEMPLATE
from tests.prereq import require_tool
from tests.unit.a64_decode import adrp_target, branch_target, imm12_bytes
from tests.unit.test_link_helpers import BASE, link, read, u64

TARGET = "--target=aarch64-linux-gnu"
FAR = BASE + (1 << 31)  # "libc": 2 GiB away, far beyond BL's ±128 MiB


def asm(tmp: Path, src: str, name: str = "t.s") -> bytes:
    clang = require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    path = tmp / name
    path.write_text(src)
    out = path.with_suffix(".o")
    subprocess.run([clang, TARGET, "-c", str(path), "-o", str(out)], check=True,
                   capture_output=True)
    return out.read_bytes()


def cc(tmp: Path, src: str, flags: tuple[str, ...] = ("-O1",)) -> bytes:
    clang = require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    path = tmp / "t.c"
    path.write_text(src)
    out = tmp / "t.o"
    subprocess.run([clang, TARGET, "-c", "-fPIC", *flags, str(path), "-o", str(out)],
                   check=True, capture_output=True)
    return out.read_bytes()


def insn(image: LinkedImage, addr: int) -> int:
    v: int = struct.unpack("<I", read(image, addr, 4))[0]
    return v


def stub_target(image: LinkedImage, stub: int) -> int:
    """What the ``adrp x16; ldr x16; br x16`` stub at ``stub`` jumps to."""
    assert insn(image, stub + 8) == 0xD61F0200, "not a stub (br x16)"
    slot = adrp_target(insn(image, stub), stub) + imm12_bytes(insn(image, stub + 4))
    return u64(image, slot)


def test_names_and_aliases() -> None:
    a = get_arch("aarch64-linux-musl")
    assert a is get_arch("arm64") is get_arch("EM_AARCH64")
    assert a.reloc_name(283) == "R_AARCH64_CALL26"
    assert a.reloc_name(562) == "R_AARCH64_TLSDESC_ADR_PAGE21"
    assert len(a.stub_template) == 12 and a.stub_template == STUB_TEMPLATE


def test_call_to_far_external_goes_through_a_stub(tmp_path: Path) -> None:
    obj = asm(tmp_path, """
        .text
        .globl f
    f:  bl ext_fn
        b  ext_fn
        bl ext_fn2
        ret
    """)
    _, image = link({"t.o": obj}, {"ext_fn": FAR, "ext_fn2": FAR + 0x40}, arch="aarch64")
    f = image.symbols["f"]
    s1 = branch_target(insn(image, f), f)
    assert branch_target(insn(image, f + 4), f + 4) == s1  # one stub per target
    s2 = branch_target(insn(image, f + 8), f + 8)
    assert s1 != s2
    assert stub_target(image, s1) == FAR
    assert stub_target(image, s2) == FAR + 0x40
    assert read(image, s1 + 8, 4) == STUB_TEMPLATE[8:]


def test_compiled_pic_code_reaches_globals_and_externals(tmp_path: Path) -> None:
    obj = cc(tmp_path, """
        extern int printf(const char *, ...);
        extern int ext_var;
        int counter = 3;
        static long table[4] = {10, 20, 30, 40};
        long use(int i) { printf("%d", counter); return table[i & 3] + ext_var; }
    """)
    plan, image = link({"t.o": obj}, {"printf": FAR, "ext_var": FAR + 0x1000}, arch="aarch64")
    assert {e.name for e in plan.externals} == {"printf", "ext_var"}
    use = image.symbols["use"]
    code = [insn(image, use + 4 * i) for i in range(image_size(image, "use") // 4)]
    calls = [use + 4 * i for i, w in enumerate(code) if w & 0xFC000000 == 0x94000000]
    assert [stub_target(image, branch_target(insn(image, c), c)) for c in calls] == [FAR]
    # Every ADRP + LDR pair of a GOT load reads a slot holding a known address.
    slots = set()
    for i, w in enumerate(code):
        if w & 0x9F000000 != 0x90000000:
            continue
        ldr = next((n for n in code[i + 1:] if n & 0xFFC00000 == 0xF9400000
                    and (n >> 5) & 31 == w & 31), None)  # ldr xT, [xRd, #lo12]
        if ldr is not None:
            slots.add(u64(image, adrp_target(w, use + 4 * i) + imm12_bytes(ldr)))
    assert {image.symbols["counter"], FAR + 0x1000} <= slots


def image_size(image: LinkedImage, sym: str) -> int:
    for s in image.sections:
        if s.addr <= image.symbols[sym] < s.addr + s.size:
            return s.addr + s.size - image.symbols[sym]
    raise AssertionError(sym)


def test_misaligned_page_offset_is_a_link_error(tmp_path: Path) -> None:
    obj = asm(tmp_path, """
        .text
        .globl f
    f:  adrp x0, w
        ldr  x1, [x0, :lo12:w]
        ret
        .data
        .p2align 3
        .word 0
        .globl w
    w:  .word 1
    """)
    with pytest.raises(LinkError) as ei:
        link({"t.o": obj}, {}, arch="aarch64")
    err = ei.value
    assert "t.o:(.text+0x4): relocation R_AARCH64_LDST64_ABS_LO12_NC against 'w'" in str(err.why)
    assert "not aligned to the 8-byte access" in str(err.why)


def test_branch_out_of_range_names_object_section_offset(tmp_path: Path) -> None:
    obj = asm(tmp_path, """
        .text
        .globl f, g
    f:  nop
        tbz x0, #1, g
        .space 0x10000
    g:  ret
    """)
    with pytest.raises(LinkError) as ei:
        link({"t.o": obj}, {}, arch="aarch64")
    assert "1 relocation out of range" in ei.value.what
    assert "t.o:(.text+0x4): relocation R_AARCH64_TSTBR14 against 'g' out of range" in str(
        ei.value.why)


def test_relocation_on_the_wrong_instruction_is_a_link_error(tmp_path: Path) -> None:
    obj = asm(tmp_path, """
        .text
        .globl f, g
    f:  .reloc ., R_AARCH64_CALL26, g
        add x0, x0, #1
        ret
        .section .text.g, "ax"
    g:  ret
    """)
    with pytest.raises(LinkError) as ei:
        link({"t.o": obj}, {}, arch="aarch64")
    assert "cannot be applied" in ei.value.what
    assert "t.o:(.text+0x0): relocation R_AARCH64_CALL26 against 'g'" in str(ei.value.why)
    assert "is not B or BL" in str(ei.value.why)


def test_unsupported_relocation_is_named(tmp_path: Path) -> None:
    obj = asm(tmp_path, """
        .data
        .globl h
    h:  .hword h
    """)
    linker = Linker(arch="aarch64")
    with pytest.raises(NotSupportedError) as ei:
        linker.add_object("t.o", obj)
    assert "t.o:(.data+0x0): relocation R_AARCH64_ABS16 against 'h'" in ei.value.what
    assert "not supported" in ei.value.what


def test_x86_object_is_rejected_by_the_aarch64_linker(tmp_path: Path) -> None:
    clang = require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    (tmp_path / "x.c").write_text("int f(void) { return 1; }")
    subprocess.run([clang, "-c", str(tmp_path / "x.c"), "-o", str(tmp_path / "x.o")],
                   check=True)
    with pytest.raises(LinkError):
        Linker(arch="aarch64").add_object("x.o", (tmp_path / "x.o").read_bytes())

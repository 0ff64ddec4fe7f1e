"""JIT linker: every supported x86-64 relocation kind, and the error paths."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from crossjit.errors import LinkError, NotSupportedError, UnresolvedSymbolsError
from crossjit.link import Linker
from crossjit.link.objfile import parse_object
from tests.prereq import require_tool
from tests.unit.test_link_helpers import BASE, call_target, cc, i32, link, read, through_stub, u64

# One field per relocation kind, each behind a global label so the test can find it.
KINDS_S = r"""
    .text
    .globl f, local_fn, t32, t32s, tpc32, tgot, tcall, tcallx, tgotpc64
f:
t32:      movl $local_data, %eax
t32s:     movq $local_data, %rax
tpc32:    leaq local_data(%rip), %rax
tgot:     movq ext_data@GOTPCREL(%rip), %rax
tcall:    call local_fn
tcallx:   call ext_fn@PLT
tgotpc64: movabsq $_GLOBAL_OFFSET_TABLE_, %rcx
          ret
local_fn: ret

    .section .rodata,"a"
    .globl r64, r64x, rpc32, rpc64, rsz32, rsz64, rgotoff, rgot64, rgotpcrel64, rgotpc32
    .globl rpc16, rpc8, near
    .p2align 3
r64:      .quad local_data
r64x:     .quad ext_data + 16
rpc32:    .long local_data - .
          .long 0
rpc64:    .quad local_data - .
rsz32:    .long sized@SIZE
          .long 0
rsz64:    .quad sized@SIZE + 3
rgotoff:  .quad local_data@GOTOFF
rgot64:   .quad ext_data@GOT
rgotpcrel64: .reloc ., R_X86_64_GOTPCREL64, ext_data
          .quad 0
rgotpc32: .reloc ., R_X86_64_GOTPC32, _GLOBAL_OFFSET_TABLE_
          .long 0
rpc16:    .reloc ., R_X86_64_PC16, local_data
          .word 0
rpc8:     .reloc ., R_X86_64_PC8, near
          .byte 0
near:     .byte 0

    .data
    .globl local_data, sized
local_data: .quad 0x1122334455667788
    .type sized,@object
    .size sized, 24
sized:    .zero 24
"""

EXT_FN, EXT_DATA = 0x7FFF_0000_1000, 0x7FFF_0000_2000
LOW_BASE = 0x1000_0000  # below 4 GiB, so absolute 32-bit relocations fit


def kinds_object(tmp_path: Path) -> bytes:
    return cc(tmp_path, KINDS_S, "kinds.s", ("-fno-pic",))


def test_every_relocation_kind(tmp_path: Path) -> None:
    _, img = link(
        {"kinds.o": kinds_object(tmp_path)}, {"ext_fn": EXT_FN, "ext_data": EXT_DATA}, base=LOW_BASE
    )
    s = img.symbols
    data, got = s["local_data"], s["_GLOBAL_OFFSET_TABLE_"]

    def u32(a: int) -> int:
        v: int = struct.unpack("<I", read(img, a, 4))[0]
        return v

    # Code.
    assert u32(s["t32"] + 1) == data  # R_X86_64_32: S + A
    assert i32(img, s["t32s"] + 3) == data  # R_X86_64_32S
    assert s["tpc32"] + 7 + i32(img, s["tpc32"] + 3) == data  # PC32: S + A - P
    slot = s["tgot"] + 7 + i32(img, s["tgot"] + 3)  # REX_GOTPCRELX: G + A - P
    assert u64(img, slot) == EXT_DATA
    assert call_target(img, s["tcall"] + 1) == s["local_fn"]  # PLT32 to local: direct
    assert through_stub(img, call_target(img, s["tcallx"] + 1)) == EXT_FN  # PLT32: stub
    assert u64(img, s["tgotpc64"] + 2) == got - s["tgotpc64"]  # GOTPC64: GOT + A - P, A = 2
    # Data.
    assert u64(img, s["r64"]) == data  # 64
    assert u64(img, s["r64x"]) == EXT_DATA + 16  # 64 to an external: any distance
    assert s["rpc32"] + i32(img, s["rpc32"]) == data  # PC32
    assert (s["rpc64"] + u64(img, s["rpc64"])) % (1 << 64) == data  # PC64
    assert u32(s["rsz32"]) == 24  # SIZE32: Z + A
    assert u64(img, s["rsz64"]) == 27  # SIZE64
    assert (got + u64(img, s["rgotoff"])) % (1 << 64) == data  # GOTOFF64: S + A - GOT
    assert u64(img, got + u64(img, s["rgot64"])) == EXT_DATA  # GOT64: G (offset in GOT)
    assert u64(img, s["rgotpcrel64"] + u64(img, s["rgotpcrel64"])) == EXT_DATA  # GOTPCREL64
    assert s["rgotpc32"] + i32(img, s["rgotpc32"]) == got  # GOTPC32
    pc16 = struct.unpack("<h", read(img, s["rpc16"], 2))[0]
    assert s["rpc16"] + pc16 == data  # PC16
    assert s["rpc8"] + struct.unpack("<b", read(img, s["rpc8"], 1))[0] == s["near"]  # PC8


def test_absolute_32bit_relocations_out_of_range_above_4gib(tmp_path: Path) -> None:
    with pytest.raises(LinkError) as err:
        link({"kinds.o": kinds_object(tmp_path)}, {"ext_fn": EXT_FN, "ext_data": EXT_DATA})
    msg = str(err.value)
    assert "2 relocations out of range" in msg
    assert "kinds.o:(.text+0x1): relocation R_X86_64_32 against 'local_data' out of range: " in msg
    assert "is not in [0, 4294967295]" in msg
    assert "kinds.o:(.text+0x8): relocation R_X86_64_32S against 'local_data'" in msg
    assert "is not in [-2147483648, 2147483647]" in msg


def test_pc32_data_reference_to_far_external_is_an_error(tmp_path: Path) -> None:
    obj = cc(
        tmp_path,
        "extern int ext_var; int get(void) { return ext_var; }",
        "np.c",
        ("-fno-pic", "-O2"),
    )
    with pytest.raises(LinkError) as err:
        link({"np.o": obj}, {"ext_var": BASE + (1 << 33)})
    e = err.value
    assert e.why is not None
    assert "np.o:(.text+0x2): relocation R_X86_64_PC32 against 'ext_var' out of range: " in e.why
    assert e.hint is not None and "-fPIC" in e.hint
    # Near enough, the same object links (the executor happened to be close).
    _, image = link({"np.o": obj}, {"ext_var": BASE + 0x10_0000})
    assert image.symbols["get"] + 6 + i32(image, image.symbols["get"] + 2) == BASE + 0x10_0000


def test_wrong_architecture(tmp_path: Path) -> None:
    arm = cc(tmp_path, "int f(void) { return 1; }", "arm.c", ("--target=aarch64-linux-gnu",))
    with pytest.raises(LinkError) as err:
        Linker().add_object("arm.o", arm)
    msg = str(err.value)
    assert "arm.o: wrong architecture" in msg and "AArch64" in msg and "x86_64" in msg
    i386 = cc(tmp_path, "int f(void) { return 1; }", "x86.c", ("-m32",))
    with pytest.raises(LinkError, match=r"x86.o: wrong architecture: it is an ELF32 .*Intel 80386"):
        Linker().add_object("x86.o", i386)


def test_not_elf_and_not_relocatable(tmp_path: Path) -> None:
    with pytest.raises(LinkError, match=r"junk.o: not an ELF object file"):
        Linker().add_object("junk.o", b"!<arch>\nfoo")
    clang = require_tool("clang-16")
    src = tmp_path / "lib.c"
    src.write_text("int f(void) { return 1; }")
    subprocess.run(
        [clang, "-shared", "-fPIC", "-nostdlib", str(src), "-o", str(tmp_path / "lib.so")],
        check=True,
        capture_output=True,
    )
    with pytest.raises(LinkError, match=r"lib.so: is an ELF64 .* not a relocatable object"):
        Linker().add_object("lib.so", (tmp_path / "lib.so").read_bytes())
    with pytest.raises(LinkError, match="malformed"):
        Linker().add_object("cut.o", cc(tmp_path, "int g;", "cut.c")[:100])


def test_unknown_relocation_type(tmp_path: Path) -> None:
    data = bytearray(cc(tmp_path, "extern int x; int *p(void) { return &x; }", "u.c"))
    obj = parse_object("u.o", bytes(data), machine="EM_X86_64", machine_label="x86_64")
    table = next(t for t in obj.relocs.values() if t.name == ".rela.text")
    off, rtype, symi, addend = table.entries()[0]
    entry = struct.pack("<QQq", off, symi << 32 | rtype, addend)
    pos = data.find(entry)
    struct.pack_into("<QQq", data, pos, off, symi << 32 | 250, addend)
    with pytest.raises(LinkError) as err:
        Linker().add_object("u.o", bytes(data))
    msg = str(err.value)
    assert f"u.o:(.text+{off:#x}): relocation R_X86_64_<unknown 250> against 'x'" in msg
    assert "unknown relocation type 250 for x86_64" in msg


def test_duplicate_definitions_name_both_objects(tmp_path: Path) -> None:
    a = cc(tmp_path, "int dup = 1; int twice(void) { return 2; }", "a.c")
    b = cc(tmp_path, "int dup = 2; int twice(void) { return 3; } int ok;", "b.c")
    linker = Linker()
    linker.add_object("a.o", a)
    linker.add_object("b.o", b)
    with pytest.raises(LinkError) as err:
        linker.plan()
    msg = str(err.value)
    assert "2 duplicate symbol definitions" in msg
    assert (
        "duplicate symbol: dup\n>>> defined at a.o:(.data+0x0)\n>>> defined at b.o:(.data+0x0)"
        in msg
    )
    assert "duplicate symbol: twice" in msg


def test_unresolved_symbols_are_all_listed(tmp_path: Path) -> None:
    a = cc(tmp_path, "void one(void); void two(void); void f(void) { one(); two(); }", "a.c")
    b = cc(
        tmp_path, "void two(void); extern int three; int g(void) { two(); return three; }", "b.c"
    )
    c = cc(
        tmp_path,
        "__attribute__((weak)) void maybe(void); void h(void) { if (maybe) maybe(); }",
        "c.c",
    )
    linker = Linker()
    for name, data in (("a.o", a), ("b.o", b), ("c.o", c)):
        linker.add_object(name, data)
    plan = linker.plan()
    with pytest.raises(UnresolvedSymbolsError) as err:
        plan.finish(BASE, {"one": None})
    assert err.value.missing == {"one": ["a.o"], "two": ["a.o", "b.o"], "three": ["b.o"]}
    assert "3 unresolved symbols" in str(err.value)


def test_misaligned_base(tmp_path: Path) -> None:
    linker = Linker()
    linker.add_object("a.o", cc(tmp_path, "int f(void) { return 1; }", "a.c"))
    plan = linker.plan()
    with pytest.raises(LinkError, match="not aligned"):
        plan.finish(BASE + 0x10, {})


def test_unknown_architecture() -> None:
    with pytest.raises(NotSupportedError, match="riscv64"):
        Linker(arch="riscv64-linux-gnu")
    assert Linker(arch="x86_64-unknown-linux-gnu").arch.name == "x86_64"

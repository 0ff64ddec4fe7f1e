"""JIT linker: thread-local storage on AArch64 (TLS descriptors) — every TLSDESC sequence
reaches a descriptor {resolver, index entry}, the linker-made resolver is the machine
code its comments say, LLVM's local-dynamic form, and the refusals. Checked on the
linked bytes of llvmlite and clang-16 objects; running it is tests/integration/
test_tls_aarch64.py's job."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from crossjit.errors import NotSupportedError
from crossjit.link import LinkedImage, Linker
from crossjit.link.arch.aarch64 import TLSDESC_RESOLVER, TLSDESC_RESOLVER_ASM
from crossjit.link.graph import Prot
from crossjit.link.objfile import ObjectFile, parse_object
from crossjit.link.tables import LINKER_OBJ
from crossjit.link.tls import DESCRIPTOR_SIZE, INDEX_ENTRY_SIZE, MODULE_SIZE
from tests.prereq import require_tool
from tests.unit.a64_decode import adrp_target, branch_target, imm12_bytes
from tests.unit.test_link_helpers import cc, link, llvmlite_obj, read, section, u64
from tests.unit.test_link_tls import module_offsets

A64 = "aarch64-unknown-linux-gnu"
ADR_PAGE21, LD64_LO12, ADD_LO12, CALL = 562, 563, 564, 569
DTPREL_HI12, DTPREL_LO12_NC = 528, 530

SRC = r"""
__thread int gd = 5;                                     /* .tdata */
static __thread int ld = 7;                              /* .tdata, local */
__attribute__((visibility("hidden"))) __thread long hid; /* .tbss */
__thread _Alignas(64) char al[3] = {1, 2, 3};            /* .tdata, aligned */
__thread const char *str = "hello";                      /* .tdata pointer to a literal */
_Thread_local int zero[5];                               /* .tbss */
struct pair { long a, b; };
__thread struct pair pr = {1, 2};
int get(void) { return gd + ld + (int)hid + al[1] + str[0] + zero[2] + (int)pr.b; }
long *hid_addr(void) { return &hid; }
long *b_addr(void) { return &pr.b; }
"""
# Stands in for runtime/tls.c (and crt.c's hook): what the resolver calls.
RUNTIME = "long __crossjit_tls_get_addr(long *ti) { return ti[1]; }"


def parse(name: str, data: bytes) -> ObjectFile:
    return parse_object(name, data, machine="EM_AARCH64", machine_label="aarch64")


def insn(image: LinkedImage, addr: int) -> int:
    v: int = struct.unpack("<I", read(image, addr, 4))[0]
    return v


def sequences(obj: ObjectFile) -> list[tuple[int, int, int, str, int]]:
    """(ADRP, LDR, ADD offsets, symbol, addend) of every TLSDESC sequence in .text."""
    text = next(i for i, s in enumerate(obj.sections) if s.name == ".text")
    by_type: dict[int, list[tuple[int, str, int]]] = {}
    for off, t, symi, addend in obj.relocs[text].entries():
        by_type.setdefault(t, []).append((off, obj.symbols[symi].name, addend))
    pages, lds, adds = by_type[ADR_PAGE21], by_type[LD64_LO12], by_type[ADD_LO12]
    assert len(pages) == len(lds) == len(adds) == len(by_type[CALL])
    return [(p[0], ld[0], a[0], p[1], p[2]) for p, ld, a in zip(pages, lds, adds, strict=True)]


def descriptor_of(image: LinkedImage, text: int, adrp: int, ldr: int, add: int) -> int:
    """The descriptor a sequence reaches: the LDR and the ADD agree on it."""
    page = adrp_target(insn(image, text + adrp), text + adrp)
    d = page + imm12_bytes(insn(image, text + ldr))
    assert page + imm12_bytes(insn(image, text + add)) == d
    assert insn(image, text + ldr) >> 22 == 0xF9400000 >> 22  # still a 64-bit LDR
    return d


@pytest.fixture(params=["llvmlite-O0", "llvmlite-O2", "clang-O2-g"])
def objects(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, bytes]:
    kind, opt, *g = request.param.split("-")
    flags = (f"-{opt}", *(["-g"] if g else []))
    if kind == "llvmlite":
        t = llvmlite_obj(tmp_path, SRC, "t.c", flags, opt=int(opt[1]), triple=A64)
    else:
        t = cc(tmp_path, SRC, "t.c", (f"--target={A64}", *flags))
    return {"t.o": t, "rt.o": cc(tmp_path, RUNTIME, "rt.c", (f"--target={A64}", "-O2"))}


def test_sequences_reach_descriptors(objects: dict[str, bytes]) -> None:
    _, image = link(objects, arch="aarch64")
    obj = parse("t.o", objects["t.o"])
    offsets = module_offsets(obj)
    text = section(image, "t.o", ".text")
    get_addr = image.symbols["__crossjit_tls_get_addr"]
    resolver = section(image, LINKER_OBJ, ".crossjit.tlsdesc_resolver")
    seqs = sequences(obj)
    assert {s[3] for s in seqs} >= {"gd", "ld", "hid", "al", "str", "zero", "pr"}
    descs: dict[int, int] = {}
    module = None
    for adrp, ldr, add, sym, addend in seqs:
        d = descriptor_of(image, text, adrp, ldr, add)
        assert d % 8 == 0, sym
        assert u64(image, d) == resolver, sym
        entry = u64(image, d + 8)
        mod, off = struct.unpack("<QQ", read(image, entry, INDEX_ENTRY_SIZE))
        assert off == offsets[sym] + addend, sym  # the addend is folded into the entry
        module = module if module is not None else mod
        assert mod == module
        assert descs.setdefault(off, d) == d, "one descriptor per offset"
    assert module is not None
    _, _, init, init_size, size, align = struct.unpack("<IiQQQQ",
                                                       read(image, module, MODULE_SIZE))
    assert (size, align) == (offsets[""], 64)
    assert read(image, init, init_size)[offsets["gd"]:offsets["gd"] + 4] == \
        struct.pack("<i", 5)
    # The resolver: the documented words, its BL bound to __crossjit_tls_get_addr.
    code = read(image, resolver, len(TLSDESC_RESOLVER))
    call = next(4 * i for i, (_, a) in enumerate(TLSDESC_RESOLVER_ASM) if a.startswith("bl "))
    assert code[:call] == TLSDESC_RESOLVER[:call]
    assert code[call + 4:] == TLSDESC_RESOLVER[call + 4:]
    assert branch_target(insn(image, resolver + call), resolver + call) == get_addr
    # Descriptors are read-only once linked, the resolver executable.
    for addr, prot in ((next(iter(descs.values())), Prot.READ), (resolver, Prot.READ | Prot.EXEC)):
        seg = next(s for s in image.segments if s.addr <= addr < s.addr + s.size)
        assert seg.prot == prot
    table = section(image, LINKER_OBJ, ".crossjit.tlsdesc")
    assert sorted(descs.values()) == [table + i * DESCRIPTOR_SIZE for i in range(len(descs))]


def test_resolver_words_are_what_clang_assembles(tmp_path: Path) -> None:
    clang = require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    src = tmp_path / "r.s"
    src.write_text(".text\n" + "".join(f"  {a}\n" for _, a in TLSDESC_RESOLVER_ASM))
    out = tmp_path / "r.o"
    subprocess.run([clang, f"--target={A64}", "-c", str(src), "-o", str(out)], check=True,
                   capture_output=True)
    obj = parse("r.o", out.read_bytes())
    text = next(s for s in obj.sections if s.name == ".text")
    assert text.data == TLSDESC_RESOLVER  # the BL's field is 0 in both, relocated later
    # Everything the resolver's ordinary callee may clobber is saved and restored.
    asm = [a for _, a in TLSDESC_RESOLVER_ASM]
    for r in [f"x{i}" for i in range(1, 19)] + ["x29", "x30"] + [f"q{i}" for i in range(32)]:
        assert any(a.startswith("stp") and f" {r}," in a + "," for a in asm), r
        assert any(a.startswith("ldp") and f" {r}," in a + "," for a in asm), r


def test_local_dynamic_module_base(tmp_path: Path) -> None:
    """LLVM's local dynamic (-mllvm -aarch64-elf-ldtls-generation=1): one TLSDESC call
    for _TLS_MODULE_BASE_ (module offset 0), then two ADDs of the variable's offset."""
    # Whatever order the compiler puts them in, one lies beyond 4 KiB: both halves used.
    src = ("static __thread char p1[5000] = {3}; static __thread int a = 1; "
           "static __thread char p2[5000] = {4}; static __thread int b = 2; "
           "int f(int i) { return a + p1[i] + p2[i] + b; }")
    t = cc(tmp_path, src, "ld.c", (f"--target={A64}", "-O2", "-mllvm",
                                   "-aarch64-elf-ldtls-generation=1"))
    rt = cc(tmp_path, RUNTIME, "rt.c", (f"--target={A64}", "-O2"))
    _, image = link({"t.o": t, "rt.o": rt}, arch="aarch64")
    obj = parse("t.o", t)
    offsets = module_offsets(obj)
    text = section(image, "t.o", ".text")
    for adrp, ldr, add, sym, _ in sequences(obj):
        assert sym == "_TLS_MODULE_BASE_"
        entry = u64(image, descriptor_of(image, text, adrp, ldr, add) + 8)
        assert u64(image, entry + 8) == 0
    ti = next(i for i, s in enumerate(obj.sections) if s.name == ".text")
    seen = set()
    for off, t_, symi, addend in obj.relocs[ti].entries():
        if t_ in (DTPREL_HI12, DTPREL_LO12_NC):
            name = obj.symbols[symi].name
            value = offsets[name] + addend
            imm = imm12_bytes(insn(image, text + off))
            assert imm == (value >> 12 if t_ == DTPREL_HI12 else value & 0xFFF), name
            seen.add((name, t_))
    far = max(("a", "b", "p1", "p2"), key=offsets.__getitem__)
    assert offsets[far] >= 4096 and (far, DTPREL_HI12) in seen  # the high half is used


@pytest.mark.parametrize(("model", "reloc"), [
    ("initial-exec", "R_AARCH64_TLSIE_ADR_GOTTPREL_PAGE21"),
    ("local-exec", "R_AARCH64_TLSLE_ADD_TPREL_HI12"),
])
def test_exec_models_are_refused(tmp_path: Path, model: str, reloc: str) -> None:
    t = llvmlite_obj(tmp_path, "__thread int v = 1; int f(void) { return v; }", "ie.c",
                     ("-O2", f"-ftls-model={model}"), triple=A64)
    with pytest.raises(NotSupportedError) as ei:
        Linker(arch="aarch64").add_object("ie.o", t)
    msg = str(ei.value)
    assert "ie.o:(.text+" in msg and reloc in msg and "'v'" in msg, msg
    assert "initial-exec, local-exec or traditional general-dynamic" in msg, msg
    assert "TLS descriptors" in msg and "-mtls-dialect=trad" in msg, msg


def test_tls_defined_outside_the_program_is_refused(tmp_path: Path) -> None:
    t = llvmlite_obj(tmp_path, "extern __thread int v; int f(void) { return v; }", "x.c",
                     ("-O2",), triple=A64)
    rt = cc(tmp_path, RUNTIME, "rt.c", (f"--target={A64}", "-O2"))
    with pytest.raises(NotSupportedError) as ei:
        link({"x.o": t, "rt.o": rt}, arch="aarch64")
    msg = str(ei.value)
    assert "R_AARCH64_TLSDESC_ADR_PAGE21 against 'v'" in msg, msg
    assert "not defined in the JIT'd program" in msg, msg


def test_sequence_addend_selects_the_byte(tmp_path: Path) -> None:
    """``:tlsdesc:d+8`` (AAELF64: S + A) describes d + 8, not the slot after d's
    descriptor (ld.lld-16 applies it to the descriptor's address instead)."""
    asm = ("  .text\n  .globl f\nf:\n  adrp x0, :tlsdesc:d+8\n"
           "  ldr x1, [x0, :tlsdesc_lo12:d+8]\n  add x0, x0, :tlsdesc_lo12:d+8\n"
           "  .tlsdesccall d\n  blr x1\n  ret\n")
    a = cc(tmp_path, asm, "a.s", (f"--target={A64}",))
    t = cc(tmp_path, "__thread long pad = 1; __thread struct { long x, y; } d;", "d.c",
           (f"--target={A64}", "-O2"))
    rt = cc(tmp_path, RUNTIME, "rt.c", (f"--target={A64}", "-O2"))
    _, image = link({"a.o": a, "d.o": t, "rt.o": rt}, arch="aarch64")
    d_off = module_offsets(parse("d.o", t))["d"]
    text = section(image, "a.o", ".text")
    entry = u64(image, descriptor_of(image, text, 0, 4, 8) + 8)
    assert u64(image, entry + 8) == d_off + 8

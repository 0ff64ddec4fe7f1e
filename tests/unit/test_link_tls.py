"""JIT linker: thread-local storage (link/tls.py) — the module, index entries, rewritten
TLS relocations and the refusals, checked on the linked bytes of clang-16 and llvmlite
objects. Running the result on executors is tests/integration/test_tls.py's job."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from crossjit.errors import LinkError, NotSupportedError
from crossjit.link import LinkedImage, Linker, LinkPlan
from crossjit.link.objfile import SHF_TLS, SHT_NOBITS, ObjectFile, parse_object
from crossjit.link.tls import INDEX_ENTRY_SIZE, MODULE_SIZE, has_tls_sections
from tests.unit.test_link_helpers import BASE, cc, i32, link, llvmlite_obj, read, section, u64

R_TLSGD, R_TLSLD, R_DTPOFF32, R_DTPOFF64, R_PLT32 = 19, 20, 21, 17, 4

SRC = r"""
__thread int gd = 5;                                   /* .tdata, general dynamic */
static __thread int ld = 7;                            /* .tdata, local dynamic */
__attribute__((visibility("hidden"))) __thread long hid; /* .tbss, local dynamic */
__thread _Alignas(64) char al[3] = {1, 2, 3};          /* .tdata, aligned */
__thread const char *str = "hello";                    /* .tdata pointer to a literal */
_Thread_local int zero[5];                             /* .tbss */
int get(void) { return gd + ld + (int)hid + al[1] + str[0] + zero[2]; }
long *hid_addr(void) { return &hid; }
"""
RUNTIME = "long __crossjit_tls_get_addr(long *ti) { return ti[1]; }"  # stands in for tls.c


def parse(name: str, data: bytes) -> ObjectFile:
    return parse_object(name, data, machine="EM_X86_64", machine_label="x86_64")


def module_offsets(obj: ObjectFile) -> dict[str, int]:
    """Every TLS symbol's offset in a one-object module, computed from the ELF alone:
    .tdata sections first (aligned), then .tbss ones; ``""``: the module's size."""
    tls = [s for s in obj.sections if s.flags & SHF_TLS]
    start: dict[int, int] = {}
    end = 0
    for s in sorted(tls, key=lambda s: s.type == SHT_NOBITS):
        end = (end + s.align - 1) // s.align * s.align
        start[s.index] = end
        end += s.size
    out = {s.name: start[s.shndx] + s.value for s in obj.symbols
           if s.shndx in start and s.name and s.type != 3}
    out[""] = end
    return out


def relocs(obj: ObjectFile, section_name: str, rtype: int) -> list[tuple[int, str, int]]:
    """(offset, symbol name, addend) of every ``rtype`` relocation in the section."""
    out = []
    for target, table in obj.relocs.items():
        if obj.sections[target].name == section_name:
            for off, t, symi, addend in table.entries():
                if t == rtype:
                    out.append((off, obj.symbols[symi].name, addend))
    return out


def descriptor(image: LinkedImage, entry: int) -> tuple[int, int, tuple[int, ...]]:
    """(module address, offset) of an index entry, and the module's 40-byte fields."""
    module, offset = struct.unpack("<QQ", read(image, entry, INDEX_ENTRY_SIZE))
    fields = struct.unpack("<IiQQQQ", read(image, module, MODULE_SIZE))
    return module, offset, fields


@pytest.fixture(params=["clang", "llvmlite"])
def objects(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, bytes]:
    make = cc if request.param == "clang" else llvmlite_obj
    return {"t.o": make(tmp_path, SRC, "t.c", ("-O2",)),
            "rt.o": cc(tmp_path, RUNTIME, "rt.c", ("-O2",))}


def test_module_entries_and_offsets(objects: dict[str, bytes]) -> None:
    plan, image = link(objects)
    obj = parse("t.o", objects["t.o"])
    offsets = module_offsets(obj)
    assert "__tls_get_addr" not in {e.name for e in plan.externals}
    text = section(image, "t.o", ".text")
    rt = image.symbols["__crossjit_tls_get_addr"]

    gd_sites = relocs(obj, ".text", R_TLSGD)
    ld_sites = relocs(obj, ".text", R_TLSLD)
    assert {n for _, n, _ in gd_sites} >= {"gd", "al", "str"}
    modules = set()
    for off, name, addend in gd_sites:
        entry = text + off - addend + i32(image, text + off)  # the lea's target
        module, offset, _ = descriptor(image, entry)
        assert offset == offsets[name], name
        modules.add(module)
    for off, _, addend in ld_sites:
        entry = text + off - addend + i32(image, text + off)
        module, offset, _ = descriptor(image, entry)
        assert offset == 0
        modules.add(module)
    assert len(modules) == 1  # one module per image
    (module,) = modules
    key, state, init, init_size, size, align = struct.unpack(
        "<IiQQQQ", read(image, module, MODULE_SIZE))
    assert (key, state) == (0, 0)
    tdata = [s for s in obj.sections if s.flags & SHF_TLS and s.type != SHT_NOBITS]
    assert init_size == sum(s.size for s in tdata)  # one .tdata section here
    assert size == offsets[""]
    assert align == 64
    # The init image: .tdata's bytes, its pointer to the string literal relocated.
    img = read(image, init, init_size)
    assert struct.unpack_from("<i", img, offsets["gd"])[0] == 5
    assert img[offsets["al"] : offsets["al"] + 3] == b"\1\2\3"
    assert read(image, struct.unpack_from("<Q", img, offsets["str"])[0], 6) == b"hello\0"
    # Local dynamic: DTPOFF32 is the variable's module offset.
    for off, name, addend in relocs(obj, ".text", R_DTPOFF32):
        assert i32(image, text + off) == offsets[name] + addend
    # Every __tls_get_addr call goes straight to the runtime's (no stub: it is internal).
    for off, name, addend in relocs(obj, ".text", R_PLT32):
        if name == "__tls_get_addr":
            assert text + off - addend + i32(image, text + off) == rt
    # TLS symbols have no address of their own.
    assert "gd" not in image.symbols and "get" in image.symbols


def test_tdata_and_tbss_across_objects(tmp_path: Path) -> None:
    """extern TLS across TUs (GD in the user); two objects' sections in one module."""
    a = cc(tmp_path, "__thread int a1 = 11; __thread char a2[100];", "a.c")
    b = cc(tmp_path, "__thread long b1 = 22; static __thread int b2;"
           "extern __thread int a1; extern __thread char a2[100];"
           "int use(void) { return a1 + a2[3] + (int)b1 + b2++; }", "b.c", ("-O2",))
    rt = cc(tmp_path, RUNTIME, "rt.c")
    _, image = link({"a.o": a, "b.o": b, "rt.o": rt})
    ob = parse("b.o", b)
    text = section(image, "b.o", ".text")
    got = {}
    for off, name, addend in relocs(ob, ".text", R_TLSGD):
        _, offset, fields = descriptor(image, text + off - addend + i32(image, text + off))
        got[name] = offset
    init_size, size = fields[3], fields[4]
    # .tdata: a1 (a.o) at 0, b1 (b.o) at 8; .tbss after them: a2 (a.o) at 16, b2 at 116.
    assert got["a1"] == 0 and got["b1"] == 8 and got["a2"] == 16
    assert init_size == 16 and size == 120
    sites = relocs(ob, ".text", R_DTPOFF32)
    assert sites and all(i32(image, text + off) == 116 for off, _, _ in sites)


def test_debug_info_dtpoff64(tmp_path: Path) -> None:
    data = cc(tmp_path, SRC, "t.c", ("-O0", "-g"))
    _, image = link({"t.o": data, "rt.o": cc(tmp_path, RUNTIME, "rt.c")})
    obj = parse("t.o", data)
    offsets = module_offsets(obj)
    info = image.debug_sections()["t.o"][".debug_info"]
    sites = relocs(obj, ".debug_info", R_DTPOFF64)
    assert {n for _, n, _ in sites} >= {"gd", "ld", "hid", "al", "str", "zero"}
    for off, name, addend in sites:
        assert struct.unpack_from("<Q", info, off)[0] == offsets[name] + addend


def test_no_runtime_is_an_unresolved_symbol(tmp_path: Path) -> None:
    plan = _plan({"t.o": cc(tmp_path, SRC)})
    assert "__crossjit_tls_get_addr" in {e.name for e in plan.externals}


def test_no_tls_no_module(tmp_path: Path) -> None:
    data = cc(tmp_path, "int x = 1; int f(void) { return x; }")
    assert not has_tls_sections(data)
    _, image = link({"t.o": data})
    assert not any("tls" in s.section for s in image.sections)


def test_has_tls_sections(tmp_path: Path) -> None:
    assert has_tls_sections(cc(tmp_path, "__thread int v;"))
    assert has_tls_sections(cc(tmp_path, "__thread int v = 1;"))
    assert not has_tls_sections(b"not an object")
    assert not has_tls_sections(b"\x7fELF\x02\x01" + bytes(100))


def _plan(objects: dict[str, bytes]) -> LinkPlan:
    linker = Linker()
    for name, data in objects.items():
        linker.add_object(name, data)
    return linker.plan()


@pytest.mark.parametrize(
    ("flags", "reloc"),
    [(("-ftls-model=initial-exec",), "R_X86_64_GOTTPOFF"),
     (("-fno-pic",), "R_X86_64_GOTTPOFF"),
     (("-ftls-model=local-exec",), "R_X86_64_TPOFF32")],
)
def test_exec_models_refused(tmp_path: Path, flags: tuple[str, ...], reloc: str) -> None:
    src = "extern __thread int tv; int get(void) { return tv; }"
    if "local-exec" in flags[0]:
        src = "__thread int tv; int get(void) { return tv; }"
    obj = cc(tmp_path, src, "tls.c", (*flags, "-O2"))
    with pytest.raises(NotSupportedError) as err:
        Linker().add_object("tls.o", obj)
    e = err.value
    assert reloc in e.what and "tls.o:(.text+" in e.what and "'tv'" in e.what
    assert "initial-exec" in e.what and e.hint is not None and "general-dynamic" in e.hint


def test_extern_tls_outside_the_image_refused(tmp_path: Path) -> None:
    obj = cc(tmp_path, "extern __thread int tv; int get(void) { return tv; }", "tls.c", ("-O2",))
    with pytest.raises(NotSupportedError) as err:
        _plan({"tls.o": obj})
    e = err.value
    assert "R_X86_64_TLSGD against 'tv'" in e.what and "not defined in the JIT'd program" in e.what
    assert e.hint is not None and "define the variable" in e.hint


def test_plain_relocation_against_tls_symbol_rejected(tmp_path: Path) -> None:
    # An R_X86_64_64 to a TLS variable: what no compiler emits for valid C.
    asm = tmp_path / "bad.s"
    asm.write_text(".section .tbss,\"awT\",@nobits\nv: .zero 4\n"
                   ".data\n.quad v\n")
    subprocess.run(["clang-16", "-c", str(asm), "-o", str(tmp_path / "bad.o")], check=True)
    with pytest.raises(LinkError, match="not a thread-local relocation"):
        _plan({"bad.o": (tmp_path / "bad.o").read_bytes()})


def test_base_independent(tmp_path: Path) -> None:
    """Module offsets and entries do not depend on where the image is loaded."""
    objs = {"t.o": cc(tmp_path, SRC, "t.c", ("-O2",)), "rt.o": cc(tmp_path, RUNTIME, "rt.c")}
    _, a = link(objs)
    _, b = link(objs, base=BASE + 0x4000_0000)
    obj = parse("t.o", objs["t.o"])
    for img in (a, b):
        text = section(img, "t.o", ".text")
        off, _, addend = relocs(obj, ".text", R_TLSGD)[0]
        entry = text + off - addend + i32(img, text + off)
        assert u64(img, entry) >= img.base  # the module pointer is relocated

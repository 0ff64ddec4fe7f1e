"""JIT linker: C++ COMDAT groups, .eh_frame merging, .init_array/.fini_array, debug sections."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from crossjit.errors import LinkError, NotSupportedError
from crossjit.link import LinkedImage, Linker
from tests.unit.test_link_helpers import BASE, cc, link, read, section, u64

X_H = r"""
struct Shape { virtual ~Shape() {} virtual int area() const { return 0; } };
struct Sq : Shape { int s; explicit Sq(int s) : s(s) {} int area() const override { return s*s; } };
inline int helper(int x) { if (x < 0) throw x; return x + 1; }
template <typename T> T twice(T v) { return v + v; }
"""
X1 = X_H + "int from1(int v) { Sq q(v); const Shape &s = q; return helper(s.area()) + twice(v); }"
X2 = (
    X_H
    + r"""
int from1(int v);
int main() {
  int r = from1(3) + twice(2) + helper(1);
  try { helper(-1); } catch (int e) { r += 1000; }
  return r;
}
"""
)


def cxx_objects(tmp_path: Path, opt: str) -> dict[str, bytes]:
    flags = (opt, "-g", "-x", "c++")
    return {"x1.o": cc(tmp_path, X1, "x1.cc", flags), "x2.o": cc(tmp_path, X2, "x2.cc", flags)}


def eh_records(image: LinkedImage) -> list[tuple[int, int, int]]:
    """(record address, CIE address for FDEs or 0 for CIEs, pc_begin) of the merged .eh_frame,
    checking it ends with the zero terminator."""
    assert image.eh_frame is not None
    start, size = image.eh_frame
    data = read(image, start, size)
    assert data[-4:] == b"\0\0\0\0"
    out = []
    off = 0
    while True:
        (length,) = struct.unpack_from("<I", data, off)
        if length == 0:
            assert off == size - 4, "terminator before the end of the region"
            break
        (cie_id,) = struct.unpack_from("<I", data, off + 4)
        if cie_id == 0:
            out.append((start + off, 0, 0))
        else:
            cie = off + 4 - cie_id
            assert struct.unpack_from("<I", data, cie + 4)[0] == 0, "CIE pointer is off"
            (pc_rel,) = struct.unpack_from("<i", data, off + 8)
            out.append((start + off, start + cie, start + off + 8 + pc_rel))
        off += 4 + length
    return out


@pytest.mark.parametrize("opt", ["-O0", "-O2"])
def test_cxx_comdat_groups_keep_first_copy(tmp_path: Path, opt: str) -> None:
    plan, image = link(cxx_objects(tmp_path, opt))
    # One copy of each inline function / template / vtable: x1.o's.
    for mangled in ("_Z6helperi", "_ZTV2Sq", "_ZN2Sq4areaEv"):
        if mangled in image.symbols:
            assert image.symbol_at(image.symbols[mangled]) == (mangled, "x1.o")
    loaded = {(s.object, s.section) for s in image.sections}
    assert ("x1.o", ".text._Z6helperi") in loaded or opt == "-O2"
    assert ("x2.o", ".text._Z6helperi") not in loaded
    assert ("x2.o", ".data.rel.ro._ZTV2Sq") not in loaded
    ext = {e.name for e in plan.externals}
    assert {"__cxa_allocate_exception", "__cxa_throw", "__gxx_personality_v0"} <= ext


@pytest.mark.parametrize("opt", ["-O0", "-O2"])
def test_eh_frame_merged_without_dead_fdes(tmp_path: Path, opt: str) -> None:
    _, image = link(cxx_objects(tmp_path, opt))
    records = eh_records(image)
    fdes = [r for r in records if r[1]]
    text = [s for s in image.sections if s.section.startswith(".text")]
    # Every FDE describes code that is loaded (none points into a discarded COMDAT copy).
    for _, _, pc in fdes:
        assert any(s.addr <= pc < s.addr + s.size for s in text), hex(pc)
    assert len({pc for _, _, pc in fdes}) == len(fdes)
    assert image.symbols["main"] in {pc for _, _, pc in fdes}
    # Both objects contributed, back to back.
    pieces = [s for s in image.sections if s.section == ".eh_frame"]
    assert [p.object for p in pieces] == ["x1.o", "x2.o"]
    assert pieces[0].addr + pieces[0].size == pieces[1].addr


def test_no_eh_frame_without_unwind_tables(tmp_path: Path) -> None:
    obj = cc(tmp_path, "int f(void) { return 1; }", flags=("-fno-asynchronous-unwind-tables",))
    _, image = link({"f.o": obj})
    assert image.eh_frame is None


INIT_A = r"""
extern void note(int);
__attribute__((constructor(200))) static void a200(void) { note(1); }
__attribute__((constructor)) static void a_plain(void) { note(2); }
__attribute__((destructor(101))) static void a_d101(void) { note(3); }
__attribute__((destructor)) static void a_dplain(void) { note(4); }
"""
INIT_B = r"""
typedef void (*fn)(void);
extern fn __init_array_start[], __init_array_end[], __fini_array_start[], __fini_array_end[];
extern void note(int);
__attribute__((constructor(101))) static void b101(void) { note(5); }
__attribute__((constructor)) static void b_plain(void) { note(6); }
__attribute__((destructor(200))) static void b_d200(void) { note(7); }
fn *bounds[4] = {__init_array_start, __init_array_end, __fini_array_start, __fini_array_end};
volatile int sink;
void note(int x) { sink = x; }
"""


@pytest.mark.parametrize("opt", ["-O0", "-O2"])
def test_init_and_fini_arrays_in_static_linker_order(tmp_path: Path, opt: str) -> None:
    objs = {"a.o": cc(tmp_path, INIT_A, "a.c", (opt,)), "b.o": cc(tmp_path, INIT_B, "b.c", (opt,))}
    plan, image = link(objs)
    assert plan.externals == []

    def names(addrs: list[int]) -> list[str]:
        return [image.symbol_at(a)[0] for a in addrs]  # type: ignore[index]

    # Priority ascending, then plain ones in object order.
    assert names(image.init_funcs) == ["b101", "a200", "a_plain", "b_plain"]
    # .fini_array merged the same way (101, 200, plain) and run back to front.
    assert names(image.fini_funcs) == ["a_dplain", "b_d200", "a_d101"]
    bounds = [u64(image, image.symbols["bounds"] + 8 * i) for i in range(4)]
    init = next(s for s in image.sections if s.section.startswith(".init_array"))
    assert bounds[0] == init.addr and bounds[1] - bounds[0] == 8 * 4
    assert bounds[3] - bounds[2] == 8 * 3
    assert [u64(image, bounds[0] + 8 * i) for i in range(4)] == image.init_funcs
    assert [u64(image, bounds[2] + 8 * i) for i in range(3)] == image.fini_funcs[::-1]
    assert image.symbols["__init_array_start"] == bounds[0]


def test_init_array_symbols_exist_when_empty(tmp_path: Path) -> None:
    src = (
        "extern void (*__init_array_start[])(void), (*__init_array_end[])(void);\n"
        "long n(void) { return __init_array_end - __init_array_start; }"
    )
    _, image = link({"n.o": cc(tmp_path, src)})
    assert image.init_funcs == [] and image.fini_funcs == []
    assert image.symbols["__init_array_start"] == image.symbols["__init_array_end"]


def test_debug_sections_relocated_lazily(tmp_path: Path) -> None:
    src = "int add(int a, int b) { return a + b; }\nint sub(int a, int b) { return a - b; }\n"
    _, image = link({"d.o": cc(tmp_path, src, flags=("-O0", "-g", "-gdwarf-5"))})
    debug = image.debug_sections()
    assert image.debug_sections() is debug  # computed once
    secs = debug["d.o"]
    assert {".debug_info", ".debug_abbrev", ".debug_line", ".debug_str", ".debug_addr"} <= set(secs)
    # .debug_addr (DWARF 5): 8-byte header, then the addresses of add and sub.
    addr = secs[".debug_addr"]
    addrs = [v for (v,) in struct.iter_unpack("<Q", addr[8:])]
    assert image.symbols["add"] in addrs and image.symbols["sub"] in addrs
    # .debug_info's reference to .debug_abbrev is a section offset (0: first abbrev table).
    info = secs[".debug_info"]
    assert struct.unpack_from("<I", info, 8)[0] == 0
    # .debug_line's DW_LNE_set_address operands now carry the loaded address.
    text = section(image, "d.o", ".text")
    assert text.to_bytes(8, "little") in secs[".debug_line"]


def test_debug_sections_of_cxx_with_discarded_comdat(tmp_path: Path) -> None:
    _, image = link(cxx_objects(tmp_path, "-O0"))
    debug = image.debug_sections()
    assert set(debug) == {"x1.o", "x2.o"}
    # x2.o's copy of helper() was discarded: its .debug_addr slot gets the tombstone 0
    # while x1.o's points to the kept copy.
    x1 = [v for (v,) in struct.iter_unpack("<Q", debug["x1.o"][".debug_addr"][8:])]
    x2 = [v for (v,) in struct.iter_unpack("<Q", debug["x2.o"][".debug_addr"][8:])]
    helper = image.symbols["_Z6helperi"]
    assert helper in x1 and helper not in x2 and 0 in x2
    assert all(v == 0 or v >= BASE for v in x1 + x2)


def test_debug_reference_to_high_address_with_32bit_relocation(tmp_path: Path) -> None:
    # DWARF32 offsets into other debug sections fit, but an absolute 32-bit address of
    # code loaded above 4 GiB cannot: asking for the debug sections says so.
    asm = """
        .text
        .globl f
    f:  ret
        .section .debug_info,"",@progbits
        .long f
        .quad f
    """
    _, image = link({"dbg.o": cc(tmp_path, asm, "dbg.s")})
    with pytest.raises(
        LinkError,
        match=r"dbg.o:\(.debug_info\+0x0\): relocation R_X86_64_32 "
        r"against 'f' out of range",
    ):
        image.debug_sections()
    _, low = link({"dbg.o": cc(tmp_path, asm, "dbg.s")}, base=0x10_0000)
    info = low.debug_sections()["dbg.o"][".debug_info"]
    assert struct.unpack("<IQ", info) == (0x10_0000, 0x10_0000)


def test_ifunc_not_supported(tmp_path: Path) -> None:
    src = """
    static int impl(void) { return 1; }
    static int (*resolve(void))(void) { return impl; }
    int f(void) __attribute__((ifunc("resolve")));
    """
    with pytest.raises(NotSupportedError, match="STT_GNU_IFUNC"):
        Linker().add_object("ifunc.o", cc(tmp_path, src, "ifunc.c"))

"""The live linker pass (link/live.py) and per-function sections (compile/sections.py).

Real clang-16 bitcode, real llvmlite code generation with function sections, the real
linker; the images are inspected byte by byte: every reference to a function — a call
to a static helper, `&f` in code, a GOT load, pointers in data — resolves to the
function's stub, each stub jumps through its slot, each slot holds the body. A patch
binds to the running program's stubs and storage, rewrites slots, refuses a kept
variable whose size changed and a patch placed out of reach.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from crossjit.compile import codegen
from crossjit.compile.sections import add_function_sections
from crossjit.errors import LinkError
from crossjit.link import LinkedImage, Linker
from crossjit.link.live import LiveMap, LiveRefusal
from crossjit.link.objfile import STT_FUNC, STT_SECTION, parse_object
from tests.prereq import require_tool

TRIPLE = "x86_64-unknown-linux-gnu"
BASE = 0x7F12_3450_0000
PRINTF = 0x7F55_0000_1000  # far away: reached through a GOT stub

V1 = """\
#include <stdio.h>
typedef int (*fp)(int);
static int n;
static int helper(int x) { return x + n; }
int pub(int x) { return helper(x) * 2; }
fp table[] = { helper, pub };
fp global_ptr = pub;
static fp pick(int i) { return i ? pub : helper; }
int bump(void) { static int k; k++; n += 5; return k + n; }
int main(void) {
  fp f = helper;
  printf("v1 %d\\n", f(1) + pick(0)(2) + table[1](3) + global_ptr(4) + bump());
  return 0;
}
"""


def obj(tmp: Path, src: str, name: str = "m.c", opt: int = 0) -> bytes:
    clang = require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    path = tmp / name
    path.write_text(src)
    bc = path.with_suffix(".bc")
    subprocess.run([clang, "-c", "-emit-llvm", "-fPIC", "-O0", "-Xclang",
                    "-disable-O0-optnone", str(path), "-o", str(bc)],
                   check=True, capture_output=True)
    opts = codegen.CodegenOptions(TRIPLE, opt, live=True)
    return codegen.ir_to_object(bc.read_bytes(), str(path), opts)


def read(image: LinkedImage, addr: int, n: int) -> bytes:
    for s in image.segments:
        if s.addr <= addr < s.addr + s.size:
            off = addr - s.addr
            return (s.content + bytes(s.size))[off:off + n]
    raise AssertionError(f"{addr:#x} is not in the image")


def u64(image: LinkedImage, addr: int) -> int:
    return int(struct.unpack("<Q", read(image, addr, 8))[0])


def i32(image: LinkedImage, addr: int) -> int:
    return int(struct.unpack("<i", read(image, addr, 4))[0])


def link(data: bytes, base: int = BASE, running: LiveMap | None = None,
         name: str = "m.c") -> LinkedImage:
    linker = Linker(TRIPLE, live=running is None, running=running)
    linker.add_object(name, data)
    plan = linker.plan()
    resolved: dict[str, int | None] = {"printf": PRINTF}
    if running is not None:
        resolved.update(running.symbols)
    return plan.finish(base, resolved)


# --- compile/sections.py ------------------------------------------------------------------


def test_sections_added_to_defines_and_writable_variables() -> None:
    ir = "\n".join([
        'define internal void @handle(ptr noundef %c, i32 (i32)* %f) #0 !dbg !12 {',
        'define i32 @g(i32 %0) local_unnamed_addr #1 personality ptr @__gxx_personality_v0 {',
        'define linkonce_odr i32 @inl() #0 comdat {',
        'define i32 @mine() #0 section "custom" {',
        '@s_requests = internal global i64 0, align 8, !dbg !0',
        '@s_root = internal global ptr @.str, align 8',
        '@t = dso_local global [2 x ptr] [ptr @a, ptr @b], align 16',
        '@c = internal constant [2 x i32] [i32 1, i32 2], align 4',
        '@e = external global i32, align 4',
        '@z = global { i32, i32 } zeroinitializer',
        '@llvm.used = appending global [1 x ptr] [ptr @x], section "llvm.metadata"',
    ]) + "\n"
    out, count = add_function_sections(ir)
    lines = out.splitlines()
    assert count == 6
    assert lines[0] == ('define internal void @handle(ptr noundef %c, i32 (i32)* %f) noinline '
                        '#0 section ".text.handle" !dbg !12 {')
    assert lines[1] == ('define i32 @g(i32 %0) local_unnamed_addr noinline #1 section '
                        '".text.g" personality ptr @__gxx_personality_v0 {')
    assert lines[2] == 'define linkonce_odr i32 @inl() #0 comdat {'  # COMDAT: its own
    assert lines[3] == 'define i32 @mine() #0 section "custom" {'  # the user's section
    assert lines[4] == ('@s_requests = internal global i64 0, section ".bss.s_requests", '
                        'align 8, !dbg !0')
    assert lines[5] == '@s_root = internal global ptr @.str, section ".data.s_root", align 8'
    assert lines[6] == ('@t = dso_local global [2 x ptr] [ptr @a, ptr @b], '
                        'section ".data.t", align 16')
    assert lines[7:9] == ir.splitlines()[7:9]  # constants and declarations untouched
    assert lines[9] == '@z = global { i32, i32 } zeroinitializer, section ".bss.z"'
    assert lines[10] == ir.splitlines()[10]
    # the mark the JIT linker recognises live units by (link/live.py is_live_unit)
    assert lines[11] == "@__crossjit_live_unit = internal constant i8 1"
    # what a running loop calls must stay a call: no inlining, no IPO on unknown uses
    assert lines[12] == ('@llvm.compiler.used = appending global [7 x ptr] [ptr @handle, '
                         'ptr @g, ptr @s_requests, ptr @s_root, ptr @t, ptr @z, '
                         'ptr @__crossjit_live_unit], section "llvm.metadata"')
    ai = 'define i32 @a() #2 {\nattributes #2 = { alwaysinline nounwind }\n'
    assert add_function_sections(ai)[0].splitlines()[0] == 'define i32 @a() #2 section ".text.a" {'


# --- the first image ---------------------------------------------------------------------


def test_every_reference_to_a_function_goes_through_its_stub(tmp_path: Path) -> None:
    data = obj(tmp_path, V1)
    image = link(data)
    assert image.live is not None
    fns = {f.name: f for f in image.live.functions}
    assert {"helper", "pub", "pick", "bump", "main"} <= fns.keys()
    for f in fns.values():
        # stub: jmp *slot(%rip); the slot (RW) holds the body
        stub = read(image, f.stub, 6)
        assert stub[:2] == b"\xff\x25"
        assert f.stub + 6 + i32(image, f.stub + 2) == f.slot
        assert u64(image, f.slot) == f.body
        assert f.stub != f.body

    o = parse_object("m.c", data, machine="EM_X86_64", machine_label="x86_64")
    secaddr = {s.section: s.addr for s in image.sections if s.object == "m.c"}

    def function_of(symi: int) -> str | None:
        rs = o.symbols[symi]
        if rs.type == STT_FUNC:
            return rs.name
        if rs.type == STT_SECTION and o.sections[rs.shndx].name.startswith(".text."):
            return o.sections[rs.shndx].name.removeprefix(".text.")
        return None

    checked: dict[int, int] = {}
    for target, table in o.relocs.items():
        sec = o.sections[target].name
        if sec.startswith(".eh_frame") or sec not in secaddr:
            continue
        for off, rtype, symi, addend in table.entries():
            fn = function_of(symi)
            if fn is None:
                continue
            p = secaddr[sec] + off
            if rtype in (2, 4):  # PC32 (lea f(%rip)), PLT32 (call f): S + A - P
                got = i32(image, p) - addend + p
            elif rtype == 1:  # R_X86_64_64: &f in data
                got = u64(image, p) - addend
            elif rtype in (9, 41, 42):  # GOTPCREL*: the GOT entry holds &f
                got = u64(image, i32(image, p) - addend + p)
            else:
                raise AssertionError(f"unexpected relocation type {rtype} to {fn}")
            assert got == fns[fn].stub, f"{sec}+{off:#x} ({rtype}) -> {fn}: {got:#x}"
            checked[rtype] = checked.get(rtype, 0) + 1
    # calls to the static helper and to pub, &helper/&pub in code, both in data
    assert checked.get(4, 0) >= 3 and checked.get(2, 0) >= 2 and checked.get(1, 0) >= 3, checked
    assert u64(image, image.symbols["table"]) == fns["helper"].stub
    assert u64(image, image.symbols["global_ptr"]) == fns["pub"].stub
    # .eh_frame still describes the bodies (an FDE's pc_begin is PC-relative).
    assert image.eh_frame is not None
    # later patches bind global names to stubs, data to its storage
    assert image.live.symbols["pub"] == fns["pub"].stub
    assert image.live.symbols["table"] == image.symbols["table"]


# --- patches -----------------------------------------------------------------------------


def _running(image: LinkedImage) -> LiveMap:
    assert image.live is not None
    m = LiveMap()
    m.merge(image.live)
    return m


def test_patch_binds_to_running_stubs_and_kept_storage(tmp_path: Path) -> None:
    first = link(obj(tmp_path, V1))
    assert first.live is not None
    old = {f.name: f for f in first.live.functions}
    old_data = {d.section: d for d in first.live.new_data}
    v2 = (V1.replace("return x + n;", "return x + n + extra(x);")
          .replace("static int helper", "static int added = 7;\n"
                   "static int extra(int x) { return x * 100 + added++; }\n"
                   "static int helper")
          .replace("v1 %d", "v2 %d"))
    base2 = BASE + 0x100000
    patch = link(obj(tmp_path, v2), base2, _running(first))
    live = patch.live
    assert live is not None
    # existing functions: their slots get the patch's bodies, in one list of writes
    writes = dict(live.slot_writes)
    for name in ("helper", "pub", "pick", "bump", "main"):
        assert old[name].slot in writes
        assert base2 <= writes[old[name].slot] < base2 + 0x100000
    assert {f.name for f in live.replaced} >= {"helper", "pub", "bump", "main"}
    # the new function has a new stub in the patch, and the patch calls it through it
    (extra,) = [f for f in live.functions if f.name == "extra"]
    assert base2 <= extra.stub < base2 + 0x100000 and u64(patch, extra.slot) == extra.body
    # kept storage: the patch's code uses the running n, k and table
    kept = {d.section for d in live.kept}
    assert {".bss.n", ".bss.bump.k", ".data.table", ".data.global_ptr"} <= kept
    assert live.symbols["table"] == old_data[".data.table"].addr
    # the new helper's body adds the running `n`: find its PC32 to .bss.n
    helper_body = writes[old["helper"].slot]
    code = read(patch, helper_body, 64)
    n_addr = old_data[".bss.n"].addr
    hits = [i for i in range(len(code) - 4)
            if helper_body + i + 4 + struct.unpack_from("<i", code, i)[0] == n_addr]
    assert hits, "the new helper does not read the kept n"
    # the patch's pub calls helper through the running stub
    pub_body = writes[old["pub"].slot]
    code = read(patch, pub_body, 64)
    calls = [pub_body + i + 5 + struct.unpack_from("<i", code, i + 1)[0]
             for i in range(len(code) - 5) if code[i] == 0xE8]
    assert old["helper"].stub in calls
    # a new variable is new storage in the patch, initialised from the object
    (added,) = [d for d in live.new_data if d.section == ".data.added"]
    assert base2 <= added.addr < base2 + 0x100000
    assert struct.unpack("<i", read(patch, added.addr, 4))[0] == 7
    # read-only data is new: the edited format string lives in the patch
    ro = [s for s in patch.segments if int(s.prot) == 1]
    assert any(b"v2 %d" in s.content for s in ro)


def test_patch_refuses_a_kept_variable_whose_size_changed(tmp_path: Path) -> None:
    first = link(obj(tmp_path, V1))
    v2 = V1.replace("static int n;", "static long n[2];").replace("n += 5", "n[0] += 5") \
        .replace("x + n;", "x + (int) n[0];").replace("k + n;", "k + (int) n[0];")
    with pytest.raises(LiveRefusal) as err:
        link(obj(tmp_path, v2), BASE + 0x100000, _running(first))
    assert err.value.symbol == "n"
    assert "kept variable 'n' changed size (4 -> 16 bytes)" in err.value.what


def test_patch_out_of_reach_is_a_link_error(tmp_path: Path) -> None:
    first = link(obj(tmp_path, V1))
    with pytest.raises(LinkError) as err:
        link(obj(tmp_path, V1.replace("v1", "v2")), BASE + (8 << 30), _running(first))
    assert "out of range" in err.value.render()


LIB = """\
static int twice(int x) { return 2 * x; }
int lib_calc(int x) { return twice(x) + 1; }
int lib_call(int (*cb)(int), int x) { return cb(x); }
"""
APP = """\
int lib_calc(int x);
int lib_call(int (*cb)(int), int x);
int cb(int x) { return x + 5; }
int main(void) { return lib_calc(1) + lib_call(cb, 2); }
"""


def test_a_fixed_unit_is_linked_directly_and_not_reloadable(tmp_path: Path) -> None:
    """An object built without --live's sections (a fetched source, the runtime, a .o):
    no stubs for its functions, the live unit calls it directly; its references to live
    functions still go to their stubs; a patch of it is refused."""
    clang = require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    src = tmp_path / "lib.c"
    src.write_text(LIB)
    bc = tmp_path / "lib.bc"
    subprocess.run([clang, "-c", "-emit-llvm", "-fPIC", "-O0", "-Xclang", "-disable-O0-optnone",
                    str(src), "-o", str(bc)], check=True, capture_output=True)
    lib = codegen.ir_to_object(bc.read_bytes(), str(src), codegen.CodegenOptions(TRIPLE, 0))
    app = obj(tmp_path, APP, "app.c")
    linker = Linker(TRIPLE, live=True)
    linker.add_object("app.c", app)
    linker.add_object("lib.c", lib)
    image = linker.plan().finish(BASE, {})
    assert image.live is not None and image.live.fixed == frozenset({"lib.c"})
    fns = {f.name: f for f in image.live.functions}
    assert set(fns) == {"cb", "main"}  # none of lib.c's
    # main's calls: to lib_calc's and lib_call's bodies themselves, no stub between
    main = u64(image, fns["main"].slot)
    code = read(image, main, 96)
    calls = {main + i + 5 + struct.unpack_from("<i", code, i + 1)[0]
             for i in range(len(code) - 5) if code[i] == 0xE8}
    assert {image.symbols["lib_calc"], image.symbols["lib_call"]} <= calls, calls
    assert image.live.symbols.get("lib_calc", image.symbols["lib_calc"]) == \
        image.symbols["lib_calc"]
    # &cb passed to the library: the stub, so a reload of app.c reaches the library's call
    refs = set()  # what main's RIP-relative lea/mov (REX.W) instructions reach
    for i in range(len(code) - 7):
        if code[i] == 0x48 and code[i + 1] in (0x8D, 0x8B) and code[i + 2] & 0xC7 == 0x05:
            at = main + i + 7 + struct.unpack_from("<i", code, i + 3)[0]
            refs.add(at if code[i + 1] == 0x8D else u64(image, at))  # mov: from the GOT
    assert fns["cb"].stub in refs, [hex(x) for x in refs]
    with pytest.raises(LiveRefusal) as err:
        patch = Linker(TRIPLE, running=_running(image))
        patch.add_object("lib.c", lib)
        patch.plan()
    assert err.value.obj == "lib.c" and "not reloadable" in err.value.what

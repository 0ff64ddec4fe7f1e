"""JIT linker: linking plain C objects (clang-16 and llvmlite), GOT/stubs, layout, link map."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossjit.link import Linker, Prot
from tests.unit.test_link_helpers import (
    BASE,
    FAR,
    call_sites,
    call_target,
    cc,
    far_addresses,
    link,
    llvmlite_obj,
    read,
    section,
    through_stub,
    u64,
)

A_C = r"""
#include <stdio.h>
#include <string.h>
extern int counter;
const char *msg = "hello %d\n";
int twice(int x);
int main(void) { counter++; printf(msg, twice(counter)); return (int)strlen(msg); }
"""
B_C = r"""
int counter = 41;
static int zeroed[100];
int twice(int x) { zeroed[x % 100] = x; return 2 * x; }
"""


def _objects(tmp_path: Path, flags: tuple[str, ...], via_llvmlite: bool) -> dict[str, bytes]:
    make = llvmlite_obj if via_llvmlite else cc
    return {"a.o": make(tmp_path, A_C, "a.c", flags), "b.o": make(tmp_path, B_C, "b.c", flags)}


@pytest.mark.parametrize("via_llvmlite", [False, True], ids=["clang", "llvmlite"])
@pytest.mark.parametrize("flags", [("-O0",), ("-O2",), ("-O0", "-g"), ("-O3", "-g")])
def test_two_objects_link(tmp_path: Path, flags: tuple[str, ...], via_llvmlite: bool) -> None:
    plan, image = link(_objects(tmp_path, flags, via_llvmlite))
    ext = {e.name: e for e in plan.externals}
    assert set(ext) == {"printf", "strlen"}
    assert ext["printf"].referenced_by == ["a.o"] and not ext["printf"].weak
    resolved = far_addresses(plan)

    # Segments: page aligned, inside the reservation, protections by kind, no overlap.
    assert plan.reservation_size % 4096 == 0
    prev_end = BASE
    for seg in image.segments:
        assert seg.addr % 4096 == 0 and seg.size % 4096 == 0 and len(seg.content) <= seg.size
        assert prev_end <= seg.addr and seg.addr + seg.size <= BASE + plan.reservation_size
        prev_end = seg.addr + seg.size
    prots = [s.prot for s in image.segments]
    assert Prot.READ | Prot.EXEC in prots and Prot.READ | Prot.WRITE in prots

    # Every call in main goes either directly to twice or through a stub to libc.
    targets = set()
    text = next(s for s in image.sections if s.object == "a.o" and s.section == ".text")
    for site in call_sites(image, text.addr, text.size):
        t = call_target(image, site)
        at = image.symbol_at(t)
        if t == image.symbols["twice"]:
            targets.add("twice")
        elif at is not None and at[0].endswith("@plt"):
            targets.add(at[0])
            assert through_stub(image, t) == resolved[at[0].removesuffix("@plt")]
    assert {"twice", "printf@plt", "strlen@plt"} <= targets
    # counter: a data symbol of b.o, referenced through the GOT or directly.
    assert image.symbols["counter"] == section(image, "b.o", ".data")
    assert read(image, image.symbols["counter"], 4) == (41).to_bytes(4, "little")


def test_symbols_link_map_and_symbol_at(tmp_path: Path) -> None:
    _plan, image = link(_objects(tmp_path, ("-O0",), False))
    main = image.symbols["main"]
    assert image.symbol_at(main) == ("main", "a.o")
    assert image.symbol_at(main + 5) == ("main", "a.o")
    assert image.symbol_at(image.symbols["twice"] + 1) == ("twice", "b.o")
    assert image.symbol_at(BASE - 1) is None
    names = {(s.object, s.section) for s in image.sections}
    assert {
        ("a.o", ".text"),
        ("b.o", ".text"),
        ("b.o", ".data"),
        ("b.o", ".bss"),
        ("<crossjit>", ".got"),
        ("<crossjit>", ".stubs"),
    } <= names
    # The static array lands in zero-fill, after every byte of content.
    bss = section(image, "b.o", ".bss")
    rw = next(s for s in image.segments if s.prot == Prot.READ | Prot.WRITE)
    assert rw.addr + len(rw.content) <= bss < rw.addr + rw.size
    assert image.symbol_at(bss + 8) == ("zeroed", "b.o")
    # Not loaded.
    assert not any(
        s.section.startswith((".comment", ".note", ".llvm_addrsig", ".debug"))
        for s in image.sections
    )


def test_finish_twice_at_different_bases(tmp_path: Path) -> None:
    linker = Linker()
    for name, data in _objects(tmp_path, ("-O2",), False).items():
        linker.add_object(name, data)
    plan = linker.plan()
    one = plan.finish(BASE, far_addresses(plan))
    two = plan.finish(BASE + 0x1000_0000, far_addresses(plan))
    assert two.symbols["main"] - one.symbols["main"] == 0x1000_0000
    # Code is position-independent (same bytes); pointers in data/GOT moved with the base.
    assert one.segments[0].content == two.segments[0].content
    assert one.segments[-1].content != two.segments[-1].content


def test_externals_go_through_got(tmp_path: Path) -> None:
    # Taking an external's address (GOTPCREL) and calling it (PLT32) both use its GOT entry.
    src = r"""
    #include <stdlib.h>
    void *(*get_malloc(void))(size_t) { return malloc; }
    void *call_malloc(void) { return malloc(3); }
    """
    _plan, image = link({"m.o": cc(tmp_path, src, flags=("-O2",))})
    got_entries = [s for s in image.sections if s.section == ".got"]
    assert got_entries and got_entries[0].size == 8  # one entry shared by both uses
    assert u64(image, got_entries[0].addr) == FAR
    sites = call_sites(image, image.symbols["call_malloc"], 16)
    stubs = [
        t
        for t in map(lambda s: call_target(image, s), sites)
        if (image.symbol_at(t) or ("",))[0] == "malloc@plt"
    ]
    assert stubs and through_stub(image, stubs[0]) == FAR


def test_weak_definitions_and_weak_undefined(tmp_path: Path) -> None:
    a = cc(
        tmp_path,
        r"""
        __attribute__((weak)) int level(void) { return 1; }
        __attribute__((weak)) extern int optional_feature(void);
        int has_feature(void) { return optional_feature != 0; }
        int get(void) { return level(); }
        """,
        "a.c",
    )
    b = cc(tmp_path, "int level(void) { return 2; }", "b.c")
    c = cc(tmp_path, "__attribute__((weak)) int level(void) { return 3; }", "c.c")
    plan, image = link({"a.o": a, "b.o": b, "c.o": c}, resolved={})
    assert image.symbols["level"] == section(image, "b.o", ".text")  # strong beats weak
    ext = {e.name: e for e in plan.externals}
    assert ext["optional_feature"].weak
    got = next(s for s in image.sections if s.section == ".got")
    values = [u64(image, got.addr + i) for i in range(0, got.size, 8)]
    assert 0 in values  # weak undefined, not found -> 0


def test_common_symbols(tmp_path: Path) -> None:
    a = cc(tmp_path, "int shared[4]; int *pa(void) { return shared; }", "a.c", ("-fcommon",))
    b_src = "__attribute__((aligned(64))) int shared[16]; int *pb(void) { return shared; }"
    b = cc(tmp_path, b_src, "b.c", ("-fcommon",))
    _, image = link({"a.o": a, "b.o": b})
    addr = image.symbols["shared"]
    assert addr % 64 == 0
    info = [s for s in image.sections if s.section == "COMMON.shared"]
    assert len(info) == 1 and info[0].size == 64
    rw = next(s for s in image.segments if s.prot == Prot.READ | Prot.WRITE)
    assert rw.addr + len(rw.content) <= addr and addr + 64 <= rw.addr + rw.size
    # A strong definition wins over COMMON.
    c = cc(tmp_path, "int shared[2] = {7, 8};", "c.c")
    _, image = link({"a.o": a, "c.o": c})
    assert image.symbols["shared"] == section(image, "c.o", ".data")


def test_mergeable_strings_section_symbol_plus_addend(tmp_path: Path) -> None:
    src = r"""
    const char *pick(int i) { return i ? "second string" : "first string"; }
    const char *const table[] = {"alpha", "beta", "gamma"};
    """
    _, image = link({"s.o": cc(tmp_path, src, flags=("-O2",))})
    table = image.symbols["table"]
    strings = [u64(image, table + 8 * i) for i in range(3)]
    for want, addr in zip([b"alpha", b"beta", b"gamma"], strings, strict=True):
        assert read(image, addr, len(want) + 1) == want + b"\0"


def test_pc32_call_to_external_gets_a_stub(tmp_path: Path) -> None:
    # Non-PIC code may call an external with R_X86_64_PC32 (older assemblers): it must go
    # through a stub like PLT32 does, since the target is further than 2 GiB.
    asm = """
    .text
    .globl f
    f:
        .byte 0xe8
        .long ext_func - . - 4
        ret
    """
    path = tmp_path / "call.s"
    path.write_text(asm)
    obj = cc(tmp_path, asm, "call.s", ("-fno-pic",))
    plan, image = link({"call.o": obj})
    t = call_target(image, image.symbols["f"] + 1)
    assert through_stub(image, t) == far_addresses(plan)["ext_func"]


def test_reservation_covers_everything_and_respects_page_size(tmp_path: Path) -> None:
    linker = Linker(page_size=16384)
    for name, data in _objects(tmp_path, ("-O0",), False).items():
        linker.add_object(name, data)
    plan = linker.plan()
    assert plan.reservation_size % 16384 == 0
    image = plan.finish(BASE, far_addresses(plan))
    for seg in image.segments:
        assert seg.addr % 16384 == 0 and seg.size % 16384 == 0


def test_alignment_above_page_size(tmp_path: Path) -> None:
    obj = cc(
        tmp_path, "__attribute__((aligned(16384))) int big[4] = {1}; int f(void) { return 0; }"
    )
    linker = Linker()
    linker.add_object("big.o", obj)
    plan = linker.plan()
    base = BASE + 0x1000  # page aligned only: the plan reserved slack to align up
    image = plan.finish(base, {})
    big = image.symbols["big"]
    assert big % 16384 == 0
    assert all(
        base <= s.addr and s.addr + s.size <= base + plan.reservation_size for s in image.segments
    )
    assert read(image, big, 4) == (1).to_bytes(4, "little")

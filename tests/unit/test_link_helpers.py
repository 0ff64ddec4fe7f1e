"""Helpers for the JIT linker's tests: compile snippets, link them, read the result.

(No tests here; the name only keeps it among the link tests' files.)
"""

from __future__ import annotations

import json
import struct
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from crossjit.link import LinkedImage, Linker, LinkPlan
from tests.prereq import require_tool

CLANG = "clang-16"
BASE = 0x7F12_3450_0000  # far above 4 GiB, like a real executor's mmap
FAR = 0x7FFF_F000_0000  # "libc": more than 2 GiB away from BASE
EXT_STEP = 0x100


def cc(tmp: Path, src: str, name: str = "t.c", flags: Sequence[str] = ("-O0",)) -> bytes:
    """Compile ``src`` with clang-16 -c -fPIC (unless flags say otherwise); the object bytes."""
    clang = require_tool(CLANG, "clang-16 (apt-get install clang-16)")
    path = tmp / name
    path.write_text(src)
    out = path.with_suffix(".o")
    pic = [] if any(f in ("-fno-pic", "-fno-PIC") for f in flags) else ["-fPIC"]
    subprocess.run(
        [clang, "-c", *pic, *flags, str(path), "-o", str(out)], check=True, capture_output=True
    )
    return out.read_bytes()


def llvmlite_obj(
    tmp: Path, src: str, name: str = "t.c", flags: Sequence[str] = ("-O0",), opt: int = 2,
    triple: str = "x86_64-unknown-linux-gnu",
) -> bytes:
    """clang -emit-llvm bitcode -> llvmlite (LLVM 22, reloc='pic') -> ELF object bytes."""
    import llvmlite.binding as llvm

    clang = require_tool(CLANG, "clang-16 (apt-get install clang-16)")
    path = tmp / name
    path.write_text(src)
    bc = path.with_suffix(".bc")
    subprocess.run(
        [clang, f"--target={triple}", "-c", "-emit-llvm", "-fPIC", *flags, str(path), "-o",
         str(bc)],
        check=True,
        capture_output=True,
    )
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    mod = llvm.parse_bitcode(bc.read_bytes())
    mod.triple = triple
    target = llvm.Target.from_triple(mod.triple)
    tm = target.create_target_machine(reloc="pic", codemodel="small", opt=opt)
    mod.data_layout = str(tm.target_data)
    data: bytes = tm.emit_object(mod)
    return data


def far_addresses(plan: LinkPlan) -> dict[str, int | None]:
    """Every external resolved to a distinct address more than 2 GiB from BASE."""
    return {e.name: FAR + i * EXT_STEP for i, e in enumerate(plan.externals)}


def link(
    objects: Mapping[str, bytes],
    resolved: Mapping[str, int | None] | None = None,
    base: int = BASE,
    arch: str = "x86_64",
) -> tuple[LinkPlan, LinkedImage]:
    linker = Linker(arch=arch, page_size=4096)
    for name, data in objects.items():
        linker.add_object(name, data)
    plan = linker.plan()
    image = plan.finish(base, far_addresses(plan) if resolved is None else resolved)
    return plan, image


def read(image: LinkedImage, addr: int, size: int) -> bytes:
    """Bytes at ``addr`` in the image (zero-fill included)."""
    for s in image.segments:
        if s.addr <= addr and addr + size <= s.addr + s.size:
            off = addr - s.addr
            return (s.content + bytes(s.size - len(s.content)))[off : off + size]
    raise AssertionError(f"{addr:#x} is not in any segment")


def u64(image: LinkedImage, addr: int) -> int:
    v: int = struct.unpack("<Q", read(image, addr, 8))[0]
    return v


def i32(image: LinkedImage, addr: int) -> int:
    v: int = struct.unpack("<i", read(image, addr, 4))[0]
    return v


def section(image: LinkedImage, obj: str, name: str) -> int:
    """The address of input section ``name`` of ``obj``."""
    for s in image.sections:
        if s.object == obj and s.section == name:
            return s.addr
    raise AssertionError(f"{obj}:{name} not in the link map")


def call_target(image: LinkedImage, site: int) -> int:
    """Where the rel32 operand at ``site`` (of a call/jmp) goes."""
    return site + 4 + i32(image, site)


def through_stub(image: LinkedImage, addr: int) -> int:
    """If ``addr`` is a ``jmp *GOT(%rip)`` stub, the address its GOT entry holds."""
    assert read(image, addr, 2) == b"\xff\x25", "not a stub"
    return u64(image, addr + 6 + i32(image, addr + 2))


def call_sites(image: LinkedImage, start: int, size: int) -> list[int]:
    """Operand addresses of every byte that looks like ``call/jmp rel32`` (e8/e9) in
    [start, start+size). Crude: callers only trust targets that are known symbols."""
    code = read(image, start, size)
    return [start + i + 1 for i in range(len(code) - 4) if code[i] in (0xE8, 0xE9)]


# --- golden fixups (tests/golden/link/, one folder per architecture) ----------------------


def golden_expected(golden: Path) -> dict[str, Any]:
    """The fixture's expected.json: lld's layout and its bytes at every relocation."""
    data: dict[str, Any] = json.loads((golden / "expected.json").read_text())
    return data


def placed_at(image: LinkedImage) -> dict[tuple[str, str], int]:
    """(object, section) -> address, from crossjit's link map."""
    return {(s.object, s.section): s.addr for s in image.sections}


def check_golden_layout(expected: dict[str, Any], image: LinkedImage, rerun: str) -> None:
    """Every section sits where link.ld (written by regen.py) placed it for lld."""
    placed = placed_at(image)
    for obj, sec, addr in expected["sections"]:
        assert placed[obj, sec] == addr, f"{obj}:{sec} moved; {rerun}"


def golden_sites(
    expected: dict[str, Any], placed: Mapping[tuple[str, str], int]
) -> Iterator[tuple[dict[str, Any], int, str]]:
    """Each recorded relocation, the address of its place, and its name for messages."""
    for r in expected["relocations"]:
        p = placed[r["object"], r["section"]] + r["offset"]
        yield r, p, f"{r['object']}:({r['section']}+{r['offset']:#x}) {r['type']}"

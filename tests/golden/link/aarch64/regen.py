#!/usr/bin/env python3
"""Regenerate the AArch64 golden fixup fixtures: ``python tests/golden/link/aarch64/regen.py``.

1. Assemble relocs.s and compile pic.c (-fPIC) and large.c (-mcmodel=large) with clang-16
   --target=aarch64-linux-gnu -> *.o (kept, so the test does not depend on the compiler).
2. Link them with crossjit's linker at BASE to learn where its layout puts each input
   section, and write link.ld placing the same input sections at the same addresses.
3. Link with ld.lld-16 (-static, --no-relax, that script) and record, for every
   relocation in a loaded section, the 4 or 8 bytes lld wrote there -> expected.json.
   GOT references (ADR_GOT_PAGE + LD64_GOT_LO12_NC, LD64_GOTPAGE_LO15) reach a slot that
   lives elsewhere in each linker's output, so the value *in* the slot is recorded
   (and where the ADRP of the pair is).
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[3]))

from crossjit.link import Linker  # noqa: E402
from crossjit.link.arch.aarch64 import reloc_name  # noqa: E402
from crossjit.link.objfile import ObjectFile, parse_object  # noqa: E402
from tests.golden.link.lld import (  # noqa: E402
    compile_objects,
    crossjit_layout,
    lld_memory,
    write_expected,
)
from tests.unit.a64_decode import adrp_target, imm12_bytes  # noqa: E402

BASE = 0x400000  # low, like a non-PIE executable, so ABS32 fits
TARGET = "--target=aarch64-linux-gnu"
OBJECTS = {
    "relocs.o": ("relocs.s", []),
    "pic.o": ("pic.c", ["-fPIC", "-O1", "-ffunction-sections"]),
    "large.o": ("large.c", ["-fno-pic", "-mcmodel=large", "-O1"]),
}
WIDTH = {"ABS64": 8, "PREL64": 8}  # everything else patches 4 bytes
GOT_PAGES = {"ADR_GOT_PAGE"}  # checked through the slot value of their LO12 partner


def got_slot(
    at: Callable[[int, int], bytes],
    elfobj: ObjectFile,
    name: str,
    sec: str,
    base_addr: int,
    off: int,
    kind: str,
    entries: list[tuple[int, int, int, int]],
) -> tuple[int, int]:
    """(ADRP offset, GOT slot address) for the LDR at ``off`` (by the ADRP it pairs with)."""
    want = "ADR_GOT_PAGE" if kind == "LD64_GOT_LO12_NC" else "ADR_PREL_PG_HI21"
    ldr = struct.unpack("<I", at(base_addr + off, 4))[0]
    for o, rtype, symi, _ in reversed(entries):
        if (
            o < off
            and reloc_name(rtype).endswith(want)
            and (want == "ADR_GOT_PAGE" or elfobj.symbols[symi].name == "_GLOBAL_OFFSET_TABLE_")
        ):
            adrp = struct.unpack("<I", at(base_addr + o, 4))[0]
            return o, adrp_target(adrp, base_addr + o) + imm12_bytes(ldr)
    raise AssertionError(f"{name}:{sec}+{off:#x}: no ADRP for {kind}")


def main() -> None:
    objs = compile_objects(HERE, OBJECTS, [TARGET, "-c", "-fno-asynchronous-unwind-tables"])
    placed = crossjit_layout(Linker(arch="aarch64", page_size=4096), objs, BASE)
    at = lld_memory(HERE, objs, placed, BASE, "a64_entry")

    where = {(s.object, s.section): s.addr for s in placed}
    relocs: list[dict[str, object]] = []
    for name, data in objs.items():
        elfobj = parse_object(name, data, machine="EM_AARCH64", machine_label="aarch64")
        for target, table in elfobj.relocs.items():
            sec = elfobj.sections[target].name
            if (name, sec) not in where:
                continue
            entries = table.entries()
            for off, rtype, symi, _ in entries:
                kind = reloc_name(rtype).removeprefix("R_AARCH64_")
                sym = elfobj.symbols[symi].name
                p = where[name, sec] + off
                entry: dict[str, object] = {
                    "object": name, "section": sec, "offset": off, "type": kind,
                }
                if kind in GOT_PAGES or sym == "_GLOBAL_OFFSET_TABLE_":
                    continue  # checked through the slot its partner loads
                if kind in ("LD64_GOT_LO12_NC", "LD64_GOTPAGE_LO15"):
                    adrp, slot = got_slot(at, elfobj, name, sec, where[name, sec], off, kind,
                                          entries)
                    entry["adrp_offset"] = adrp
                    entry["got_value"] = int.from_bytes(at(slot, 8), "little")
                else:
                    entry["bytes"] = at(p, WIDTH.get(kind, 4)).hex()
                relocs.append(entry)
    write_expected(HERE, BASE, placed, relocs)

if __name__ == "__main__":
    main()

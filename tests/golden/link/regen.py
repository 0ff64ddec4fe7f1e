#!/usr/bin/env python3
"""Regenerate the golden fixup fixtures: ``python tests/golden/link/regen.py``.

1. Compile pic.c (-fPIC) and nopic.c (-fno-pic) with clang-16 -> pic.o, nopic.o (kept,
   so the test does not depend on the compiler).
2. Link them with crossjit's linker at BASE to learn where its layout puts each input
   section, and write link.ld placing the same input sections at the same addresses.
3. Link with ld.lld-16 (-static, --no-relax, that script) and record, for every
   relocation in a loaded section, the bytes lld wrote there -> expected.json. For GOT
   loads (GOTPCREL*) the GOT slot lives elsewhere in each linker's output, so the value
   *in* the slot is recorded instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from crossjit.link import Linker  # noqa: E402
from crossjit.link.arch.x86_64 import reloc_name  # noqa: E402
from crossjit.link.objfile import parse_object  # noqa: E402
from tests.golden.link.lld import (  # noqa: E402
    compile_objects,
    crossjit_layout,
    lld_memory,
    write_expected,
)

BASE = 0x400000  # low, like a non-PIE executable, so R_X86_64_32/32S fit
OBJECTS = {
    "pic.o": ("pic.c", ["-fPIC", "-ffunction-sections"]),
    "nopic.o": ("nopic.c", ["-fno-pic"]),
}
WIDTH = {"64": 8, "PC32": 4, "PLT32": 4, "32": 4, "32S": 4, "PC64": 8}
GOT_LOADS = {"GOTPCREL", "GOTPCRELX", "REX_GOTPCRELX"}


def main() -> None:
    objs = compile_objects(
        HERE, OBJECTS, ["-c", "-O1", "-fno-asynchronous-unwind-tables"]
    )
    placed = crossjit_layout(Linker(), objs, BASE)
    at = lld_memory(HERE, objs, placed, BASE, "pic_entry")

    where = {(s.object, s.section): s.addr for s in placed}
    relocs: list[dict[str, object]] = []
    for name, data in objs.items():
        elfobj = parse_object(name, data, machine="EM_X86_64", machine_label="x86_64")
        for target, table in elfobj.relocs.items():
            sec = elfobj.sections[target].name
            if (name, sec) not in where:
                continue
            for off, rtype, _, addend in table.entries():
                kind = reloc_name(rtype).removeprefix("R_X86_64_")
                p = where[name, sec] + off
                entry: dict[str, object] = {
                    "object": name,
                    "section": sec,
                    "offset": off,
                    "type": kind,
                }
                if kind in GOT_LOADS:
                    disp = int.from_bytes(at(p, 4), "little", signed=True)
                    entry["got_value"] = int.from_bytes(at(p + disp - addend, 8), "little")
                else:
                    entry["bytes"] = at(p, WIDTH[kind]).hex()
                relocs.append(entry)
    write_expected(HERE, BASE, placed, relocs)

if __name__ == "__main__":
    main()

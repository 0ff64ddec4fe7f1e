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

import json
import subprocess
import sys
from pathlib import Path

from elftools.elf.elffile import ELFFile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from crossjit.link import Linker  # noqa: E402
from crossjit.link.arch.x86_64 import reloc_name  # noqa: E402
from crossjit.link.objfile import parse_object  # noqa: E402

BASE = 0x400000  # low, like a non-PIE executable, so R_X86_64_32/32S fit
OBJECTS = {
    "pic.o": ("pic.c", ["-fPIC", "-ffunction-sections"]),
    "nopic.o": ("nopic.c", ["-fno-pic"]),
}
WIDTH = {"64": 8, "PC32": 4, "PLT32": 4, "32": 4, "32S": 4, "PC64": 8}
GOT_LOADS = {"GOTPCREL", "GOTPCRELX", "REX_GOTPCRELX"}
GOT_ADDR = BASE + 0x100000  # where lld's .got goes: anywhere out of the way


def main() -> None:
    objs: dict[str, bytes] = {}
    for obj, (src, flags) in OBJECTS.items():
        subprocess.run(
            [
                "clang-16",
                "-c",
                "-O1",
                "-fno-asynchronous-unwind-tables",
                *flags,
                str(HERE / src),
                "-o",
                str(HERE / obj),
            ],
            check=True,
        )
        objs[obj] = (HERE / obj).read_bytes()

    linker = Linker()
    for name, data in objs.items():
        linker.add_object(name, data)
    image = linker.plan().finish(BASE, {})
    placed = [s for s in image.sections if s.object in objs and s.size]

    script = ["SECTIONS {"]
    for i, s in enumerate(placed):
        script.append(f"  .o{i} {s.addr:#x} : {{ {s.object}({s.section}) }}")
    script.append(f"  .got {GOT_ADDR:#x} : {{ *(.got) }}")
    script.append("  /DISCARD/ : { *(.comment) *(.note.*) *(.llvm_addrsig) }")
    script.append("}")
    (HERE / "link.ld").write_text("\n".join(script) + "\n")
    out = HERE / "lld.out"
    subprocess.run(
        [
            "ld.lld-16",
            "-static",
            "--no-relax",
            "-e",
            "pic_entry",
            "-T",
            "link.ld",
            *objs,
            "-o",
            str(out),
        ],
        check=True,
        cwd=HERE,
    )

    with out.open("rb") as f:
        elf = ELFFile(f)
        memory: dict[int, bytes] = {
            sec["sh_addr"]: sec.data()
            for sec in elf.iter_sections()
            if sec["sh_addr"] and sec["sh_type"] != "SHT_NOBITS"
        }
    out.unlink()

    def at(addr: int, n: int) -> bytes:
        for start, blob in memory.items():
            if start <= addr and addr + n <= start + len(blob):
                return blob[addr - start : addr - start + n]
        raise KeyError(hex(addr))

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
    lines = [
        "{",
        f' "base": {BASE},',
        ' "sections": [',
        ",\n".join(f"  {json.dumps([p.object, p.section, p.addr])}" for p in placed),
        " ],",
        ' "relocations": [',
        ",\n".join(f"  {json.dumps(r)}" for r in relocs),
        " ]",
        "}",
    ]
    (HERE / "expected.json").write_text("\n".join(lines) + "\n")
    print(f"{len(relocs)} relocations recorded")


if __name__ == "__main__":
    main()

"""What both golden regen scripts (x86-64: regen.py, AArch64: aarch64/regen.py) do the
same way: compile the fixture objects, learn crossjit's layout, have ld.lld-16 link the
same sections at the same addresses, read its output, write expected.json."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from elftools.elf.elffile import ELFFile

from crossjit.link import Linker, SectionInfo

GOT_OFFSET = 0x100000  # lld's .got goes at BASE + this: anywhere out of the way


def compile_objects(
    here: Path, objects: Mapping[str, tuple[str, list[str]]], clang: Sequence[str]
) -> dict[str, bytes]:
    """``clang-16 CLANG... FLAGS... SRC -o OBJ`` for each object (kept in ``here``)."""
    objs: dict[str, bytes] = {}
    for obj, (src, flags) in objects.items():
        subprocess.run(
            ["clang-16", *clang, *flags, str(here / src), "-o", str(here / obj)], check=True
        )
        objs[obj] = (here / obj).read_bytes()
    return objs


def crossjit_layout(linker: Linker, objs: Mapping[str, bytes], base: int) -> list[SectionInfo]:
    """Where crossjit's linker puts each non-empty input section of ``objs`` at ``base``."""
    for name, data in objs.items():
        linker.add_object(name, data)
    image = linker.plan().finish(base, {})
    return [s for s in image.sections if s.object in objs and s.size]


def lld_memory(
    here: Path, objs: Mapping[str, bytes], placed: Sequence[SectionInfo], base: int,
    entry: str,
) -> Callable[[int, int], bytes]:
    """Write link.ld (the same sections at the same addresses), link with ld.lld-16
    (-static, --no-relax) and return ``at(addr, n)``: the n bytes lld wrote at addr."""
    script = ["SECTIONS {"]
    for i, s in enumerate(placed):
        script.append(f"  .o{i} {s.addr:#x} : {{ {s.object}({s.section}) }}")
    script.append(f"  .got {base + GOT_OFFSET:#x} : {{ *(.got) }}")
    script.append("  /DISCARD/ : { *(.comment) *(.note.*) *(.llvm_addrsig) }")
    script.append("}")
    (here / "link.ld").write_text("\n".join(script) + "\n")
    out = here / "lld.out"
    subprocess.run(
        ["ld.lld-16", "-static", "--no-relax", "-e", entry, "-T", "link.ld", *objs,
         "-o", str(out)],
        check=True,
        cwd=here,
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

    return at


def write_expected(
    here: Path, base: int, placed: Sequence[SectionInfo], relocs: Sequence[dict[str, object]]
) -> None:
    lines = [
        "{",
        f' "base": {base},',
        ' "sections": [',
        ",\n".join(f"  {json.dumps([p.object, p.section, p.addr])}" for p in placed),
        " ],",
        ' "relocations": [',
        ",\n".join(f"  {json.dumps(r)}" for r in relocs),
        " ]",
        "}",
    ]
    (here / "expected.json").write_text("\n".join(lines) + "\n")
    print(f"{len(relocs)} relocations recorded")

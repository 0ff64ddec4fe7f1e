#!/usr/bin/env python3
"""Regenerate the AArch64 TLS golden fixture: ``python tests/golden/link/aarch64-tls/regen.py``.

ld.lld relaxes TLS descriptors in executables (to initial- or local-exec), so the
comparable output is a shared object: ``ld.lld-16 -shared`` keeps every TLSDESC sequence,
points it at a two-word descriptor in .got and leaves an R_AARCH64_TLSDESC dynamic
relocation whose addend is the variable's offset in the TLS segment (the objects are
-fvisibility=hidden, so none is preemptible). What crossjit must match (and
tests/unit/test_link_golden_aarch64_tls.py checks):

- each sequence's ADRP + LDR and ADRP + ADD reach one descriptor, and lld's addend for it
  equals the offset in crossjit's descriptor's index entry (the TLS layouts agree);
- the TLS segment's size, alignment and .tdata bytes equal crossjit's module.

Not here: LLVM's local-dynamic form (TLSLD_ADD_DTPREL_HI12 / _LO12_NC), which ld.lld-16
does not implement ("unknown relocation (528)"); test_link_tls_aarch64.py checks it
against the offsets in the object's symbol table instead. Nor a sequence with an addend
(``:tlsdesc:d+8``, which compilers do not emit: they add the 8 afterwards): lld adds it
to the descriptor's address instead of the variable's (AAELF64: S + A), so its output is
not comparable; test_link_tls_aarch64.py checks that case too.

1. Compile tls.c and rt.c with clang-16 --target=aarch64-linux-gnu -> *.o (kept).
2. Link with ld.lld-16 -shared and record the above -> expected.json.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[3]))

from crossjit.link.arch.aarch64 import reloc_name  # noqa: E402
from crossjit.link.objfile import parse_object  # noqa: E402
from tests.golden.link.lld import compile_objects  # noqa: E402
from tests.unit.a64_decode import adrp_target, imm12_bytes  # noqa: E402

FLAGS = ["--target=aarch64-linux-gnu", "-c", "-fPIC", "-fvisibility=hidden", "-O1",
         "-fno-asynchronous-unwind-tables"]
OBJECTS: dict[str, tuple[str, list[str]]] = {
    "tls.o": ("tls.c", []),
    "rt.o": ("rt.c", []),
}
R_AARCH64_TLSDESC = 1031
# The TLS segment starts at its alignment (64, tls.c's largest), as crossjit's blocks do:
# otherwise lld's offsets are relative to a misaligned p_vaddr and .tbss shifts.
SCRIPT = """SECTIONS {
  . = 0x10000;
  .text.tls : { tls.o(.text) }
  .text.rt : { rt.o(.text) }
  .tdata ALIGN(64) : { *(.tdata .tdata.*) }
  .tbss : { *(.tbss .tbss.*) }
}
"""


def main() -> None:
    objs = compile_objects(HERE, OBJECTS, FLAGS)
    (HERE / "link.ld").write_text(SCRIPT)
    out = HERE / "lld.so"
    subprocess.run(["ld.lld-16", "-shared", "-T", "link.ld", *objs, "-o", str(out)],
                   check=True, cwd=HERE)
    with out.open("rb") as f:
        elf = ELFFile(f)
        secs = {s.name: s for s in elf.iter_sections()}
        rela = secs[".rela.dyn"]
        assert isinstance(rela, RelocationSection)
        descs = {r["r_offset"]: r["r_addend"]
                 for r in rela.iter_relocations()
                 if r["r_info_type"] == R_AARCH64_TLSDESC}
        tls_seg = next(seg for seg in elf.iter_segments() if seg["p_type"] == "PT_TLS")
        tls = {"size": tls_seg["p_memsz"], "align": tls_seg["p_align"],
               "tdata": secs[".tdata"].data().hex()}
        texts = {o: (secs[f".text.{o[:-2]}"]["sh_addr"], secs[f".text.{o[:-2]}"].data())
                 for o in objs if o != "rt.o"}
    out.unlink()

    def insn(obj: str, off: int) -> int:
        v: int = struct.unpack_from("<I", texts[obj][1], off)[0]
        return v

    sequences: list[dict[str, object]] = []
    for name in texts:
        o = parse_object(name, objs[name], machine="EM_AARCH64", machine_label="aarch64")
        ti = next(i for i, s in enumerate(o.sections) if s.name == ".text")
        base = texts[name][0]
        groups: dict[str, list[tuple[int, str, int]]] = {}
        for off, rtype, symi, addend in o.relocs[ti].entries():
            kind = reloc_name(rtype).removeprefix("R_AARCH64_")
            sym = o.symbols[symi].name
            if kind.startswith("TLSDESC_") and kind != "TLSDESC_CALL":
                groups.setdefault(kind, []).append((off, sym, addend))
        for (adrp, sym, addend), (ldr, _, _), (add, _, _) in zip(
                groups["TLSDESC_ADR_PAGE21"], groups["TLSDESC_LD64_LO12"],
                groups["TLSDESC_ADD_LO12"], strict=True):
            page = adrp_target(insn(name, adrp), base + adrp)
            slot = page + imm12_bytes(insn(name, ldr))
            assert page + imm12_bytes(insn(name, add)) == slot
            sequences.append({"object": name, "adrp": adrp, "ldr": ldr, "add": add,
                              "symbol": sym, "addend": addend, "tls_offset": descs[slot]})
    data = {"tls": tls, "sequences": sequences}
    (HERE / "expected.json").write_text(json.dumps(data, indent=1) + "\n")
    print(f"{len(sequences)} sequences recorded")


if __name__ == "__main__":
    main()

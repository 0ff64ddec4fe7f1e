"""Debug objects for the GDB JIT interface: section addresses patched, DWARF relocated,
readable by LLVM 16's tools; source lines of addresses for crash reports."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from crossjit.link import LinkedImage, debugobj
from crossjit.run.dwarf import source_line
from tests.prereq import require_tool
from tests.unit.test_link_helpers import cc, link, llvmlite_obj

SRC = """\
static int counter;
int sub1(int x) {
    counter++;
    return x - 1;
}
int main(int argc, char **argv) {
    (void)argv;
    return sub1(argc);
}
"""


def _debug_object(image: LinkedImage, name: str, data: bytes) -> bytes:
    return debugobj.build_debug_object(
        data, debugobj.section_addresses(image.sections, name), image.debug_sections()[name])


def _tool(name: str, *args: str) -> str:
    exe = require_tool(name, f"{name} (apt-get install llvm-16)")
    return subprocess.run([exe, *args], check=True, capture_output=True, text=True,
                          timeout=60).stdout


def _section_addrs(readelf_out: str) -> dict[str, int]:
    """``{name: sh_addr}`` from ``llvm-readelf -S``."""
    out = {}
    for m in re.finditer(r"\]\s+(\S+)\s+\S+\s+([0-9a-f]{16})", readelf_out):
        out[m.group(1)] = int(m.group(2), 16)
    return out


@pytest.mark.parametrize("make", [cc, llvmlite_obj], ids=["clang", "llvmlite"])
def test_sections_at_load_addresses(tmp_path: Path, make: object) -> None:
    data = make(tmp_path, SRC, "seed.c", ("-O0", "-g"))  # type: ignore[operator]
    _, image = link({"seed.o": data}, {})
    obj = _debug_object(image, "seed.o", data)
    path = tmp_path / "debug.o"
    path.write_bytes(obj)

    addrs = _section_addrs(_tool("llvm-readelf-16", "-S", "--wide", str(path)))
    loaded = {s.section: s.addr for s in image.sections if s.object == "seed.o"}
    assert ".text" in loaded
    for name, addr in loaded.items():
        assert addrs[name] == addr, name
    assert addrs[".debug_info"] == 0  # debug sections are not loaded

    # The symbols the debugger reads are section-relative: st_value + the patched sh_addr.
    syms = _tool("llvm-nm-16", "--defined-only", str(path))
    assert re.search(r"\bT sub1\b", syms)

    # DWARF needs no further relocation: its relocation tables are empty and the
    # line table and DW_AT_low_pc already name the loaded addresses.
    relocs = _tool("llvm-readelf-16", "-r", str(path))
    assert ".rela.debug_info" not in relocs or "contains 0 entries" in relocs
    sub1 = image.symbols["sub1"]
    lookup = _tool("llvm-dwarfdump-16", f"--lookup={sub1 + 4:#x}", str(path))
    assert 'DW_AT_name\t("sub1")' in lookup
    assert f"DW_AT_low_pc\t({sub1:#018x})" in lookup
    assert 'DW_AT_decl_file\t("' in lookup and 'seed.c")' in lookup
    verify = subprocess.run(
        [require_tool("llvm-dwarfdump-16"), "--verify", str(path)],
        capture_output=True, text=True, timeout=60, check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_source_line_of_addresses(tmp_path: Path) -> None:
    data = cc(tmp_path, SRC, "seed.c", ("-O0", "-g"))
    _, image = link({"seed.o": data}, {})
    dbg = image.debug_sections()["seed.o"]
    sub1 = image.symbols["sub1"]
    first = source_line(dbg, sub1)
    assert first is not None and first.short == "seed.c:2"
    assert first.file.endswith("/seed.c")
    # Somewhere inside sub1's body the line is 3 or 4; never outside the function.
    lines = {ln.line for a in range(sub1, sub1 + 24) if (ln := source_line(dbg, a))}
    assert lines <= {2, 3, 4, 5} and {3, 4} & lines
    assert source_line(dbg, image.symbols["main"]) == type(first)(first.file, 6)
    assert source_line(dbg, 0x10) is None
    assert source_line({}, sub1) is None


def test_without_debug_info_keeps_symbols(tmp_path: Path) -> None:
    """Objects without DWARF (crossjit's runtime) are registered too, for names/unwinding."""
    data = cc(tmp_path, SRC, "nodebug.c", ("-O2",))
    _, image = link({"nodebug.o": data}, {})
    assert not debugobj.has_debug_info(image.debug_sections().get("nodebug.o", {}))
    obj = _debug_object_or_plain(image, "nodebug.o", data)
    path = tmp_path / "nodebug-debug.o"
    path.write_bytes(obj)
    addrs = _section_addrs(_tool("llvm-readelf-16", "-S", "--wide", str(path)))
    text = next(s.addr for s in image.sections if s.object == "nodebug.o" and s.section == ".text")
    assert addrs[".text"] == text
    # .eh_frame keeps its relocations: gdb relocates it to unwind through this code.
    assert "R_X86_64_PC32" in _tool("llvm-readelf-16", "-r", str(path))


def _debug_object_or_plain(image: LinkedImage, name: str, data: bytes) -> bytes:
    return debugobj.build_debug_object(
        data, debugobj.section_addresses(image.sections, name),
        image.debug_sections().get(name, {}))


def test_unloaded_alloc_sections_lose_alloc(tmp_path: Path) -> None:
    data = cc(tmp_path, SRC, "seed.c", ("-O0", "-g"))
    # Pretend the link loaded nothing: every allocatable section must drop SHF_ALLOC.
    obj = debugobj.build_debug_object(data, {}, {})
    path = tmp_path / "none.o"
    path.write_bytes(obj)
    out = _tool("llvm-readelf-16", "-S", "--wide", str(path))
    text_line = next(line for line in out.splitlines() if " .text " in line)
    assert " AX " not in text_line and " X " in text_line


def test_rejects_non_relocatable() -> None:
    with pytest.raises(debugobj.DebugObjectError):
        debugobj.build_debug_object(b"not an elf", {}, {})
    exe = Path("/bin/true").read_bytes()
    with pytest.raises(debugobj.DebugObjectError):
        debugobj.build_debug_object(exe, {}, {})

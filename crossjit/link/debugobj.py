"""Debug objects for the GDB JIT interface (pure: input object + link map -> bytes).

A debugger learns about JIT'd code from an in-memory ELF file registered in the
executor's ``__jit_debug_descriptor``. Like LLVM's ELF debug-object plugin we register
a copy of each *relocatable input object* whose loaded sections' ``sh_addr`` say where
the linker put them; gdb and lldb take those as absolute section addresses.

Two differences from LLVM's plugin, both to keep the debuggers' work trivial:

* the ``.debug_*`` sections hold the bytes crossjit's linker already relocated for the
  loaded addresses (``LinkedImage.debug_sections()``), and their relocation tables are
  emptied, so a debugger never relocates DWARF itself (our tombstones for discarded
  COMDAT code stay). Other relocation tables stay: gdb relocates ``.eh_frame`` with
  them to unwind through JIT'd frames;
* allocatable sections the link did not load (discarded COMDAT copies) lose
  ``SHF_ALLOC``, so they do not appear at address 0 in the debugger.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crossjit.link import SectionInfo

__all__ = [
    "DebugObjectError",
    "build_debug_object",
    "has_debug_info",
    "section_addresses",
]

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")  # name type flags addr offset size link info align entsize
SHT_NOBITS = 8
SHT_RELA = 4
SHT_REL = 9
SHF_ALLOC = 0x2
SHF_INFO_LINK = 0x40
SHF_COMPRESSED = 0x800
ET_REL = 1


class DebugObjectError(ValueError):
    """The input is not an ELF64 little-endian relocatable object we can copy."""


def has_debug_info(debug_sections: Mapping[str, bytes]) -> bool:
    return ".debug_info" in debug_sections


def section_addresses(
    link_map: Iterable[SectionInfo], obj: str
) -> dict[str, list[tuple[int, int]]]:
    """``{section name: [(addr, size), ...]}`` of one object, in link-map order."""
    out: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for s in link_map:
        if s.object == obj:
            out[s.section].append((s.addr, s.size))
    return dict(out)


def _align(n: int, a: int) -> int:
    return (n + a - 1) & -a if a > 1 else n


def build_debug_object(
    data: bytes,
    loaded: Mapping[str, list[tuple[int, int]]],
    debug_sections: Mapping[str, bytes],
) -> bytes:
    """The copy of relocatable object ``data`` to register with the debugger.

    ``loaded`` maps section names to their load addresses and sizes (several entries
    when an object has several sections of one name: matched by size, then in order);
    ``debug_sections`` are the relocated ``.debug_*`` contents by section name.
    """
    if len(data) < _EHDR.size or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise DebugObjectError("not an ELF64 little-endian file")
    eh = list(_EHDR.unpack_from(data))
    if eh[1] != ET_REL:
        raise DebugObjectError("not a relocatable object (ET_REL)")
    shoff, shentsize, shnum, shstrndx = eh[6], eh[11], eh[12], eh[13]
    if shoff == 0 or shentsize != _SHDR.size:
        raise DebugObjectError("no usable section header table")
    first = _SHDR.unpack_from(data, shoff)
    count = shnum or first[5]  # extended numbering: the count is in section 0's sh_size
    headers = [list(_SHDR.unpack_from(data, shoff + i * _SHDR.size)) for i in range(count)]
    if shstrndx == 0xFFFF:
        shstrndx = first[6]
    strtab_hdr = headers[shstrndx]
    names = data[strtab_hdr[4] : strtab_hdr[4] + strtab_hdr[5]]

    def name_of(off: int) -> str:
        return names[off : names.index(b"\0", off)].decode("utf-8", "replace")

    pending = {k: list(v) for k, v in loaded.items()}
    out = bytearray(_EHDR.size)
    for i, h in enumerate(headers):
        if i == 0:
            continue
        name = name_of(h[0])
        stype, flags, size = h[1], h[2], h[5]
        body = b"" if stype == SHT_NOBITS else data[h[4] : h[4] + size]
        if name in debug_sections:
            body = debug_sections[name]
            flags &= ~SHF_COMPRESSED  # the relocated bytes are decompressed
            size = len(body)
        elif stype in (SHT_RELA, SHT_REL) and name_of(headers[h[7]][0]) in debug_sections:
            body, size = b"", 0  # already applied to the debug section
            flags &= ~SHF_INFO_LINK
        if flags & SHF_ALLOC:
            spots = pending.get(name)
            if spots:
                pick = next((j for j, (_, sz) in enumerate(spots) if sz == size), 0)
                h[3] = spots.pop(pick)[0]
            else:
                flags &= ~SHF_ALLOC  # not loaded: keep it out of the debugger's map
        offset = _align(len(out), max(h[8], 1))
        if stype != SHT_NOBITS:
            out += bytes(offset - len(out))
            out += body
        h[2], h[4], h[5] = flags, offset, size
    new_shoff = _align(len(out), 8)
    out += bytes(new_shoff - len(out))
    for h in headers:
        out += _SHDR.pack(*h)
    eh[6] = new_shoff
    _EHDR.pack_into(out, 0, *eh)
    return bytes(out)


def debug_only_object(debug_sections: Mapping[str, bytes], machine: int = 62) -> bytes:
    """A minimal ELF64 relocatable holding only ``debug_sections`` (already relocated),
    so DWARF readers that want a file can read them (see ``crossjit.debug.dwarf``)."""
    names = ["", *debug_sections, ".shstrtab"]
    strtab = bytearray(b"\0")
    name_off = [0]
    for n in names[1:]:
        name_off.append(len(strtab))
        strtab += n.encode() + b"\0"
    out = bytearray(_EHDR.size)
    headers = [(0,) * 10]
    for i, n in enumerate(names[1:-1], start=1):
        body = debug_sections[n]
        headers.append((name_off[i], 1, 0, 0, len(out), len(body), 0, 0, 1, 0))
        out += body
    headers.append((name_off[-1], 3, 0, 0, len(out), len(strtab), 0, 0, 1, 0))
    out += strtab
    shoff = _align(len(out), 8)
    out += bytes(shoff - len(out))
    for h in headers:
        out += _SHDR.pack(*h)
    ident = b"\x7fELF\x02\x01\x01" + bytes(9)
    _EHDR.pack_into(out, 0, ident, ET_REL, machine, 1, 0, 0, shoff, 0, _EHDR.size, 0, 0,
                    _SHDR.size, len(headers), len(headers) - 1)
    return bytes(out)

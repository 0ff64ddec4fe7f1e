"""Relocatable ELF objects: headers, sections, symbols and relocations.

Everything is decoded straight from the bytes with ``struct``/``memoryview``:
pyelftools builds one Python object per entry, far too slow for a ``-g`` object with
tens of thousands of relocations. It (through ``crossjit.elf``) only describes bad input.
"""

from __future__ import annotations

import struct
import sys
import zlib

from crossjit import elf
from crossjit.errors import LinkError
from crossjit.records import field, record

# Section types (ELF gABI and vendor extensions we must recognise).
SHT_NULL = 0
SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_STRTAB = 3
SHT_RELA = 4
SHT_NOTE = 7
SHT_NOBITS = 8
SHT_REL = 9
SHT_INIT_ARRAY = 14
SHT_FINI_ARRAY = 15
SHT_PREINIT_ARRAY = 16
SHT_GROUP = 17
SHT_SYMTAB_SHNDX = 18
SHT_X86_64_UNWIND = 0x70000001

# Section flags.
SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
SHF_MERGE = 0x10
SHF_STRINGS = 0x20
SHF_GROUP = 0x200
SHF_TLS = 0x400
SHF_COMPRESSED = 0x800

GRP_COMDAT = 1

# Special section indices.
SHN_UNDEF = 0
SHN_LORESERVE = 0xFF00
SHN_ABS = 0xFFF1
SHN_COMMON = 0xFFF2
SHN_XINDEX = 0xFFFF

# Symbol binding / type / visibility.
STB_LOCAL = 0
STB_GLOBAL = 1
STB_WEAK = 2
STT_NOTYPE = 0
STT_OBJECT = 1
STT_FUNC = 2
STT_SECTION = 3
STT_FILE = 4
STT_COMMON = 5
STT_TLS = 6
STT_GNU_IFUNC = 10
STV_DEFAULT = 0
STV_HIDDEN = 2


_SYM64 = struct.Struct("<IBBHQQ")
_RELA64 = struct.Struct("<QQq")
_CHDR64 = struct.Struct("<IIQQ")
_ELFCOMPRESS_ZLIB = 1

# memoryview.cast uses the host's byte order; ELF objects we link are little-endian.
_HOST_LE = sys.byteorder == "little"


@record(slots=True)
class Section:
    """One section header plus a view of its bytes (empty for SHT_NOBITS)."""

    index: int
    name: str
    type: int
    flags: int
    size: int
    align: int
    entsize: int
    link: int
    info: int
    data: memoryview

    @property
    def alloc(self) -> bool:
        return bool(self.flags & SHF_ALLOC)


@record(slots=True)
class RawSymbol:
    """An ELF symbol table entry, decoded."""

    index: int
    name: str
    value: int
    size: int
    bind: int
    type: int
    visibility: int
    shndx: int


@record(slots=True)
class Group:
    """An SHT_GROUP section: a COMDAT group when ``comdat``."""

    index: int
    signature: str
    comdat: bool
    members: list[int]


@record(slots=True)
class RelaTable:
    """The relocations (SHT_RELA) that apply to one section."""

    index: int  # index of the SHT_RELA section itself
    name: str
    target: int  # index of the section they patch
    data: memoryview

    def __len__(self) -> int:
        return len(self.data) // _RELA64.size

    def types(self) -> set[int]:
        """The distinct relocation types, at C speed (r_info's low word of every entry)."""
        if _HOST_LE:
            return set(self.data.cast("I")[2::6])
        return {info & 0xFFFFFFFF for _, info, _ in _RELA64.iter_unpack(self.data)}

    def entries(self) -> list[tuple[int, int, int, int]]:
        """``(r_offset, type, symbol index, addend)`` for every relocation."""
        if _HOST_LE:
            q = self.data.cast("Q")
            infos = q[1::3]
            return list(
                zip(
                    q[0::3],
                    [i & 0xFFFFFFFF for i in infos],
                    [i >> 32 for i in infos],
                    self.data.cast("q")[2::3],
                    strict=True,
                )
            )
        return [(o, i & 0xFFFFFFFF, i >> 32, a) for o, i, a in _RELA64.iter_unpack(self.data)]


@record(slots=True)
class ObjectFile:
    """A parsed, validated ELF64 relocatable object."""

    name: str
    sections: list[Section]
    symbols: list[RawSymbol]
    relocs: dict[int, RelaTable] = field(default_factory=dict)  # by target section index
    groups: list[Group] = field(default_factory=list)

    def section_name(self, index: int) -> str:
        if 0 < index < len(self.sections):
            return self.sections[index].name
        return {SHN_ABS: "*ABS*", SHN_COMMON: "*COM*", SHN_UNDEF: "*UND*"}.get(index, f"#{index}")


# e_machine numbers of the architectures crossjit links (the fast path needs no pyelftools).
_EM_NUMBERS = {"EM_X86_64": 62, "EM_AARCH64": 183, "EM_ARM": 40, "EM_RISCV": 243}
_EHDR64 = struct.Struct("<HHIQQQIHHHHHH")  # e_type .. e_shstrndx, after the 16-byte e_ident
_ET_REL = 1


def parse_object(name: str, data: bytes, *, machine: str, machine_label: str) -> ObjectFile:
    """Parse ``data`` as an ELF64 little-endian relocatable object for ``machine``.

    ``machine`` is pyelftools' e_machine name (``"EM_X86_64"``); ``machine_label`` is
    what the link is for, used in the message when the object is for something else.
    """
    if data[:4] != b"\x7fELF":
        raise LinkError(
            f"{name}: not an ELF object file (starts with {bytes(data[:8])!r})",
            hint="pass relocatable ELF objects (.o), LLVM IR (.ll/.bc) or C/C++ sources",
        )
    if len(data) < 16 + _EHDR64.size:
        raise LinkError(f"{name}: malformed ELF object: truncated ELF header")
    e_type, e_machine, *_, shoff, _flags, _eh, _phe, _phn, _she, shnum, shstrndx = (
        _EHDR64.unpack_from(data, 16)
    )
    # e_ident[EI_CLASS] == ELFCLASS64, e_ident[EI_DATA] == ELFDATA2LSB
    if data[4] != 2 or data[5] != 1 or e_machine != _EM_NUMBERS.get(machine):
        raise LinkError(
            f"{name}: wrong architecture: it is {elf.describe(data)}, "
            f"but this link is for {machine_label} (ELF64 little-endian "
            f"{elf.machine_name(machine)})",
            hint="compile it for the executor's target triple (clang --target=...)",
        )
    if e_type != _ET_REL:
        raise LinkError(
            f"{name}: is {elf.describe(data)}, not a relocatable object (.o)",
            hint="the JIT linker takes compiler output (clang -c), not linked programs "
            "or shared libraries",
        )

    view = memoryview(data)
    try:
        headers = _section_headers(data, shoff, shnum, shstrndx)
    except struct.error as e:
        raise LinkError(f"{name}: malformed ELF object: truncated section header table") from e
    shstrndx = headers[0][6] if shstrndx == SHN_XINDEX and headers else shstrndx

    def blob(h: tuple[int, ...]) -> memoryview:
        if h[1] == SHT_NOBITS:
            return view[0:0]
        off, size = h[4], h[5]
        if off + size > len(data):
            raise LinkError(f"{name}: malformed ELF object: a section extends past end of file")
        return view[off : off + size]

    # Section names are looked up once per section; bytes.find on the table is cheap.
    shstr_bytes = bytes(blob(headers[shstrndx])) if 0 < shstrndx < len(headers) else b""

    def sname(off: int) -> str:
        end = shstr_bytes.find(b"\0", off)
        return shstr_bytes[off:end].decode("utf-8", "replace")

    sections = [
        Section(i, sname(h[0]), h[1], h[2], h[5], max(1, h[8]), h[9], h[6], h[7], blob(h))
        for i, h in enumerate(headers)
    ]

    # Symbols: the single SHT_SYMTAB (relocatable objects have exactly one).
    symbols: list[RawSymbol] = []
    symtab = next((s for s in sections if s.type == SHT_SYMTAB), None)
    if symtab is not None:
        strtab = bytes(sections[symtab.link].data)
        xindex: memoryview | None = None
        for s in sections:
            if s.type == SHT_SYMTAB_SHNDX and s.link == symtab.index:
                xindex = s.data.cast("I") if _HOST_LE else None
        for i, (st_name, info, other, shndx, value, size) in enumerate(
            _SYM64.iter_unpack(symtab.data)
        ):
            end = strtab.find(b"\0", st_name)
            sym_name = strtab[st_name:end].decode("utf-8", "replace")
            if shndx == SHN_XINDEX and xindex is not None:
                shndx = xindex[i]
            symbols.append(
                RawSymbol(i, sym_name, value, size, info >> 4, info & 0xF, other & 0x3, shndx)
            )
        for rs in symbols:
            if rs.type == STT_SECTION and not rs.name and 0 < rs.shndx < len(sections):
                rs.name = sections[rs.shndx].name

    obj = ObjectFile(name, sections, symbols)
    for s in sections:
        if s.type == SHT_RELA:
            obj.relocs[s.info] = RelaTable(s.index, s.name, s.info, s.data)
        elif s.type == SHT_REL:
            raise LinkError(
                f"{name}: section {s.name} holds REL relocations; x86-64/AArch64 objects use RELA",
                hint="this object was not produced by a compiler for an ELF64 RELA target",
            )
        elif s.type == SHT_GROUP:
            words = [w for (w,) in struct.iter_unpack("<I", s.data)]
            sig = symbols[s.info].name if s.info < len(symbols) else f"#{s.info}"
            obj.groups.append(Group(s.index, sig, bool(words[0] & GRP_COMDAT), list(words[1:])))
    return obj


def section_bytes(sec: Section) -> bytes:
    """The section's contents, decompressed if SHF_COMPRESSED (zlib)."""
    if not sec.flags & SHF_COMPRESSED:
        return bytes(sec.data)
    ch_type, _, size, _ = _CHDR64.unpack_from(sec.data)
    if ch_type != _ELFCOMPRESS_ZLIB:
        raise LinkError(f"section {sec.name}: unsupported compression type {ch_type}")
    out = zlib.decompress(sec.data[_CHDR64.size :])
    if len(out) != size:
        raise LinkError(f"section {sec.name}: decompressed size {len(out)} != {size}")
    return out


_SHDR64 = struct.Struct("<IIQQQQIIQQ")  # name type flags addr offset size link info align entsize


def _section_headers(data: bytes, shoff: int, shnum: int, shstrndx: int) -> list[tuple[int, ...]]:
    """The section header table, decoded (name, type, flags, addr, offset, size, link,
    info, addralign, entsize); handles extended section numbering."""
    if shoff == 0:
        return []
    first = _SHDR64.unpack_from(data, shoff)
    count = shnum or first[5]  # e_shnum == 0: the real count is section 0's sh_size
    return [_SHDR64.unpack_from(data, shoff + i * _SHDR64.size) for i in range(count)]

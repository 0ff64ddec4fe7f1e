"""Static archives (``ar``, ``.a``): members and which symbols each defines.

A linker pulls a member in only when it defines a symbol that is still undefined, and
repeats until nothing changes (``linker.Linker.plan``). Which member defines what comes
from the archive's own symbol index (``/`` or ``/SYM64/``, written by ``ar s``/``ranlib``),
so members that are never needed are never even parsed — a broken unused member does not
break the link, as with ld. Without an index the members' symbol tables are read.
"""

from __future__ import annotations

import struct

from crossjit.errors import LinkError, NotSupportedError
from crossjit.records import record

MAGIC = b"!<arch>\n"
THIN_MAGIC = b"!<thin>\n"
_HEADER = 60


@record(frozen=True)
class Member:
    name: str  # as the linker names it in messages: ``libfoo.a(bar.o)``
    offset: int  # of its header in the archive (what the symbol index refers to)
    data: bytes


@record(frozen=True)
class Archive:
    name: str
    members: tuple[Member, ...]
    index: dict[str, int] | None  # symbol -> member header offset; None without an index

    def member_at(self, offset: int) -> Member | None:
        return next((m for m in self.members if m.offset == offset), None)


def is_archive(data: bytes) -> bool:
    return data[:8] in (MAGIC, THIN_MAGIC)


def _bad(name: str, why: str) -> LinkError:
    return LinkError(f"{name}: malformed archive: {why}",
                     hint="rebuild it with ar rcs (or llvm-ar)")


def _index(name: str, data: bytes, wide: bool) -> dict[str, int]:
    width, fmt = (8, ">Q") if wide else (4, ">I")
    if len(data) < width:
        raise _bad(name, "truncated symbol index")
    (count,) = struct.unpack_from(fmt, data, 0)
    names_at = width + count * width
    if names_at > len(data):
        raise _bad(name, "truncated symbol index")
    offsets = [struct.unpack_from(fmt, data, width + i * width)[0] for i in range(count)]
    names = data[names_at:].split(b"\0")
    index: dict[str, int] = {}
    for off, sym in zip(offsets, names, strict=False):
        index.setdefault(sym.decode("utf-8", "replace"), off)  # the first definition wins
    return index


def read_archive(name: str, data: bytes) -> Archive:
    """Split ``data`` (GNU or BSD ``ar`` format) into members and its symbol index."""
    if data[:8] == THIN_MAGIC:
        raise NotSupportedError(f"{name} is a thin archive, which the JIT linker does not "
                                "read yet", hint="create a normal one: ar rcs (without T)")
    if data[:8] != MAGIC:
        raise _bad(name, "no !<arch> magic")
    pos, longnames = 8, b""
    members: list[Member] = []
    index: dict[str, int] | None = None
    while pos + _HEADER <= len(data):
        head = data[pos:pos + _HEADER]
        if head[58:60] != b"`\n":
            raise _bad(name, f"bad member header at offset {pos}")
        try:
            size = int(head[48:58].decode().strip() or "0")
        except ValueError:
            raise _bad(name, f"bad member size at offset {pos}") from None
        start, raw = pos + _HEADER, head[:16].decode("utf-8", "replace").rstrip()
        body = data[start:start + size]
        if len(body) != size:
            raise _bad(name, f"member at offset {pos} extends past the end")
        if raw == "/":
            index = _index(name, body, wide=False)
        elif raw == "/SYM64/":
            index = _index(name, body, wide=True)
        elif raw == "//":
            longnames = body
        elif raw.startswith("__.SYMDEF"):
            pass  # BSD index: members' symbol tables are read instead
        else:
            if raw.startswith("#1/"):  # BSD: the name follows the header
                n = int(raw[3:])
                mname, body = body[:n].rstrip(b"\0").decode("utf-8", "replace"), body[n:]
            elif raw.startswith("/") and raw[1:].isdigit():  # GNU: in the long-name table
                off = int(raw[1:])
                end = longnames.find(b"/\n", off)
                mname = longnames[off:end if end >= 0 else None].decode("utf-8", "replace")
            else:
                mname = raw.removesuffix("/")
            members.append(Member(f"{name}({mname})", pos, body))
        pos = start + size + (size & 1)
    return Archive(name, tuple(members), index)


__all__ = ["Archive", "Member", "is_archive", "read_archive"]

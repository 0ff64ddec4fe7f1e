"""link/archive.py: ar formats read by hand-built archives (pure, no tools)."""

from __future__ import annotations

import struct

import pytest

from crossjit.errors import LinkError, NotSupportedError
from crossjit.link.archive import is_archive, read_archive


def header(name: str, size: int) -> bytes:
    return (f"{name:<16}{0:<12}{0:<6}{0:<6}{644:<8}{size:<10}".encode() + b"`\n")


def member(name: str, body: bytes) -> bytes:
    return header(name, len(body)) + body + (b"\n" if len(body) & 1 else b"")


def test_gnu_archive_with_index_and_long_names() -> None:
    long = b"a_member_name_longer_than_sixteen.o/\n"
    first = b"ELF-ish odd"  # odd size: padded with one byte
    second = b"second"
    # Offsets of the member headers: magic, index, long names, then the members.
    syms = [b"alpha", b"beta"]
    index_body_len = 4 + 4 * len(syms) + sum(len(s) + 1 for s in syms)
    off_long = 8 + 60 + index_body_len + (index_body_len & 1)
    off_first = off_long + 60 + len(long) + (len(long) & 1)
    off_second = off_first + 60 + len(first) + 1
    index = struct.pack(">I", 2) + struct.pack(">II", off_first, off_second) + b"alpha\0beta\0"
    data = (b"!<arch>\n" + member("/", index) + member("//", long)
            + member("/0", first) + member("short.o/", second))
    ar = read_archive("lib.a", data)
    assert is_archive(data)
    assert [m.name for m in ar.members] == ["lib.a(a_member_name_longer_than_sixteen.o)",
                                            "lib.a(short.o)"]
    assert [m.data for m in ar.members] == [first, second]
    assert ar.index == {"alpha": off_first, "beta": off_second}
    assert ar.member_at(off_second) is ar.members[1]


def test_bsd_names_and_no_index() -> None:
    body = b"bsd_member_name.o\0\0\0" + b"payload"
    ar = read_archive("x.a", b"!<arch>\n" + member("#1/20", body))
    assert ar.index is None
    assert [(m.name, m.data) for m in ar.members] == [("x.a(bsd_member_name.o)", b"payload")]


def test_bad_archives_are_clear_errors() -> None:
    with pytest.raises(LinkError, match="no !<arch> magic"):
        read_archive("x.a", b"not an archive")
    with pytest.raises(LinkError, match="extends past the end"):
        read_archive("x.a", b"!<arch>\n" + header("m.o/", 100) + b"short")
    with pytest.raises(NotSupportedError, match="thin archive"):
        read_archive("x.a", b"!<thin>\n")

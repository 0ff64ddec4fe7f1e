"""Write a small seed corpus for build/fuzz-frames: one well-formed call per wrapper.

Usage: python3 executor/fuzz/make_seeds.py DIR
Tags are wrapper-table indices (the harness maps tag % (count + 1) onto the table);
the order is the table order in src/wrappers.c.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path


def u64(v: int) -> bytes:
    return struct.pack("<Q", v)


def s(b: bytes) -> bytes:
    return u64(len(b)) + b


def frame(op: int, seq: int, tag: int, payload: bytes) -> bytes:
    return struct.pack("<4Q", 32 + len(payload), op, seq, tag) + payload


INST = u64(0x1000)
SEEDS: dict[str, bytes] = {
    "reserve": frame(3, 0, 0, INST + u64(4096)),
    "finalize": frame(3, 1, 1, INST + u64(1) + b"\x05" + u64(0x10000) + u64(4096) + s(b"\xc3")
                      + u64(1) + u64(0) + s(b"") + u64(0) + s(b"")),
    "deallocate": frame(3, 2, 2, INST + u64(2) + u64(0x10000) + u64(0x20000)),
    "open": frame(3, 3, 3, INST + s(b"") + u64(0)),
    "lookup": frame(3, 4, 4, INST + u64(0) + u64(2) + s(b"printf") + b"\x01" + s(b"x") + b"\x00"),
    "write8": frame(3, 5, 5, u64(1) + u64(0x10000) + b"\x11"),
    "writebuf": frame(3, 6, 9, u64(1) + u64(0x10000) + s(b"hello")),
    "run_main": frame(3, 7, 10, u64(0x10000) + u64(2) + s(b"a") + s(b"bc")),
    "ehframe": frame(3, 8, 13, u64(0x10000) + u64(0x10004)),
    "gdb": frame(3, 9, 23, u64(0x10000) + u64(0x10016) + b"\x01"),
    "result_hangup": frame(2, 77, 0, b"xy") + frame(1, 0, 0, b"\x00"),
    "two_calls": frame(3, 0, 0, INST + u64(8192)) + frame(3, 1, 4, INST + u64(1) + u64(0)),
}


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, data in SEEDS.items():
        (out / name).write_bytes(data)


if __name__ == "__main__":
    main()

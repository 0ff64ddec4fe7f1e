"""Footprint of crossjit-executor vs LLVM 16's llvm-jitlink-executor.

Stripped size of each build (plus, for LLVM, the shared libraries it needs
beyond libc) and idle resident memory (VmRSS once Setup was sent).

    make -C executor && python3 bench/executor_footprint.py [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "executor" / "build"
LLVM16 = Path("/usr/lib/llvm-16/bin/llvm-jitlink-executor")
STRIP = "/usr/lib/llvm-16/bin/llvm-strip"
OURS = ["glibc", "musl", "musl-static", "aarch64-musl", "aarch64-musl-static"]
BEGIN = "<!-- executor-footprint:begin -->"
END = "<!-- executor-footprint:end -->"
# Libraries every dynamically linked C program needs anyway; not counted.
LIBC = re.compile(r"lib(c|m|dl|pthread|rt)\.so|ld-linux|linux-vdso|ld-musl")


def stripped_size(path: Path) -> int:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "x"
        subprocess.run([STRIP, "--strip-all", "-o", str(out), str(path)], check=True)
        return out.stat().st_size


def needed_libs(path: Path) -> list[Path]:
    out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"=>\s+(\S+)", line)
        if m and not LIBC.search(line):
            libs.append(Path(m.group(1)).resolve())
    return libs


def idle_rss_kib(argv: list[str]) -> int:
    a, b = socket.socketpair()
    p = subprocess.Popen([*argv, f"filedescs={b.fileno()},{b.fileno()}"], pass_fds=[b.fileno()])
    b.close()
    try:
        hdr = a.recv(32, socket.MSG_WAITALL)
        size = struct.unpack_from("<Q", hdr)[0]
        a.recv(size - 32, socket.MSG_WAITALL)
        time.sleep(0.5)
        status = Path(f"/proc/{p.pid}/status").read_text()
        m = re.search(r"VmRSS:\s+(\d+) kB", status)
        assert m
        return int(m.group(1))
    finally:
        a.sendall(struct.pack("<4Q", 33, 1, 0, 0) + b"\0")
        a.close()
        p.wait(10)


def kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def measure() -> str:
    rows = ["| executor | stripped binary | + non-libc shared libs | idle RSS after Setup |",
            "| --- | --- | --- | --- |"]
    for v in OURS:
        path = BUILD / f"crossjit-executor-{v}"
        if not path.exists():
            continue
        size = stripped_size(path)
        rss = "n/a (aarch64: would measure qemu)" if v.startswith("aarch64") \
            else f"{idle_rss_kib([str(path)])} KiB"
        rows.append(f"| crossjit-executor-{v} | {kib(size)} | — | {rss} |")
    if LLVM16.exists():
        size = stripped_size(LLVM16)
        libs = needed_libs(LLVM16)
        total = size + sum(stripped_size(lib) for lib in libs)
        names = ", ".join(lib.name for lib in libs)
        rows.append(f"| LLVM 16 llvm-jitlink-executor | {kib(size)} | {kib(total)} total "
                    f"({names}) | {idle_rss_kib([str(LLVM16)])} KiB |")
    uname = os.uname()
    rows.append("")
    rows.append(f"Measured on {uname.machine} Linux {uname.release} with "
                f"`python3 bench/executor_footprint.py` ({time.strftime('%Y-%m-%d')}). "
                "Sizes after `llvm-strip --strip-all`; KiB = 1024 bytes.")
    return "\n".join(rows)


def write_section(doc: Path, table: str) -> None:
    text = doc.read_text() if doc.exists() else "# crossjit benchmarks\n"
    block = f"{BEGIN}\n{table}\n{END}"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", type=Path, help="replace the footprint table in this markdown file")
    args = ap.parse_args()
    table = measure()
    print(table)
    if args.write:
        write_section(args.write, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

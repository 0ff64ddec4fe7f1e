"""Record the Setup frame (header + payload) of each Debian LLVM executor.

Run from the repository root:  python -m tests.golden.orc.record_setup [VERSION...]
Writes tests/golden/orc/setup-llvm-N.bin. Addresses differ per run (PIE), names do not.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from crossjit.orc.frames import FrameDecoder, Opcode, encode_frame
from crossjit.orc.transport import spawn_executor

HERE = Path(__file__).resolve().parent
VERSIONS = (14, 15, 16, 19, 22)


def record(version: int) -> Path:
    exe = f"/usr/lib/llvm-{version}/bin/llvm-jitlink-executor"
    t = spawn_executor(exe)
    try:
        dec = FrameDecoder()
        deadline = time.monotonic() + 10
        while True:
            chunk = t.recv(deadline)
            if not chunk:
                raise SystemExit(f"{exe} closed the connection before Setup")
            frames = dec.feed(chunk)
            if frames:
                break
        f = frames[0]
        assert f.opcode is Opcode.SETUP, f
        out = HERE / f"setup-llvm-{version}.bin"
        out.write_bytes(encode_frame(f.opcode, f.seq, f.tag, f.payload))
        return out
    finally:
        status = t.close(encode_frame(Opcode.HANGUP, 0, 0, b"\x00"))
        if status != 0:
            print(f"warning: {exe} exited with {status}", file=sys.stderr)


def main(argv: list[str]) -> None:
    for v in [int(a) for a in argv] or VERSIONS:
        print(record(v))


if __name__ == "__main__":
    main(sys.argv[1:])

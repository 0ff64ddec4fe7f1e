"""TCP session probe for test_orc_tcp.py; runs *inside* a private network namespace.

Usage (as root): unshare --net python -m tests.integration.orc_tcp_probe EXECUTOR
LLVM's executors bind 0.0.0.0 whatever HOST says, hence the namespace. Starts
``EXECUTOR listen=127.0.0.1:PORT``, connects with OrcClient, loads and runs a tiny
function, hangs up, waits for the executor, and prints one JSON line with the results.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

from crossjit.orc.client import OrcClient
from crossjit.orc.messages import Prot, SegmentRequest
from tests.integration import orc_code as code


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str]) -> int:
    exe = argv[0]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    port = free_port()
    # The executor's stdout goes to our stderr: our stdout carries the JSON result only.
    proc = subprocess.Popen([exe, f"listen=127.0.0.1:{port}"], stdout=sys.stderr)
    result: dict[str, object] = {}
    try:
        with OrcClient.connect("127.0.0.1", port, timeout=20, connect_timeout=10) as c:
            result["dialect"] = c.info.dialect
            base = c.reserve(0x1000)
            h = c.finalize(
                [SegmentRequest(base, 0x1000, Prot.R | Prot.X, code.ARGC_MINUS_1 + code.INC)]
            )
            result["main"] = c.run_as_main(base, ["prog", "a", "b"], timeout=20)
            if c.dialect.run_as_int is not None:
                result["int"] = c.run_as_int(base + len(code.ARGC_MINUS_1), 41)
            c.deallocate([h])
            t0 = time.monotonic()
        # Hangup + shutdown must make the executor exit promptly (no §1.5 hang).
        result["executor_exit"] = proc.wait(timeout=10)
        result["exit_seconds"] = round(time.monotonic() - t0, 3)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

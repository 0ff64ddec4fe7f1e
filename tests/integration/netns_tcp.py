"""Run an executor on TCP inside this (private) network namespace, then a command.

Usage (as root): unshare --net python -m tests.integration.netns_tcp EXECUTOR -- CMD...
CMD may contain {port}. LLVM's executors bind 0.0.0.0 whatever HOST says, so this only
ever runs inside a namespace made for it; exits with CMD's status.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time


def listening(port: int) -> bool:
    # Probing with connect() would use up the executor's only accept(); read the table.
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":
                return True
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str]) -> int:
    sep = argv.index("--")
    executor, cmd = argv[:sep], argv[sep + 1 :]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    port = free_port()
    proc = subprocess.Popen([*executor, f"listen=127.0.0.1:{port}"])
    deadline = time.monotonic() + 10
    while not listening(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            print(f"netns_tcp: executor did not listen on {port}", file=sys.stderr)
            return 99
        time.sleep(0.01)
    rc = subprocess.run([c.replace("{port}", str(port)) for c in cmd], check=False).returncode
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        print("netns_tcp: executor still running 10 s after the session ended", file=sys.stderr)
        return 98
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

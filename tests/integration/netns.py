"""A private network namespace for the tests' devices and engines: a veth pair to this
host on a free 10.x.y.0/30 (.1 on the host, .2 inside), loopback up inside. The tests'
traffic goes only there (the network rule: loopback or namespaces the tests create)."""

from __future__ import annotations

import random
import subprocess


def _sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          check=True).stdout


def linked_namespace(netns: str, host_if: str, ns_if: str,
                     cleanups: list[tuple[str, ...]]) -> tuple[str, str]:
    """Create ``netns`` linked to this host; (host address, address inside). The commands
    that undo it are appended to ``cleanups`` (to be run in reverse order)."""
    used = _sh("ip", "-o", "addr")
    for _ in range(50):
        net = f"10.{random.randint(200, 250)}.{random.randint(0, 255)}"
        if f" {net}." not in used:
            break
    host_address, address = f"{net}.1", f"{net}.2"
    _sh("ip", "netns", "add", netns)
    cleanups.append(("ip", "netns", "del", netns))
    _sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
    cleanups.append(("ip", "link", "del", host_if))
    _sh("ip", "link", "set", ns_if, "netns", netns)
    _sh("ip", "addr", "add", f"{host_address}/30", "dev", host_if)
    _sh("ip", "link", "set", host_if, "up")
    inside = ("ip", "netns", "exec", netns)
    _sh(*inside, "ip", "addr", "add", f"{address}/30", "dev", ns_if)
    _sh(*inside, "ip", "link", "set", ns_if, "up")
    _sh(*inside, "ip", "link", "set", "lo", "up")
    return host_address, address

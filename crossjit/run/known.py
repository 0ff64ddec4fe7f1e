"""What a spawned executor reported last time (its triple and page size), so the next
load can be planned while it boots: an emulated executor takes ~40 ms to send its
Setup, time the host otherwise spends waiting. Only a guess: the load checks it against
the Setup and plans again when it differs.

Keyed by the spawn spec and the executor binary's (and any wrapper's) size and mtime;
one small file per key under the cache (``executors/``): ``TRIPLE PAGE_SIZE``.
"""

from __future__ import annotations

import contextlib
import os

from crossjit.compile import cache
from crossjit.compile.toolchain import which
from crossjit.orc.spec import ExecutorSpec


def _key(spec: ExecutorSpec) -> str | None:
    if spec.kind != "spawn":
        return None  # a TCP peer may be another executor next time
    parts = [str(spec)]
    for prog in (*spec.wrapper[:1], spec.path):
        found = which(prog) or prog
        try:
            st = os.stat(found)
        except OSError:
            return None
        parts.append(f"{found}:{st.st_size}:{st.st_mtime_ns}")
    return cache.digest("\0".join(parts).encode())[:32]


def recall(spec: ExecutorSpec) -> tuple[str, int] | None:
    """(triple, page size) this executor reported last time, if known."""
    key = _key(spec)
    if key is None:
        return None
    try:
        triple, page_size = (cache.root() / "executors" / f"{key}.txt").read_text().split()
        return triple, int(page_size)
    except (OSError, ValueError):  # none yet, or not two words
        return None


def remember(spec: ExecutorSpec, triple: str, page_size: int) -> None:
    key = _key(spec)
    if key is None or recall(spec) == (triple, page_size):
        return
    with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
        cache.atomic_write(cache.root() / "executors" / f"{key}.txt",
                           f"{triple} {page_size}\n".encode())

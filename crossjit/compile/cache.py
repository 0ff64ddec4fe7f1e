"""The on-disk cache: ``$XDG_CACHE_HOME/crossjit`` (default ``~/.cache/crossjit``).

Entries are content-addressed and written atomically, so concurrent crossjit runs and
interrupted writes never leave a half-written entry behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "crossjit"


def subdir(name: str) -> Path:
    d = root() / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

"""The on-disk cache: ``$XDG_CACHE_HOME/crossjit`` (default ``~/.cache/crossjit``).

Entries are content-addressed and written atomically, so concurrent crossjit runs and
interrupted writes never leave a half-written entry behind.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path

try:  # CPython's builtin SHA-256: hashlib would first load OpenSSL (~2 ms every start)
    from _sha256 import sha256 as _sha256  # type: ignore[import-not-found]
except ImportError:  # another Python: the same digest through hashlib
    from hashlib import sha256 as _sha256


def digest(data: bytes) -> str:
    """The SHA-256 of ``data`` in hex: what cache entries are named by."""
    return str(_sha256(data).hexdigest())


def root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "crossjit"


def subdir(name: str) -> Path:
    d = root() / name
    d.mkdir(parents=True, exist_ok=True)
    return d


_TMP_SERIAL = itertools.count()


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name no other writer uses (pid + a counter for threads; O_EXCL refuses a stale
    # one, a loop tries the next): tempfile.mkstemp's guarantee without importing tempfile.
    while True:
        tmp = path.parent / f".tmp-{os.getpid()}-{next(_TMP_SERIAL)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

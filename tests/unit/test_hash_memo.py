"""toolchain._file_sha's memo by stat signature (watch looks up the same files on every
save): a changed file is hashed again, and a file changed within RACY_NS is never
trusted to its signature (a write in the same timestamp tick may keep mtime and size)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crossjit.compile import toolchain


def test_memo_follows_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toolchain, "RACY_NS", -1)  # every file counts as old here
    f = tmp_path / "h.h"
    f.write_text("int a;\n")
    os.utime(f, ns=(10**9, 10**9))
    first = toolchain._file_sha(f)
    assert first is not None and toolchain._SHA_MEMO[str(f)][1] == first
    assert toolchain._file_sha(f) == first
    f.write_text("int b;\n")  # the same size: the new mtime tells
    os.utime(f, ns=(2 * 10**9, 2 * 10**9))  # (a write in the same tick is RACY_NS's case)
    second = toolchain._file_sha(f)
    assert second is not None and second != first
    f.unlink()
    assert toolchain._file_sha(f) is None


def test_recently_changed_files_are_not_memoised(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toolchain, "RACY_NS", 3600 * 10**9)
    f = tmp_path / "h.h"
    f.write_text("int a;\n")
    assert toolchain._file_sha(f) is not None
    assert str(f) not in toolchain._SHA_MEMO

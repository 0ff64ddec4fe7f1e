"""What a cold start remembers of the toolchain: the compiler found on PATH (checked
against its binary's stamp) and the compile manifests (text, paths with spaces)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crossjit.compile import toolchain


def fake_clang(folder: Path, version: str) -> Path:
    """A "clang" that prints a version and counts its runs (in runs.log beside its
    folder: a new file in the folder would change the folder's mtime)."""
    clang = folder / "clang"
    clang.write_text(f"#!/bin/sh\necho run >> {folder.parent / 'runs.log'}\n"
                     f"echo 'clang version {version}'\n")
    clang.chmod(0o755)
    return clang


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CROSSJIT_CLANG", raising=False)
    monkeypatch.setattr(toolchain, "_FOUND", {})
    return folder


def runs(folder: Path) -> int:
    log = folder.parent / "runs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_the_next_process_finds_the_compiler_without_running_it(fresh: Path,
                                                                tmp_path: Path) -> None:
    clang = fake_clang(fresh, "16.0.6")
    first = toolchain.find_compiler()
    assert first.argv_prefix == (str(clang),)
    assert (first.version, first.major) == ("clang version 16.0.6", 16)
    ran = runs(fresh)
    memos = tmp_path / "cache" / "crossjit" / "compilers"
    for version_memo in set(memos.glob("*.txt")) - set(memos.glob("found-*.txt")):
        version_memo.unlink()  # only the memo of what was found is left
    toolchain._FOUND.clear()  # as a new process
    assert toolchain.find_compiler() == first
    assert runs(fresh) == ran  # --version not run again: the found compiler was recalled


def test_a_clang_rewritten_in_place_is_probed_again(fresh: Path) -> None:
    clang = fake_clang(fresh, "16.0.6")
    assert toolchain.find_compiler().major == 16
    folder_mtime = os.stat(fresh).st_mtime_ns
    clang.write_text(clang.read_text().replace("16.0.6", "17.0.1") + "\n")  # same inode
    os.utime(fresh, ns=(folder_mtime, folder_mtime))  # the folder looks unchanged
    toolchain._FOUND.clear()
    assert toolchain.find_compiler().version == "clang version 17.0.1"


def test_a_broken_memo_is_no_answer(fresh: Path, tmp_path: Path) -> None:
    fake_clang(fresh, "16.0.6")
    found = toolchain.find_compiler()
    [memo] = (tmp_path / "cache" / "crossjit" / "compilers").glob("found-*.txt")
    memo.write_text("half a line")
    toolchain._FOUND.clear()
    assert toolchain.find_compiler() == found


def test_manifests_round_trip(tmp_path: Path) -> None:
    manifest = tmp_path / "k.manifest"
    headers = {"/usr/include/stdio.h": "ab" * 32, "/src/my headers/a b.h": "cd" * 32}
    toolchain._write_manifest(manifest, "ef.bc", headers)
    assert toolchain._read_manifest(manifest) == ("ef.bc", headers)
    toolchain._write_manifest(manifest, "none.bc", {})
    assert toolchain._read_manifest(manifest) == ("none.bc", {})


def test_a_header_path_with_a_newline_is_not_cached(tmp_path: Path) -> None:
    manifest = tmp_path / "k.manifest"
    toolchain._write_manifest(manifest, "ef.bc", {"/odd\nname.h": "ab" * 32})
    assert not manifest.exists() and toolchain._read_manifest(manifest) is None
    manifest.write_text("ef.bc\nno-space-here")
    assert toolchain._read_manifest(manifest) is None

"""toolchain.which against shutil.which, on this machine's real $PATH and on made-up
folders (a plain file, a directory, an executable, a relative name)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from crossjit.compile.toolchain import which


@pytest.mark.parametrize("name", ["sh", "clang", "python3", "no-such-tool-here", "/bin/sh",
                                  "/nonexistent/sh", "bin/sh"])
def test_matches_shutil_on_this_path(name: str) -> None:
    assert which(name) == shutil.which(name)


def test_matches_shutil_on_made_up_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    plain, tools, dirs = tmp_path / "plain", tmp_path / "tools", tmp_path / "dirs"
    for folder in (plain, tools, dirs):
        folder.mkdir()
    (plain / "tool").write_text("not executable")
    (dirs / "tool").mkdir()
    (tools / "tool").write_text("#!/bin/sh\n")
    (tools / "tool").chmod(0o755)
    for path in (f"{plain}:{dirs}:{tools}", f"{tools}:{tools}", f"{plain}", "",
                 f"{dirs}:{tmp_path}"):
        monkeypatch.setenv("PATH", path)
        for name in ("tool", str(tools / "tool"), str(plain / "tool"), str(dirs / "tool")):
            assert which(name) == shutil.which(name), (path, name)
    monkeypatch.chdir(tools)
    monkeypatch.setenv("PATH", os.pathsep.join(["", str(plain)]))
    assert which("tool") == shutil.which("tool") == "tool"

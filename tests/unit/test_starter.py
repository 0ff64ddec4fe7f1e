"""`crossjit init`'s starter profile (crossjit/project/starter.py) and the host target a
profile without `target:` gets (profile.py, plan.host_triple)."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from crossjit.errors import UsageError
from crossjit.project import starter
from crossjit.project.plan import host_triple
from crossjit.project.profile import load_profile


def test_host_triple_is_this_machine() -> None:
    arch, os_, env = host_triple().split("-")
    assert arch == {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(),
                                                              platform.machine().lower())
    assert os_ == "linux"
    assert env == ("gnu" if platform.libc_ver()[0] == "glibc" else "musl")


def test_a_profile_without_target_is_for_this_host(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("name: demo\nsources: [a.c]\n")
    p = load_profile(tmp_path / "p.yaml")
    assert p.target.triple == host_triple() and p.host_target
    (tmp_path / "q.yaml").write_text("name: demo\ntarget: {triple: x86_64-linux-musl}\n"
                                     "sources: [a.c]\n")
    assert not load_profile(tmp_path / "q.yaml").host_target


def test_sources_found_recursively_hidden_and_build_folders_skipped(tmp_path: Path) -> None:
    for f in ("b.c", "a.cpp", "src/c.cc", ".git/x.c", "build/y.c", "notes.txt", "d.h"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("")
    assert starter.find_sources(tmp_path) == [Path("a.cpp"), Path("b.c"), Path("src/c.cc")]


def test_project_name(tmp_path: Path) -> None:
    d = tmp_path / "My Project (v2)"
    d.mkdir()
    assert starter.project_name(d) == "My-Project-v2"


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no C/C\+\+ sources"):
        starter.write_starter(tmp_path)
    (tmp_path / "a.c").write_text("int main(void) { return 0; }\n")
    with pytest.raises(UsageError, match="not a profile name"):
        starter.write_starter(tmp_path, name="-bad")
    starter.write_starter(tmp_path)
    with pytest.raises(UsageError, match="already exists"):
        starter.write_starter(tmp_path)
    starter.write_starter(tmp_path, force=True)

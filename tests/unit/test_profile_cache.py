"""The profile cache: a profile that validated is read back without the schema; anything
that could change the verdict (the bytes, crossjit's code) misses; errors never come
from the cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crossjit.errors import ProfileError
from crossjit.project import profile as profile_mod
from crossjit.project.profile import load_profile

REPO = Path(__file__).resolve().parents[2]

TEXT = """\
name: demo
target: {triple: x86_64-linux-musl}
executor: {variant: musl, env: {A: b}, ports: [8000], mounts: ["www:/srv/www"]}
fetch:
  lib: {url: "https://example.org/x.tar.gz", sha256: "%s"}
sources: ["@lib/a.c", b.c]
defines: {X: 1}
args: [1, two]
""" % ("ab" * 32)


@pytest.fixture()
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "crossjit" / "profiles"


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.pickle")) if folder.is_dir() else []


def test_a_hit_is_the_same_profile(tmp_path: Path, cache_home: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(TEXT)
    first = load_profile(f)
    assert len(entries(cache_home)) == 1
    again = load_profile(f)
    assert again == first and again.file == f
    assert again.where("executor", "ports") == f"{f}:3"
    assert again.executor is not None and again.executor.channel == "unix"
    assert dict(again.executor.env) == {"A": "b"}
    with pytest.raises(TypeError):
        again.executor.env["A"] = "c"  # type: ignore[index]
    # The same bytes elsewhere: the same entry, the profile's own path.
    other = tmp_path / "sub" / "q.yaml"
    other.parent.mkdir()
    other.write_text(TEXT)
    moved = load_profile(other)
    assert moved.file == other and moved.base_dir == other.parent
    assert len(entries(cache_home)) == 1


def test_an_edit_misses_and_errors_are_never_cached(tmp_path: Path, cache_home: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(TEXT)
    load_profile(f)
    f.write_text(TEXT.replace("name: demo", "name: demo2"))
    assert load_profile(f).name == "demo2"
    assert len(entries(cache_home)) == 2
    f.write_text(TEXT.replace("variant: musl", "variant: mussl"))
    for _ in range(2):
        with pytest.raises(ProfileError) as info:
            load_profile(f)
        assert f"{f}:3: executor.variant: unknown value 'mussl'" in str(info.value.why)
    assert len(entries(cache_home)) == 2


def test_a_damaged_entry_is_a_miss(tmp_path: Path, cache_home: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(TEXT)
    first = load_profile(f)
    (entry,) = entries(cache_home)
    entry.write_bytes(b"not a pickle")
    assert load_profile(f) == first


def test_the_validating_code_is_part_of_the_key(tmp_path: Path, cache_home: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(TEXT)
    load_profile(f)
    code = tmp_path / "code"
    code.mkdir()
    for name in profile_mod.VALIDATING_CODE:
        (code / name).write_bytes((profile_mod.HERE / name).read_bytes())
    (code / "schema.py").write_bytes((code / "schema.py").read_bytes() + b"\n# changed\n")
    monkeypatch.setattr(profile_mod, "HERE", code)
    load_profile(f)
    assert len(entries(cache_home)) == 2


def test_a_hit_imports_neither_pydantic_nor_yaml(tmp_path: Path, cache_home: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(TEXT)
    load_profile(f)
    probe = ("import sys; from pathlib import Path; from crossjit.project.profile import "
             f"load_profile; p = load_profile(Path({str(f)!r})); "
             "print(p.name, sorted(m for m in ('pydantic', 'yaml') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env, timeout=60, check=True)
    assert done.stdout.split() == ["demo", "[]"], done.stderr

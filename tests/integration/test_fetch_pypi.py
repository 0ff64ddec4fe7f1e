"""The PyPI path for real: Mongoose's sources from the cymongoose sdist."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crossjit.project.fetch import FetchError, fetch
from crossjit.project.profile import PypiSource
from tests.integration import containers_env as env

pytestmark = pytest.mark.integration
SHA = "8c0ec19752d493702c566735a28918f1b81a756197f78e4931c566dbad849a8f"


def test_cymongoose_sdist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    spec = PypiSource(pypi="cymongoose==0.2.5", sha256=SHA, subpath="thirdparty/mongoose")
    root = fetch("mongoose", spec)
    assert (root / "mongoose.c").stat().st_size > 500_000
    assert '#define MG_VERSION "7.' in (root / "mongoose.h").read_text()
    assert root.is_relative_to(tmp_path / "crossjit" / "fetch" / f"pypi-{SHA}")


def test_wrong_pin_shows_the_published_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(FetchError) as info:
        fetch("mongoose", PypiSource(pypi="cymongoose==0.2.5", sha256="1" * 64))
    assert info.value.what == "the sdist of cymongoose==0.2.5 does not match the pinned sha256"
    assert f"cymongoose-0.2.5.tar.gz  sha256={SHA}" in (info.value.why or "")


def test_profile_check_fetch(tmp_path: Path) -> None:
    (tmp_path / "main.c").write_text("int main(void) { return 0; }\n")
    prof = tmp_path / "mg.yaml"
    prof.write_text(
        "name: mg\ntarget: {triple: x86_64-linux-musl}\n"
        f"fetch:\n  mongoose: {{pypi: cymongoose==0.2.5, sha256: {SHA}, "
        "subpath: thirdparty/mongoose}\n"
        'sources: ["@mongoose/mongoose.c", main.c]\ninclude: ["@mongoose"]\n'
    )
    out = env.ok(
        "profile", "check", "--fetch", str(prof), env={"XDG_CACHE_HOME": str(tmp_path / "cache")}
    )
    assert "  sources   2 file(s)" in out
    assert os.path.join("thirdparty", "mongoose", "mongoose.c") in out

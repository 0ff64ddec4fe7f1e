"""ExecutorSpec parsing and the default-executor finder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crossjit.errors import ExecutorError, UsageError
from crossjit.orc.client import ExecutorSpec, find_default_executor
from tests.prereq import missing


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("spawn:/x/exe", ExecutorSpec("spawn", path="/x/exe")),
        ("spawn:/x/exe a 'b c'", ExecutorSpec("spawn", path="/x/exe", args=("a", "b c"))),
        ("tcp:127.0.0.1:7000", ExecutorSpec("tcp", host="127.0.0.1", port=7000)),
        ("tcp:[::1]:80", ExecutorSpec("tcp", host="::1", port=80)),
        ("tcp:box.local:65535", ExecutorSpec("tcp", host="box.local", port=65535)),
    ],
)
def test_parse(text: str, spec: ExecutorSpec) -> None:
    assert ExecutorSpec.parse(text) == spec
    assert ExecutorSpec.parse(str(spec)) == spec


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ssh:host",
        "tcp:",
        "tcp:host",
        "tcp::80",
        "tcp:h:0",
        "tcp:h:70000",
        "tcp:h:x",
        "spawn:'unterminated",
    ],
)
def test_bad_specs(text: str) -> None:
    with pytest.raises(UsageError) as ei:
        ExecutorSpec.parse(text)
    assert "spawn:PATH" in str(ei.value)  # the hint shows the accepted forms


def make_exe(root: Path, version: int) -> Path:
    p = root / f"llvm-{version}" / "bin" / "llvm-jitlink-executor"
    p.parent.mkdir(parents=True)
    p.write_text("")
    return p


def test_default_prefers_16(tmp_path: Path) -> None:
    for v in (14, 16, 22):
        make_exe(tmp_path, v)
    assert find_default_executor(tmp_path).endswith("llvm-16/bin/llvm-jitlink-executor")


def test_default_else_newest(tmp_path: Path) -> None:
    for v in (9, 14, 22):
        make_exe(tmp_path, v)
    assert find_default_executor(tmp_path).endswith("llvm-22/bin/llvm-jitlink-executor")


def test_default_none(tmp_path: Path) -> None:
    with pytest.raises(ExecutorError, match="apt-get install"):
        find_default_executor(tmp_path)


def test_default_spec_is_spawn() -> None:
    if not any(os.path.exists(f"/usr/lib/llvm-{v}/bin/llvm-jitlink-executor") for v in range(30)):
        missing("no Debian LLVM executor installed")  # a failure under CI
    spec = ExecutorSpec.default()
    assert spec.kind == "spawn"
    assert spec.path.endswith("llvm-jitlink-executor")
    assert ExecutorSpec.parse("spawn") == spec

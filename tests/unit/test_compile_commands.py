"""compile_commands.json entries (crossjit/compile/commands.py): the compile argv itself.

The integration test (tests/integration/test_compile_commands.py) runs clangd on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossjit.compile import commands, toolchain
from crossjit.errors import NotSupportedError

CLANG = toolchain.Compiler(("/usr/bin/clang-16",), ("/usr/bin/clang++-16",),
                           "clang version 16.0.6", 16, "PATH")


def test_entries_are_compile_argv(tmp_path: Path) -> None:
    opts = toolchain.CompileOptions(target="x86_64-linux-gnu", opt_level=2, debug=True,
                                    include_dirs=(tmp_path / "inc",), defines=("A=1",),
                                    sysroot=tmp_path / "sr", extra_cflags=("-Wall",))
    srcs = [tmp_path / "a.c", tmp_path / "b.cpp", tmp_path / "c.ll", tmp_path / "d.o"]
    got = commands.entries(srcs, opts, tmp_path, CLANG)
    assert [e["file"] for e in got] == [str(srcs[0]), str(srcs[1])]  # IR/objects: no entry
    for e, src in zip(got, srcs, strict=False):
        assert e["arguments"] == toolchain.compile_argv(CLANG, src, Path("/dev/null"), opts)
        assert e["directory"] == str(tmp_path)
    assert got[1]["arguments"][0] == "/usr/bin/clang++-16"


def test_musl_without_sysroot_gets_the_bundled_headers_as_the_real_compile(tmp_path: Path
                                                                           ) -> None:
    opts = toolchain.CompileOptions(target="x86_64-linux-musl")
    (e,) = commands.entries([tmp_path / "a.c"], opts, tmp_path, CLANG)
    real = toolchain.compile_options_for(opts, CLANG)
    assert e["arguments"] == toolchain.compile_argv(CLANG, tmp_path / "a.c", Path("/dev/null"),
                                                    real)
    assert "-nostdlibinc" in e["arguments"]


def test_zig_is_not_supported_yet(tmp_path: Path) -> None:
    zig = toolchain.Compiler(("python", "-m", "ziglang", "cc"), ("python", "-m", "ziglang", "c++"),
                             "clang version 22.0.0", 22, "ziglang wheel", True)
    with pytest.raises(NotSupportedError):
        commands.entries([tmp_path / "a.c"], toolchain.CompileOptions(target="x86_64-linux-gnu"),
                         tmp_path, zig)


def test_destination(tmp_path: Path) -> None:
    assert commands.destination(None, tmp_path) == tmp_path / "compile_commands.json"
    assert commands.destination(tmp_path, Path("x")) == tmp_path / "compile_commands.json"
    assert commands.destination(tmp_path / "db.json", Path("x")) == tmp_path / "db.json"

"""`crossjit jit` on every input kind and option, each compared with a native build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.corpus import CORPUS, crossjit_run, status_of
from tests.prereq import llvm_executor, require_file, require_tool

pytestmark = pytest.mark.integration

ARGS = ("one", "two")


def native(exe: Path, *args: str) -> tuple[bytes, int]:
    p = subprocess.run([str(exe), *args], capture_output=True, timeout=60, check=False)
    return p.stdout, status_of(p.returncode)


def jit(*argv: str, executor: Path | None = None) -> tuple[bytes, int, str]:
    exe = executor or llvm_executor(16)
    r = crossjit_run([sys.executable, "-m", "crossjit", "jit", "--executor", f"spawn:{exe}",
                      *argv])
    return r.stdout, r.status, r.stderr.decode(errors="replace")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, int]:
    clang = require_tool("clang-16")
    exe = tmp_path_factory.mktemp("native") / "argc_sub1"
    subprocess.run([clang, str(CORPUS / "argc_sub1.c"), "-o", str(exe)], check=True)
    return native(exe, *ARGS)


@pytest.mark.parametrize("kind", ["ll", "bc", "o-clang", "o-gcc"])
def test_ir_and_object_inputs(kind: str, tmp_path: Path, reference: tuple[bytes, int]) -> None:
    src = CORPUS / "argc_sub1.c"
    if kind == "ll":
        out = tmp_path / "argc_sub1.ll"
        cmd = [require_tool("clang-16"), "-S", "-emit-llvm", "-fPIC", str(src), "-o", str(out)]
    elif kind == "bc":
        out = tmp_path / "argc_sub1.bc"
        cmd = [require_tool("clang-16"), "-c", "-emit-llvm", "-fPIC", "-O2", str(src),
               "-o", str(out)]
    elif kind == "o-clang":
        out = tmp_path / "argc_sub1.o"
        cmd = [require_tool("clang-16"), "-c", "-fPIC", "-O1", str(src), "-o", str(out)]
    else:  # objects from another compiler: the linker only needs relocatable ELF
        out = tmp_path / "argc_sub1.o"
        cmd = [require_tool("gcc"), "-c", "-fPIC", "-O2", str(src), "-o", str(out)]
    subprocess.run(cmd, check=True)
    stdout, status, err = jit(str(out), "--", *ARGS)
    assert (stdout, status) == reference, err


def test_include_dirs_and_defines(tmp_path: Path) -> None:
    src = CORPUS / "defines.c"
    exe = tmp_path / "defines"
    flags = [f"-I{CORPUS / 'include'}", "-DWHO=\"crossjit\"", "-DLEVEL=5"]
    subprocess.run([require_tool("clang-16"), *flags, str(src), "-o", str(exe)], check=True)
    expected = native(exe)
    stdout, status, err = jit("-I", str(CORPUS / "include"), "-D", 'WHO="crossjit"',
                              "-D", "LEVEL=5", str(src))
    assert (stdout, status) == expected, err


def test_missing_define_shows_clang_diagnostic() -> None:
    _, status, err = jit("-I", str(CORPUS / "include"), str(CORPUS / "defines.c"))
    assert status == 125
    assert "WHO must be defined with -D" in err  # clang's own words
    assert "defines.c:" in err


def test_dlopen_library(tmp_path: Path) -> None:
    src = CORPUS / "zlib_crc.c"
    exe = tmp_path / "zlib_crc"
    subprocess.run([require_tool("clang-16"), str(src), "-o", str(exe), "-lz"], check=True)
    expected = native(exe)
    stdout, status, err = jit("--dlopen", "libz.so.1", str(src))
    assert (stdout, status) == expected, err
    # Without the library, the missing symbols are named with who needs them. (LLVM's
    # executor links zlib itself, so this half runs on crossjit-executor, which does not.)
    ours = require_file(CORPUS.parent.parent / "executor" / "build" / "crossjit-executor-glibc",
                        "crossjit-executor (make -C executor)")
    _, status, err = jit(str(src), executor=ours)
    assert status == 125
    assert "crc32" in err and "zlibVersion" in err and "zlib_crc.c" in err


def test_dlopen_missing_library() -> None:
    _, status, err = jit("--dlopen", "libnot-there.so.9", str(CORPUS / "argc_sub1.c"))
    assert status == 125
    assert "libnot-there.so.9" in err

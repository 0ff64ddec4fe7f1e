"""Thread-local storage defined in a static archive member that the link pulls in
(tests/corpus/tls_archive/): no input object has TLS, yet crossjit must link its TLS
runtime; threads each see their own copy. Compared with the native link (clang-16 + ld)
on crossjit-executor and LLVM 16's executor (x86-64), and on crossjit-executor glibc for
AArch64 under qemu (same program, same output)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration import aarch64_env as a64
from tests.integration.corpus import REPO, Run, crossjit_run, status_of
from tests.integration.test_executor_support import executor
from tests.prereq import llvm_executor, require_tool

pytestmark = pytest.mark.integration

SRC = REPO / "tests" / "corpus" / "tls_archive"


def make_archive(tmp: Path, target: str | None) -> Path:
    cc = require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    ar = require_tool("llvm-ar-16", "llvm-16 (apt-get install llvm-16)")  # any target's index
    objs = []
    for m in ("counter", "unused"):
        obj = tmp / f"{m}-{target}.o"
        flags = [f"--target={target}"] if target else []
        subprocess.run([cc, *flags, "-c", "-fPIC", "-O1", "-o", str(obj), str(SRC / f"{m}.c")],
                       check=True, timeout=120)
        objs.append(str(obj))
    lib = tmp / f"libcounter-{target or 'host'}.a"
    subprocess.run([ar, "rcs", str(lib), *objs], check=True, timeout=60)
    return lib


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("tls-archive-native")
    exe = tmp / "main"
    subprocess.run([require_tool("clang-16"), "-o", str(exe), str(SRC / "main.c"),
                    str(make_archive(tmp, None)), "-lpthread"], check=True, timeout=120)
    p = subprocess.run([str(exe)], capture_output=True, timeout=60, check=False)
    run = Run(status_of(p.returncode), p.stdout, p.stderr)
    assert run.status == 0 and b"thread 3: 431 472" in run.stdout, run
    return run


@pytest.mark.parametrize("where", ["glibc", "llvm16", "aarch64-glibc"])
def test_tls_in_a_pulled_archive_member(where: str, expected: Run, tmp_path: Path) -> None:
    if where == "aarch64-glibc":
        spec, target = a64.spec("cj-glibc")
        lib = make_archive(tmp_path, target)
        extra = ["--target", target]
    else:
        spec = f"spawn:{llvm_executor(16)}" if where == "llvm16" else f"spawn:{executor(where)}"
        lib, extra = make_archive(tmp_path, None), []
    got = crossjit_run([sys.executable, "-m", "crossjit", "jit", *extra, "--executor", spec,
                        str(SRC / "main.c"), str(lib)], timeout=300)
    err = got.stderr.decode(errors="replace")
    assert (got.status, got.stdout) == (expected.status, expected.stdout), err

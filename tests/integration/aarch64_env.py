"""AArch64 on this x86-64 host: the arm64 root (scripts/arm64-root), qemu-user, native
reference builds of corpus programs, and executor specs (no tests here)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from crossjit.project.plan import arm64_root
from tests.integration.corpus import Case, Run, status_of
from tests.integration.test_executor_support import executor, qemu_aarch64
from tests.prereq import require_file, require_tool

GNU, MUSL = "aarch64-linux-gnu", "aarch64-linux-musl"
LLVM_VERSIONS = (16, 19, 22)


def root() -> Path:
    """The extracted arm64 packages; CI's bootstrap runs scripts/arm64-root."""
    r = arm64_root()
    require_file(r / ".crossjit-arm64-root", "the arm64 root (run scripts/arm64-root)")
    return r


def llvm_executor(version: int) -> Path:
    return require_file(root() / f"usr/lib/llvm-{version}/bin/llvm-jitlink-executor",
                        f"Debian's arm64 llvm-jitlink-executor {version} (scripts/arm64-root)")


def spec(name: str) -> tuple[str, str]:
    """(--executor spec, --target) of an AArch64 executor: cj-glibc, cj-musl, llvmN."""
    qemu = qemu_aarch64()
    if name == "cj-musl":
        return "spawn:" + shlex.join([qemu, str(executor("aarch64-musl-static"))]), MUSL
    exe = executor("aarch64-glibc") if name == "cj-glibc" else llvm_executor(int(name[4:]))
    return "spawn:" + shlex.join([qemu, "-L", str(root()), str(exe)]), GNU


def native_build(case: Case, target: str, opt: int, workdir: Path) -> Path:
    """The program built natively for aarch64 (once per case, libc and -O; -g does not
    change what it prints): clang-16 + lld against the arm64 root for glibc, zig cc
    (static musl) for musl."""
    exe = workdir / f"{case.name}-{target}-O{opt}"
    if exe.exists():
        return exe
    srcs = [str(p) for p in case.paths()]
    if target == GNU:
        cc = require_tool("clang++-16" if case.cxx else "clang-16")
        require_tool("ld.lld-16", "lld-16 (apt-get install lld-16)")
        cmd = [cc, f"--target={GNU}", f"--sysroot={root()}", "-fuse-ld=lld", f"-O{opt}",
               *srcs, "-o", str(exe), "-lm"]
    else:
        # zig cc enables UBSan in unoptimised builds by default; the JIT'd build has none.
        cmd = [sys.executable, "-m", "ziglang", "cc", "-target", MUSL, "-fno-sanitize=all",
               f"-O{opt}", *srcs, "-o", str(exe), "-lm"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return exe


def native_run(case: Case, target: str, opt: int, workdir: Path) -> Run:
    exe = native_build(case, target, opt, workdir)
    prefix = [qemu_aarch64(), *(["-L", str(root())] if target == GNU else [])]
    p = subprocess.run([*prefix, str(exe), *case.args], input=case.stdin, capture_output=True,
                       timeout=120, check=False)
    return Run(status_of(p.returncode), p.stdout, p.stderr)

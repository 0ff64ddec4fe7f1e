"""`crossjit doctor`: what this machine has for crossjit, each check with a next step."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from crossjit.errors import ContainerError, ToolchainError
from crossjit.project import recipes
from crossjit.project.plan import arm64_root, executor_builds, qemu_aarch64
from crossjit.records import record
from crossjit.targets import sysroot


@record(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    hint: str | None = None


def run() -> list[Check]:
    return [_engine(), _clang(), _llvmlite(), *_executors(), *_aarch64(), _binfmt(),
            _sysroots()]


def _engine() -> Check:
    from crossjit.targets import containers

    try:
        engine = containers.connect(timeout=5)
        info = engine.info()
    except ContainerError as err:
        return Check("docker engine", False, err.why or err.what, containers.START_ENGINE_HINT)
    driver = info.get("Driver", "?")
    where = f", remote: {engine.host} ({info.get('Name', '?')})" if engine.remote else ""
    return Check("docker engine", True,
                 f"Docker {engine.version()}, storage driver {driver}{where}")


def _clang() -> Check:
    """The compiler crossjit itself would pick (toolchain.find_compiler)."""
    from crossjit.compile.toolchain import find_compiler

    try:
        cc = find_compiler()
    except ToolchainError as err:
        return Check("clang", False, err.why or err.what, err.hint)
    return Check("clang", True, f"{' '.join(cc.argv_prefix)} ({cc.version}, from {cc.origin})")


def _llvmlite() -> Check:
    try:
        return Check("llvmlite", True, importlib.metadata.version("llvmlite"))
    except importlib.metadata.PackageNotFoundError:
        return Check("llvmlite", False, "not installed", "pip install 'llvmlite>=0.50,<0.51'")


def _executors() -> list[Check]:
    from crossjit.orc.client import llvm_executors

    llvm = llvm_executors()
    own = sorted(p.name for p in executor_builds().glob("crossjit-executor-*"))
    return [
        Check(
            "LLVM executors",
            bool(llvm),
            ", ".join(f"llvm-{v}" for v in llvm) or "none",
            None if llvm else "apt-get install llvm-16",
        ),
        Check(
            "crossjit-executor",
            bool(own),
            ", ".join(own) or "not built",
            None if own else "make -C executor",
        ),
        Check("executor recipes", True, ", ".join(recipes.executor_variants()) or "none"),
    ]


def _aarch64() -> list[Check]:
    """What `crossjit jit --target aarch64-...` would run on: qemu-user and the AArch64
    executors (Debian's arm64 LLVM executors in the arm64 root, crossjit-executor's
    aarch64 builds)."""
    qemu = qemu_aarch64()
    root = arm64_root()
    llvm = sorted(p.parent.parent.name for p in root.glob("usr/lib/llvm-*/bin/"
                                                            "llvm-jitlink-executor"))
    own = sorted(p.name for p in executor_builds().glob("crossjit-executor-aarch64-*"))
    found = [*llvm, *own]
    return [
        Check("qemu-aarch64 (AArch64)", qemu is not None, qemu or "not found",
              None if qemu else "apt-get install qemu-user-static"),
        Check("AArch64 executors", bool(found),
              (", ".join(found) + f" (arm64 root {root})") if found else "none",
              None if llvm and own else
              "scripts/arm64-root (Debian's arm64 LLVM executors) and "
              "make -C executor aarch64"),
    ]


def _binfmt() -> Check:
    entries = Path("/proc/sys/fs/binfmt_misc")
    qemu = sorted(p.name for p in entries.glob("qemu-*")) if entries.is_dir() else []
    if qemu:
        return Check("binfmt (foreign CPUs)", True, ", ".join(qemu))
    return Check(
        "binfmt (foreign CPUs)",
        False,
        "no qemu binfmt handlers",
        "apt-get install qemu-user-static binfmt-support (optional: crossjit starts "
        "qemu-aarch64 itself, also inside arm64 executor containers)",
    )


def _sysroots() -> Check:
    built = sysroot.list_built()
    names = [f"{m.recipe}{' +' + ','.join(m.packages) if m.packages else ''}" for m in built]
    return Check(
        "sysroots",
        bool(built),
        ", ".join(names) or f"none built (recipes: {', '.join(recipes.sysroot_recipes())})",
        None if built else "crossjit sysroot build debian-musl",
    )

"""Shared setup of the container integration tests: the real engine, built once per run.

Helpers, not fixtures, so that every test module can share them: images are tagged by
content (an unchanged recipe is never rebuilt) and sysroots carry a manifest, so calling
``musl_sysroot()`` or ``executor_up("musl")`` again costs a few seconds at most.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crossjit.errors import ContainerError
from crossjit.project.profile import load_profile
from crossjit.targets import containers, executors
from tests.prereq import in_ci, missing, require_file

REPO = Path(__file__).resolve().parents[2]
# One debian-musl sysroot for every test: zlib (zlib-musl.yaml) and mbedtls
# (mongoose-tls.yaml) rebuilt against musl, so no test finds it stale for another.
MUSL_PACKAGES = ("libmbedtls-dev", "zlib1g-dev")


def engine() -> containers.Engine:
    try:
        return containers.connect(timeout=10)
    except ContainerError as err:
        missing(f"no Docker engine ({err.why}); run `sudo scripts/docker-setup.sh`")


def require_debian_base() -> None:
    if engine().image_id("debian:bookworm-slim") is None:
        missing("no debian:bookworm-slim image; run `sudo scripts/docker-setup.sh`")


def require_musl_executor_binary() -> None:
    require_file(
        executors.EXECUTOR_BUILDS / "crossjit-executor-musl",
        "crossjit-executor-musl (make -C executor)",
    )


def cli_argv() -> list[str]:
    return [sys.executable, "-m", "crossjit"]


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m crossjit ARGS`` as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "crossjit", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def container_exists(name: str) -> bool:
    return engine().get(name) is not None


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    done = cli(*args, env=env)
    assert done.returncode == 0, f"crossjit {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


@functools.cache
def musl_sysroot() -> Path:
    """debian-musl with zlib and mbedtls rebuilt against musl (what the profiles need)."""
    require_debian_base()
    packages = [arg for p in MUSL_PACKAGES for arg in ("--package", p)]
    return Path(ok("sysroot", "build", "debian-musl", *packages).strip())


@functools.cache
def glibc_sysroot() -> Path:
    require_debian_base()
    return Path(ok("sysroot", "build", "debian-glibc").strip())


def executor_up(*args: str) -> str:
    """`crossjit executor up ARGS` unless that container is already running."""
    if args[0] == "--profile":
        name = "crossjit-" + load_profile(REPO / args[1]).name
    else:
        name = f"crossjit-{args[0]}"
    info = engine().get(name)
    if info is None or info.status != "running":
        ok("executor", "up", *args)
    return name


@functools.cache
def alpine_available() -> str | None:
    """None if alpine:3.20 is present or can be pulled; else the reason (Alpine tests skip)."""
    eng = engine()
    if eng.image_id("alpine:3.20") is not None:
        return None
    try:
        done = subprocess.run(
            ["docker", "pull", "-q", "alpine:3.20"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot pull alpine:3.20 ({exc})"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["docker pull failed"])[-1]
        return f"cannot pull alpine:3.20: {last}"
    return None


def require_alpine() -> None:
    """The one exception to CI's no-skip rule: Alpine needs Docker Hub (design.md)."""
    reason = alpine_available()
    if reason is not None:
        pytest.skip(
            f"{reason} (Alpine recipes need registry access"
            f"{'; the one skip allowed under CI' if in_ci() else ''})"
        )

"""Prerequisites of integration tests.

On a developer laptop a missing prerequisite (no Docker, no LLVM 14 executor...)
skips the test with the reason. Under CI (``CI=true``) it fails instead: CI must
never silently skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

LLVM_VERSIONS = (14, 15, 16, 19, 22)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> NoReturn:
    """Skip (laptop) or fail (CI) because a prerequisite is missing."""
    if in_ci():
        pytest.fail(f"prerequisite missing under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def require_file(path: str | Path, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        missing(f"{what} not found at {p}")
    return p


def require_tool(name: str, what: str | None = None) -> str:
    found = shutil.which(name)
    if not found:
        missing(f"{what or name} not found on PATH")
    return found


def llvm_executor(version: int) -> Path:
    return require_file(
        f"/usr/lib/llvm-{version}/bin/llvm-jitlink-executor",
        f"llvm-jitlink-executor {version} (apt-get install llvm-{version})",
    )

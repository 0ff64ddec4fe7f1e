from __future__ import annotations

from pathlib import Path

import pytest

from tests.prereq import require_tool


@pytest.fixture(scope="session")
def native_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where corpus programs are built natively (once per session, shared by all tests)."""
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    return tmp_path_factory.mktemp("native")

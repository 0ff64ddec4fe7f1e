from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration import containers_env as env
from tests.prereq import require_tool


@pytest.fixture(scope="session")
def native_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where corpus programs are built natively (once per session, shared by all tests)."""
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    return tmp_path_factory.mktemp("native")


# Module scope: a module may take its executor down (test_containers_executor does);
# the next module's fixture starts it again.
@pytest.fixture(scope="module")
def musl() -> str:
    """The running `crossjit executor up musl` container's name."""
    env.require_musl_executor_binary()
    env.musl_sysroot()
    return env.executor_up("musl")


@pytest.fixture(scope="module")
def debian() -> str:
    """The running `crossjit executor up debian` container's name (LLVM 16's executor)."""
    env.require_debian_base()
    return env.executor_up("debian")

"""JIT linker on a real program: Mongoose (26k lines of C) at -O0 -g, and its link time.

Mongoose's sources are fetched pinned by hash (tests/mongoose.py), never committed.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from crossjit.link import Linker
from tests.mongoose import mongoose_dir
from tests.prereq import require_tool
from tests.unit.test_link_helpers import BASE, far_addresses, llvmlite_obj

pytestmark = pytest.mark.slow

BUDGET_S = 0.3  # add_object -> plan -> finish


def mongoose_c() -> Path:
    return mongoose_dir() / "mongoose.c"


@pytest.fixture(scope="module")
def mongoose_o(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    src = mongoose_c()
    clang = require_tool("clang-16")
    out = tmp_path_factory.mktemp("mongoose") / "mongoose.o"
    subprocess.run(
        [clang, "-c", "-fPIC", "-g", "-O0", str(src), "-o", str(out)],
        check=True,
        capture_output=True,
    )
    return out.read_bytes()


def link_once(data: bytes) -> float:
    t0 = time.perf_counter()
    linker = Linker()
    linker.add_object("mongoose.o", data)
    plan = linker.plan()
    plan.finish(BASE, far_addresses(plan))
    return time.perf_counter() - t0


def test_mongoose_links_fast(mongoose_o: bytes) -> None:
    linker = Linker()
    linker.add_object("mongoose.o", mongoose_o)
    plan = linker.plan()
    names = {e.name for e in plan.externals}
    assert {"socket", "memcpy", "send", "recv"} <= names
    image = plan.finish(BASE, far_addresses(plan))
    assert {"mg_mgr_init", "mg_http_listen", "mg_mgr_poll"} <= set(image.symbols)
    assert image.eh_frame is not None
    debug = image.debug_sections()["mongoose.o"]
    assert ".debug_info" in debug and ".debug_line" in debug
    best = min(link_once(mongoose_o) for _ in range(3))
    print(f"\nMongoose -O0 -g: add_object -> plan -> finish in {best * 1000:.1f} ms")
    assert best < BUDGET_S


def test_mongoose_via_llvmlite(tmp_path: Path) -> None:
    src = mongoose_c()
    data = llvmlite_obj(
        tmp_path, src.read_text(), "mongoose.c", ("-O0", "-g", f"-I{src.parent}"), opt=0
    )
    linker = Linker()
    linker.add_object("mongoose.o", data)
    plan = linker.plan()
    image = plan.finish(BASE, far_addresses(plan))
    assert "mg_mgr_init" in image.symbols
    assert image.debug_sections()["mongoose.o"]

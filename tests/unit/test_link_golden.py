"""Golden fixups: crossjit's linker must write what ld.lld-16 wrote at the same addresses.

Fixtures in tests/golden/link/ (regenerate with ``python tests/golden/link/regen.py``):
pic.o/nopic.o compiled from pic.c/nopic.c, link.ld placing their sections where
crossjit's layout puts them, and expected.json with lld's bytes at every relocation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_link_helpers import (
    check_golden_layout,
    golden_expected,
    golden_sites,
    link,
    placed_at,
    read,
    u64,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "link"


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    return golden_expected(GOLDEN)


def test_golden_layout_matches_the_lld_script(expected: dict[str, Any]) -> None:
    objs = {n: (GOLDEN / n).read_bytes() for n in ("pic.o", "nopic.o")}
    _, image = link(objs, {}, base=expected["base"])
    check_golden_layout(expected, image, "layout changed? re-run tests/golden/link/regen.py")


def test_golden_fixups_match_lld(expected: dict[str, Any]) -> None:
    objs = {n: (GOLDEN / n).read_bytes() for n in ("pic.o", "nopic.o")}
    _, image = link(objs, {}, base=expected["base"])
    for r, p, where in golden_sites(expected, placed_at(image)):
        if "got_value" in r:
            # GOT slots live in different places in each output; what they hold must agree.
            disp = int.from_bytes(read(image, p, 4), "little", signed=True)
            assert u64(image, p + 4 + disp) == r["got_value"], where
        else:
            want = bytes.fromhex(r["bytes"])
            assert read(image, p, len(want)) == want, where
    kinds = {r["type"] for r in expected["relocations"]}
    assert {"64", "PC32", "PLT32", "32", "32S", "REX_GOTPCRELX"} <= kinds

"""Golden fixups: crossjit's linker must write what ld.lld-16 wrote at the same addresses.

Fixtures in tests/golden/link/ (regenerate with ``python tests/golden/link/regen.py``):
pic.o/nopic.o compiled from pic.c/nopic.c, link.ld placing their sections where
crossjit's layout puts them, and expected.json with lld's bytes at every relocation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_link_helpers import link, read, u64

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "link"


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GOLDEN / "expected.json").read_text())
    return data


def test_golden_layout_matches_the_lld_script(expected: dict[str, Any]) -> None:
    objs = {n: (GOLDEN / n).read_bytes() for n in ("pic.o", "nopic.o")}
    _, image = link(objs, {}, base=expected["base"])
    placed = {(s.object, s.section): s.addr for s in image.sections}
    for obj, sec, addr in expected["sections"]:
        assert placed[obj, sec] == addr, (
            f"{obj}:{sec} moved; layout changed? re-run tests/golden/link/regen.py"
        )


def test_golden_fixups_match_lld(expected: dict[str, Any]) -> None:
    objs = {n: (GOLDEN / n).read_bytes() for n in ("pic.o", "nopic.o")}
    _, image = link(objs, {}, base=expected["base"])
    placed = {(s.object, s.section): s.addr for s in image.sections}
    kinds = set()
    for r in expected["relocations"]:
        p = placed[r["object"], r["section"]] + r["offset"]
        kinds.add(r["type"])
        where = f"{r['object']}:({r['section']}+{r['offset']:#x}) {r['type']}"
        if "got_value" in r:
            # GOT slots live in different places in each output; what they hold must agree.
            disp = int.from_bytes(read(image, p, 4), "little", signed=True)
            assert u64(image, p + 4 + disp) == r["got_value"], where
        else:
            want = bytes.fromhex(r["bytes"])
            assert read(image, p, len(want)) == want, where
    assert {"64", "PC32", "PLT32", "32", "32S", "REX_GOTPCRELX"} <= kinds

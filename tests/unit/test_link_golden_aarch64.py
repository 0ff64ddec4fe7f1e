"""AArch64 golden fixups: crossjit's linker must write what ld.lld-16 wrote at the same
addresses, for every relocation kind of crossjit/link/arch/aarch64.py.

Fixtures in tests/golden/link/aarch64/ (regenerate with its regen.py): relocs.s (one
site per kind), pic.c (-fPIC), large.c (-mcmodel=large), link.ld placing their sections
where crossjit's layout puts them, expected.json with lld's bytes at every relocation.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from crossjit.link import LinkedImage
from crossjit.link.arch.aarch64 import RELOC_NAMES
from tests.unit.a64_decode import adrp_target, imm12_bytes
from tests.unit.test_link_helpers import (
    check_golden_layout,
    golden_expected,
    golden_sites,
    link,
    placed_at,
    read,
    u64,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "link" / "aarch64"
OBJECTS = ("relocs.o", "pic.o", "large.o")


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    return golden_expected(GOLDEN)


@pytest.fixture(scope="module")
def image(expected: dict[str, Any]) -> LinkedImage:
    objs = {n: (GOLDEN / n).read_bytes() for n in OBJECTS}
    return link(objs, {}, base=expected["base"], arch="aarch64")[1]


def _insn(image: LinkedImage, addr: int) -> int:
    v: int = struct.unpack("<I", read(image, addr, 4))[0]
    return v


def test_golden_layout_matches_the_lld_script(
    expected: dict[str, Any], image: LinkedImage
) -> None:
    check_golden_layout(expected, image, "re-run regen.py")


def test_golden_fixups_match_lld(expected: dict[str, Any], image: LinkedImage) -> None:
    placed = placed_at(image)
    for r, p, where in golden_sites(expected, placed):
        if "got_value" in r:
            # The slot lies elsewhere in each output; follow the ADRP and the LDR
            # of the pair to what the slot holds.
            ldr = _insn(image, p)
            adrp_at = placed[r["object"], r["section"]] + r["adrp_offset"]
            slot = adrp_target(_insn(image, adrp_at), adrp_at) + imm12_bytes(ldr)
            assert u64(image, slot) == r["got_value"], where
        else:
            want = bytes.fromhex(r["bytes"])
            assert read(image, p, len(want)).hex() == want.hex(), where
    kinds = {r["type"] for r in expected["relocations"]}
    handled = {
        "ABS64", "ABS32", "PREL64", "PREL32", "ADR_PREL_PG_HI21", "ADD_ABS_LO12_NC",
        "LDST8_ABS_LO12_NC", "LDST16_ABS_LO12_NC", "LDST32_ABS_LO12_NC", "LDST64_ABS_LO12_NC",
        "LDST128_ABS_LO12_NC", "LD64_GOT_LO12_NC", "LD64_GOTPAGE_LO15", "MOVW_UABS_G0_NC",
        "MOVW_UABS_G1_NC", "MOVW_UABS_G2_NC", "MOVW_UABS_G3", "LD_PREL_LO19",
        "ADR_PREL_LO21", "TSTBR14", "CONDBR19", "CALL26", "JUMP26",
    }
    assert handled <= kinds, f"fixture lacks {handled - kinds}"
    assert all(n in RELOC_NAMES.values() for n in handled)

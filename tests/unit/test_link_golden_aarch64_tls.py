"""AArch64 TLS golden test: crossjit's TLS descriptors against ld.lld-16 -shared's.

Fixture in tests/golden/link/aarch64-tls/ (regenerate with its regen.py, which says why
a shared object is the comparable output and what is not compared): for every TLSDESC
sequence of tls.o, the variable offset lld put in its descriptor (the R_AARCH64_TLSDESC
addend) must be the offset crossjit's descriptor's index entry holds; the TLS module must
have lld's TLS segment's size, alignment and .tdata bytes.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from crossjit.link import LinkedImage
from crossjit.link.tables import LINKER_OBJ
from crossjit.link.tls import INDEX_ENTRY_SIZE, MODULE_SIZE
from tests.unit.test_link_helpers import link, read, section, u64
from tests.unit.test_link_tls_aarch64 import descriptor_of

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "link" / "aarch64-tls"


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GOLDEN / "expected.json").read_text())
    return data


@pytest.fixture(scope="module")
def image() -> LinkedImage:
    objs = {n: (GOLDEN / n).read_bytes() for n in ("tls.o", "rt.o")}
    return link(objs, arch="aarch64")[1]


def test_descriptors_hold_lld_offsets(expected: dict[str, Any], image: LinkedImage) -> None:
    resolver = section(image, LINKER_OBJ, ".crossjit.tlsdesc_resolver")
    assert len(expected["sequences"]) >= 9
    for s in expected["sequences"]:
        text = section(image, s["object"], ".text")
        d = descriptor_of(image, text, s["adrp"], s["ldr"], s["add"])
        where = f"{s['object']}:(.text+{s['adrp']:#x}) {s['symbol']}"
        assert u64(image, d) == resolver, where
        _, offset = struct.unpack("<QQ", read(image, u64(image, d + 8), INDEX_ENTRY_SIZE))
        assert offset == s["tls_offset"], where


def test_module_is_lld_tls_segment(expected: dict[str, Any], image: LinkedImage) -> None:
    text = section(image, "tls.o", ".text")
    s = expected["sequences"][0]
    entry = u64(image, descriptor_of(image, text, s["adrp"], s["ldr"], s["add"]) + 8)
    module = u64(image, entry)
    _, _, init, init_size, size, align = struct.unpack("<IiQQQQ",
                                                       read(image, module, MODULE_SIZE))
    tls = expected["tls"]
    assert (size, align) == (tls["size"], tls["align"])
    assert read(image, init, init_size).hex() == tls["tdata"]

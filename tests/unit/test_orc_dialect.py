"""Setup parsing (map detection) and dialect fingerprinting on synthetic Setups."""

from __future__ import annotations

import pytest

from crossjit.errors import DialectError
from crossjit.orc import dialect as dl
from crossjit.orc.dialect import SETUP_WITH_MAP, SETUP_WITHOUT_MAP, detect_dialect, parse_setup

P = "__llvm_orc_"
BASE_14 = sorted(dl.LLVM_14.required)
SHM = [
    P + f"ExecutorSharedMemoryMapperService_{n}"
    for n in ("Instance", "Reserve", "Initialize", "Deinitialize", "Release")
]
NAMES_16 = [*BASE_14, dl.RUN_AS_INT, dl.RUN_AS_VOID, *SHM]
NAMES_17 = NAMES_16  # 17 = 16's names + the bootstrap map
NAMES_19 = [n for n in NAMES_16 if "ehframe" not in n] + [dl.EH_REG_18, dl.EH_DEREG_18]
NAMES_21 = [n for n in NAMES_19 if "EHFrame" not in n] + [dl.EH_REG_21, dl.EH_DEREG_21]
NAMES_22 = sorted(dl.LLVM_22.required | set(SHM))
NAMES_23 = [*NAMES_22, dl.ORC_RT_CI_MARK]
NAMES_MAIN = [n for n in NAMES_23 if "SimpleExecutorDylibManager" not in n]


def payload(names: list[str], with_map: bool, triple: str = "x86_64-pc-linux-gnu") -> bytes:
    syms = [(n, 0x1000 + i * 16) for i, n in enumerate(names)]
    if with_map:
        return SETUP_WITH_MAP.encode((triple, 4096, [], syms))
    return SETUP_WITHOUT_MAP.encode((triple, 4096, syms))


@pytest.mark.parametrize(
    ("names", "with_map", "name", "llvm"),
    [
        (BASE_14, False, "llvm-14", "14-15"),
        (NAMES_16, False, "llvm-16", "16"),
        (NAMES_17, True, "llvm-17", "17"),
        (NAMES_19, True, "llvm-17", "18-21"),
        (NAMES_21, True, "llvm-17", "18-21"),
        (NAMES_22, True, "llvm-22", "22"),
        (NAMES_23, True, "llvm-23", "23"),
    ],
)
def test_detect(names: list[str], with_map: bool, name: str, llvm: str) -> None:
    setup = parse_setup(payload(names, with_map))
    assert (setup.bootstrap_map is not None) == with_map
    assert setup.bootstrap == {n: 0x1000 + i * 16 for i, n in enumerate(names)}
    d = detect_dialect(setup)
    assert (d.name, d.llvm) == (name, llvm)


def test_17_uses_addr_lookups_18_symdefs() -> None:
    assert detect_dialect(parse_setup(payload(NAMES_17, True))).lookup_shape == "addr"
    assert detect_dialect(parse_setup(payload(NAMES_19, True))).lookup_shape == "symdef"


def test_bootstrap_map_values_kept() -> None:
    data = SETUP_WITH_MAP.encode(
        ("t", 4096, [("darwin-use-ehframes-only", b"\x01")], [(n, 1) for n in NAMES_19])
    )
    assert parse_setup(data).bootstrap_map == {"darwin-use-ehframes-only": b"\x01"}


def test_upstream_main_is_rejected_with_details() -> None:
    with pytest.raises(DialectError) as ei:
        detect_dialect(parse_setup(payload(NAMES_MAIN, True, triple="riscv64-unknown-linux")))
    text = str(ei.value)
    assert "riscv64-unknown-linux" in text
    assert "page size 4096" in text
    assert "bootstrap map" in text
    assert "SimpleExecutorDylibManager_open_wrapper" in text  # what is missing
    assert "orc_rt_ci_NativeDylibManager_Instance" in text  # what was seen
    assert "llvm-16" in text  # what is supported


def test_layout_must_match_names() -> None:
    # 14's names in a 17+ layout: no dialect claims that.
    with pytest.raises(DialectError, match="4-field"):
        detect_dialect(parse_setup(payload(BASE_14, True)))


def test_missing_required_name_is_listed() -> None:
    names = [n for n in NAMES_16 if not n.endswith("reserve_wrapper")]
    with pytest.raises(DialectError, match="reserve_wrapper"):
        detect_dialect(parse_setup(payload(names, False)))


@pytest.mark.parametrize(
    "data",
    [b"", b"\x01\x02", payload(NAMES_16, False) + b"\x00", payload(NAMES_19, True)[:-3]],
)
def test_unparseable_setup(data: bytes) -> None:
    with pytest.raises(DialectError, match="unknown layout"):
        parse_setup(data)


def test_duplicate_symbol_rejected() -> None:
    data = SETUP_WITHOUT_MAP.encode(("t", 4096, [("a", 1), ("a", 2)]))
    with pytest.raises(DialectError, match="duplicate"):
        parse_setup(data)


def test_bad_page_size() -> None:
    data = SETUP_WITHOUT_MAP.encode(("t", 3000, [(n, 1) for n in NAMES_16]))
    with pytest.raises(DialectError, match="page size"):
        detect_dialect(parse_setup(data))

"""Parse the Setup frames recorded from the real Debian executors (tests/golden/orc)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossjit.orc.dialect import detect_dialect, parse_setup
from crossjit.orc.frames import FrameDecoder, Opcode

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "orc"
P = "__llvm_orc_"
MEM = P + "SimpleExecutorMemoryManager_"
DYL = P + "SimpleExecutorDylibManager_"
WRITES = {
    P + f"bootstrap_mem_write_{k}_wrapper"
    for k in ("uint8s", "uint16s", "uint32s", "uint64s", "buffers")
}
COMMON = {
    P + "SimpleRemoteEPC_dispatch_ctx",
    P + "SimpleRemoteEPC_dispatch_fn",
    MEM + "Instance",
    MEM + "reserve_wrapper",
    DYL + "Instance",
    DYL + "open_wrapper",
    P + "bootstrap_run_as_main_wrapper",
    *WRITES,
}
OLD_MEM = {MEM + "finalize_wrapper", MEM + "deallocate_wrapper", DYL + "lookup_wrapper"}
EH14 = {
    P + "bootstrap_register_ehframe_section_wrapper",
    P + "bootstrap_deregister_ehframe_section_wrapper",
}
RUN = {P + "bootstrap_run_as_void_function_wrapper", P + "bootstrap_run_as_int_function_wrapper"}
SHM = {
    P + f"ExecutorSharedMemoryMapperService_{n}"
    for n in ("Instance", "Reserve", "Initialize", "Deinitialize", "Release")
}
N14 = COMMON | OLD_MEM | EH14
N16 = N14 | RUN | SHM
N19 = (N16 - EH14) | {
    "llvm_orc_registerEHFrameSectionWrapper",
    "llvm_orc_deregisterEHFrameSectionWrapper",
}
N22 = (
    (COMMON | RUN | SHM)
    | {MEM + "initialize_wrapper", MEM + "deinitialize_wrapper", MEM + "release_wrapper"}
    | {DYL + "resolve_wrapper", P + "bootstrap_mem_write_pointers_wrapper"}
    | {
        P + f"bootstrap_mem_read_{k}_wrapper"
        for k in ("uint8s", "uint16s", "uint32s", "uint64s", "pointers", "buffers", "strings")
    }
    | {
        "llvm_orc_registerEHFrameAllocAction",
        "llvm_orc_deregisterEHFrameAllocAction",
        "llvm_orc_registerJITLoaderGDBAllocAction",
    }
)

CASES = [
    (14, N14, False, "llvm-14", 1162),
    (15, N14, False, "llvm-14", 1162),
    (16, N16, False, "llvm-16", 1640),
    (19, N19, True, "llvm-17", 1618),
    (22, N22, True, "llvm-22", None),
]


@pytest.mark.parametrize(("version", "names", "has_map", "dialect", "size"), CASES)
def test_golden_setup(
    version: int, names: set[str], has_map: bool, dialect: str, size: int | None
) -> None:
    data = (GOLDEN / f"setup-llvm-{version}.bin").read_bytes()
    if size is not None:
        assert len(data) == size  # doc §9.1
    frames = FrameDecoder().feed(data)
    assert len(frames) == 1
    f = frames[0]
    assert (f.opcode, f.seq, f.tag) == (Opcode.SETUP, 0, 0)
    setup = parse_setup(f.payload)
    assert setup.triple == "x86_64-pc-linux-gnu"
    assert setup.page_size == 4096
    assert (setup.bootstrap_map is not None) == has_map
    if has_map:
        assert setup.bootstrap_map == {}  # empty on Linux
    assert set(setup.bootstrap) == names
    assert len(setup.bootstrap) == {14: 17, 15: 17, 16: 24, 19: 24, 22: 34}[version]
    assert all(addr != 0 for addr in setup.bootstrap.values())
    assert detect_dialect(setup).name == dialect

"""crossjit-executor services over the wire (LLVM 16 signatures), on every x86-64 build."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_executor_support import (
    CODE_INC,
    CODE_MAIN,
    CODE_RET7,
    X86_VARIANTS,
    RemoteError,
    Session,
    code_call_dispatch,
    decode_error,
    launcher,
    session,
    u64,
)

pytestmark = pytest.mark.integration

EXPORTS = [
    "llvm_orc_registerEHFrameSectionWrapper",
    "llvm_orc_deregisterEHFrameSectionWrapper",
    "llvm_orc_registerJITLoaderGDBWrapper",
    "llvm_orc_registerJITLoaderGDBAllocAction",
    "__jit_debug_descriptor",
    "__jit_debug_register_code",
]


@pytest.fixture(params=X86_VARIANTS)
def s(request: pytest.FixtureRequest) -> Iterator[Session]:
    with session(launcher(request.param)) as sess:
        yield sess
        if sess.alive():
            assert sess.hangup() == 0
        sess.check_sanitizers()


def test_reserve_write_finalize_run(s: Session) -> None:
    base = s.reserve(0x3000)
    assert base % 4096 == 0
    # Reserved memory is RW: mem_write fills it before finalize.
    assert s.write_u8s([(base + 0x2000, 0x11)]) == b""
    assert s.write_buffers([(base + 0x2001, b"hello")]) == b""
    assert s.read_mem(base + 0x2000, 6) == b"\x11hello"
    s.finalize([(5, base, 0x1000, CODE_INC), (5, base + 0x1000, 0x1000, CODE_RET7),
                (3, base + 0x2000, 0x1000, b"\x11hello")])
    assert s.run_as_int(base, 41) == 42
    assert s.run_as_void(base + 0x1000) == 7
    maps = Path(f"/proc/{s.proc.pid}/maps").read_text()
    assert f"{base:x}-{base + 0x2000:x} r-xp" in maps
    s.deallocate([base])
    with pytest.raises(RemoteError, match="No allocation entry found"):
        s.deallocate([base])


def test_run_as_main_argv(s: Session) -> None:
    main = s.load_code(CODE_MAIN)
    assert s.run_as_main(main, []) == 1000
    assert s.run_as_main(main, ["prog"]) == 1001
    assert s.run_as_main(main, ["prog", "Zed", "c"]) == 1003 + (ord("Z") << 16)


def test_reserve_errors(s: Session) -> None:
    # strerror(ENOMEM): glibc | musl
    with pytest.raises(RemoteError, match=r"Cannot allocate memory|Out of memory"):
        s.reserve(1 << 60)
    with pytest.raises(RemoteError):
        s.reserve(0)


def test_finalize_errors(s: Session) -> None:
    with pytest.raises(RemoteError, match="Attempt to finalize unrecognized allocation 0x10000"):
        s.finalize([(3, 0x10000, 0x1000, b"")])
    base = s.reserve(0x1000)
    with pytest.raises(RemoteError, match="crosses boundary"):
        s.finalize([(3, base, 0x2000, b"")])
    # A second segment past the reservation's end: refused, nothing written.
    with pytest.raises(RemoteError, match="crosses boundary"):
        s.finalize([(3, base, 0x10, b""), (3, base + (1 << 40), 0x10, b"")])
    base = s.reserve(0x1000)
    with pytest.raises(RemoteError, match="exceeds segment size"):
        s.finalize([(3, base, 4, b"12345")])
    s.finalize([])  # empty request: success, as LLVM 16
    # A failing action unmaps the whole reservation (LLVM 14-21 semantics).
    base = s.reserve(0x1000)
    bad_gdb_args = b"\x01"  # too short for ExecutorAddrRange
    with pytest.raises(RemoteError, match="deserialize"):
        s.finalize([(3, base, 0x1000, b"x")],
                   [(s.lookup(s.open(), [("llvm_orc_registerJITLoaderGDBAllocAction", True)])[0],
                     bad_gdb_args, 0, b"")])
    assert f"{base:x}-" not in Path(f"/proc/{s.proc.pid}/maps").read_text()


def test_dylib_open_and_lookup(s: Session) -> None:
    h = s.open("")
    found = s.lookup(h, [("printf", True), ("no_such_symbol_xyz", False), ("", False),
                         *[(n, True) for n in EXPORTS]])
    assert found[0] != 0 and found[1] == 0 and found[2] == 0
    assert all(found[3:])
    with pytest.raises(RemoteError, match="Missing definition for no_such_symbol_xyz"):
        s.lookup(h, [("no_such_symbol_xyz", True)])
    with pytest.raises(RemoteError, match="Required address for empty symbol"):
        s.lookup(h, [("", True)])
    with pytest.raises(RemoteError, match="non-zero mode bits"):
        s.open("", 1)
    with pytest.raises(RemoteError, match=r"/nonexistent/libx\.so"):
        s.open("/nonexistent/libx.so")
    # LLVM 16 crashes on a bogus handle; we answer in band.
    with pytest.raises(RemoteError, match="No dylib for handle"):
        s.lookup(0xDEAD000, [("printf", True)])


def test_gdb_jit_interface(s: Session) -> None:
    h = s.open("")
    desc, gdb_wrapper, gdb_action = s.lookup(h, [
        ("__jit_debug_descriptor", True), ("llvm_orc_registerJITLoaderGDBWrapper", True),
        ("llvm_orc_registerJITLoaderGDBAllocAction", True)])
    assert s.read_mem(desc, 24) == struct.pack("<IIQQ", 1, 0, 0, 0)
    obj = s.reserve(0x1000)
    s.finalize([(1, obj, 0x1000, b"\x7fELF" + bytes(18))])
    # LLVM 16 form: direct CallWrapper with an ExecutorAddrRange.
    assert s.call_raw(gdb_wrapper, u64(obj) + u64(obj + 22)) == b"\x00"
    version, flag, relevant, first = struct.unpack("<IIQQ", s.read_mem(desc, 24))
    assert (version, flag) == (1, 1) and relevant == first != 0
    nxt, prev, addr, size = struct.unpack("<QQQQ", s.read_mem(first, 32))
    assert (nxt, prev, addr, size) == (0, 0, obj, 22)
    # LLVM 22 form: finalize action (range + bool) on another allocation.
    obj2 = s.reserve(0x1000)
    s.finalize([(1, obj2, 0x1000, b"\x7fELF")], [(gdb_action, u64(obj2) + u64(obj2 + 4) + b"\x01",
                                                   0, b"")])
    first2 = struct.unpack("<IIQQ", s.read_mem(desc, 24))[3]
    assert struct.unpack("<QQQQ", s.read_mem(first2, 32))[0] == first
    # Ranges outside JIT memory are refused.
    with pytest.raises(RemoteError):
        decode_error(s.call_raw(gdb_wrapper, u64(desc) + u64(desc + 8)))
    # Deallocating unregisters the debug object (no dangling entry for debuggers).
    s.deallocate([obj2])
    assert struct.unpack("<IIQQ", s.read_mem(desc, 24))[3] == first


def test_eh_frame_registration(s: Session) -> None:
    h = s.open("")
    reg, dereg = s.lookup(h, [("llvm_orc_registerEHFrameSectionWrapper", True),
                              ("llvm_orc_deregisterEHFrameSectionWrapper", True)])
    assert reg == s.sym("bootstrap_register_ehframe_section_wrapper")
    assert dereg == s.sym("bootstrap_deregister_ehframe_section_wrapper")
    seg = s.reserve(0x1000)
    s.finalize([(1, seg, 0x1000, bytes(4))])  # an empty eh-frame: zero terminator only
    assert s.call_raw(reg, u64(0) + u64(0)) == b"\x00"
    assert s.call_raw(reg, u64(seg) + u64(seg + 4)) == b"\x00"
    assert s.call_raw(dereg, u64(seg) + u64(seg + 4)) == b"\x00"
    # libgcc aborts on deregistering an unknown frame; we refuse in band.
    assert s.call_raw(dereg, u64(seg) + u64(seg + 4))[0] == 1
    # As an allocation action pair: registered at finalize, deregistered at deallocate.
    seg2 = s.reserve(0x1000)
    rng = u64(seg2) + u64(seg2 + 4)
    s.finalize([(1, seg2, 0x1000, bytes(4))], [(reg, rng, dereg, rng)])
    s.deallocate([seg2])


def test_dispatch_to_controller(s: Session) -> None:
    """JIT code calls dispatch_fn; the executor forwards it and returns our reply."""
    ctx = s.sym("SimpleRemoteEPC_dispatch_ctx")
    fn = s.sym("SimpleRemoteEPC_dispatch_fn")
    code = s.load_code(code_call_dispatch(ctx, fn, 0x1234, b"\x0a\x0b\x0c"))
    s.answer = lambda f: b"\x01\x02"
    assert s.run_as_void(code) == 2
    assert len(s.callbacks) == 1
    cb = s.callbacks[0]
    assert (cb.seq, cb.tag, cb.payload) == (0, 0x1234, b"\x0a\x0b\x0c")
    s.answer = lambda f: b"0123456789abcdef"  # > 8 bytes: heap buffer path
    assert s.run_as_void(code) == 16
    assert s.callbacks[1].seq == 1


def test_shared_memory_service_fails_cleanly(s: Session) -> None:
    inst = u64(s.sym("ExecutorSharedMemoryMapperService_Instance"))
    r = s.call("ExecutorSharedMemoryMapperService_Reserve", inst + u64(4096))
    assert r[0] == 0 and b"not supported" in r  # Expected failure
    r = s.call("ExecutorSharedMemoryMapperService_Release", inst + u64(0))
    assert r[0] == 1 and b"not supported" in r  # Error failure


def test_hangup_releases_memory() -> None:
    with session(launcher("glibc")) as s:
        bases = [s.reserve(1 << 20) for _ in range(4)]
        s.finalize([(5, bases[0], 4096, CODE_RET7)])
        assert s.hangup() == 0

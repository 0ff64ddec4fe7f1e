"""crossjit-executor under hostile input: never crash or hang, only error Results or
a clean disconnect. Runs on the glibc, musl and ASan+UBSan builds."""

from __future__ import annotations

import random
import struct

import pytest

from tests.integration.test_executor_support import (
    CODE_RET7,
    OP_CALL,
    OP_HANGUP,
    OP_RESULT,
    OP_SETUP,
    P,
    RemoteError,
    Session,
    launcher,
    seq,
    session,
    u64,
)

pytestmark = pytest.mark.integration

VARIANTS = ("glibc", "musl", "asan")


def assert_responsive(s: Session) -> None:
    base = s.reserve(4096)
    s.deallocate([base])


def finish(s: Session) -> None:
    assert s.alive(), s.err()
    assert_responsive(s)
    assert s.hangup() == 0
    s.check_sanitizers()


def disconnected(s: Session, expect: str | None = None) -> None:
    """The executor must end the session itself: exit 1, no signal, quickly."""
    rc = s.wait(20)
    assert rc == 1, f"rc={rc}\n{s.err()}"
    if expect:
        assert expect in s.err()
    s.check_sanitizers()


@pytest.mark.parametrize("variant", VARIANTS)
class TestFraming:
    def test_truncated_header(self, variant: str) -> None:
        with session(launcher(variant)) as s:
            s.send_raw(b"\x40\x00\x00")
            s.sock.shutdown(1)
            disconnected(s, "Unexpected end-of-file")

    def test_truncated_payload(self, variant: str) -> None:
        with session(launcher(variant)) as s:
            s.send_raw(struct.pack("<4Q", 32 + 100, OP_CALL, 0, 1) + b"x" * 10)
            s.sock.shutdown(1)
            disconnected(s, "Unexpected end-of-file")

    def test_size_too_small(self, variant: str) -> None:
        with session(launcher(variant)) as s:
            s.send_raw(struct.pack("<4Q", 31, OP_CALL, 0, 0))
            disconnected(s, "Message size too small")

    @pytest.mark.parametrize("size", [1 << 31, 1 << 62, (1 << 64) - 1])
    def test_oversized(self, variant: str, size: int) -> None:
        with session(launcher(variant)) as s:
            s.send_raw(struct.pack("<4Q", size, OP_CALL, 0, 0))
            disconnected(s, "too large")

    def test_bad_opcode(self, variant: str) -> None:
        with session(launcher(variant)) as s:
            s.send(7, 0, 0)
            disconnected(s, "Unexpected opcode")

    def test_setup_to_executor(self, variant: str) -> None:
        with session(launcher(variant)) as s:
            s.send(OP_SETUP, 0, 0, b"\x00" * 24)
            disconnected(s, "Unexpected Setup opcode")

    def test_opcode_low_byte_only(self, variant: str) -> None:
        with session(launcher(variant)) as s:
            tag = s.sym("SimpleExecutorMemoryManager_reserve_wrapper")
            inst = u64(s.sym("SimpleExecutorMemoryManager_Instance"))
            s.send(0x103, 5, tag, inst + u64(4096))  # as LLVM: 0x103 is CallWrapper
            f = s.recv()
            assert f is not None and (f.op, f.seq) == (OP_RESULT, 5) and f.payload[0] == 1
            finish(s)

    def test_stray_result_ignored(self, variant: str) -> None:
        with session(launcher(variant)) as s:
            s.send(OP_RESULT, 12345, 0, b"junk")
            finish(s)

    def test_hangup_with_garbage_payload(self, variant: str) -> None:
        with session(launcher(variant)) as s:
            s.send(OP_HANGUP, 99, 77, b"\xff" * 100)
            assert s.wait() == 0


@pytest.mark.parametrize("variant", VARIANTS)
def test_unknown_tags_give_empty_result(variant: str) -> None:
    with session(launcher(variant)) as s:
        data_addr = s.sym("SimpleExecutorMemoryManager_Instance")
        reserve = s.sym("SimpleExecutorMemoryManager_reserve_wrapper")
        rw = s.reserve(4096)  # reserved but not executable
        for tag in (0, 1, data_addr, reserve + 1, rw, 0xFFFFFFFFFFFFFFFF, 0x4141414141414141):
            assert s.call_raw(tag, b"\x00" * 16) == b"", hex(tag)
        # run_as_* on non-code addresses are refused too
        for name in ("bootstrap_run_as_void_function_wrapper",
                     "bootstrap_run_as_int_function_wrapper",
                     "bootstrap_run_as_main_wrapper"):
            assert s.call(name, u64(rw) + u64(0)) == b""
            assert s.call(name, u64(reserve) + u64(0)) == b""
        finish(s)


@pytest.mark.parametrize("variant", VARIANTS)
def test_writes_outside_our_memory_refused(variant: str) -> None:
    with session(launcher(variant)) as s:
        inst = s.sym("SimpleExecutorMemoryManager_Instance")
        code = s.load_code(CODE_RET7)  # finalized r-x
        before = s.read_mem(code, 6)
        base = s.reserve(4096)
        for addr in (0, 0x1000, inst, code, base + 4090):
            assert s.call("bootstrap_mem_write_uint64s_wrapper",
                          seq([u64(addr) + u64(0x4141414141414141)])) == b""
            assert s.write_buffers([(addr, b"B" * 8)]) == b""
        # All-or-nothing: one bad element, nothing written.
        assert s.write_buffers([(base, b"ok"), (inst, b"no")]) == b""
        assert s.read_mem(base, 2) == b"\0\0"
        assert s.read_mem(code, 6) == before
        assert s.run_as_void(code) == 7
        # In-range write still works.
        assert s.write_buffers([(base + 4088, b"12345678")]) == b""
        assert s.read_mem(base + 4088, 8) == b"12345678"
        # Allocation actions may only call our wrappers or finalized JIT code.
        other = s.reserve(4096)
        with pytest.raises(RemoteError, match="Refusing to call"):
            s.finalize([(3, other, 4096, b"")], [(inst, b"", 0, b"")])
        finish(s)


def _bad_payloads(rng: random.Random) -> list[bytes]:
    out = [b"", b"\x00", b"\xff" * 7, b"\xff" * 8, b"\xff" * 64, u64(1 << 63) * 4,
           u64(0) + u64((1 << 64) - 1) + b"\x00" * 8, u64(0) + u64(1 << 40)]
    out += [rng.randbytes(rng.randrange(0, 200)) for _ in range(40)]
    return out


@pytest.mark.parametrize("variant", VARIANTS)
def test_bad_sps_payloads_every_wrapper(variant: str) -> None:
    rng = random.Random(1234)
    with session(launcher(variant)) as s:
        assert s.setup is not None
        tags = {n: a for n, a in s.setup.symbols.items()
                if n.endswith(("_wrapper", "Reserve", "Initialize", "Deinitialize", "Release"))}
        assert len(tags) == 19
        h = s.open("")
        extra = s.lookup(h, [(n, True) for n in (
            "llvm_orc_registerEHFrameSectionWrapper", "llvm_orc_deregisterEHFrameSectionWrapper",
            "llvm_orc_registerJITLoaderGDBWrapper", "llvm_orc_registerJITLoaderGDBAllocAction")])
        for tag in [*tags.values(), *extra]:
            for payload in _bad_payloads(rng):
                r = s.call_raw(tag, payload)
                assert isinstance(r, bytes)
        # Instance + forged huge sequence counts
        inst = u64(s.sym("SimpleExecutorMemoryManager_Instance"))
        for name in ("SimpleExecutorMemoryManager_finalize_wrapper",
                     "SimpleExecutorMemoryManager_deallocate_wrapper"):
            assert s.call(name, inst + u64(1 << 62)) == b""
        assert s.call(P + "SimpleExecutorDylibManager_lookup_wrapper",
                      u64(0) + u64(h) + u64(1 << 60)) == b""
        finish(s)


@pytest.mark.parametrize("variant", VARIANTS)
def test_random_frames_stream(variant: str) -> None:
    """Well-framed random calls at random known tags, pipelined without waiting."""
    rng = random.Random(99)
    with session(launcher(variant)) as s:
        assert s.setup is not None
        tags = [a for n, a in s.setup.symbols.items() if "dispatch" not in n]
        for i in range(500):
            s.send(OP_CALL, 10_000 + i, rng.choice(tags), rng.randbytes(rng.randrange(0, 80)))
        seen: set[int] = set()
        while len(seen) < 500:
            f = s.recv()
            assert f is not None, s.err()
            assert f.op == OP_RESULT
            seen.add(f.seq)
        finish(s)

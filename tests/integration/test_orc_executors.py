"""OrcClient against the real Debian LLVM executors (14, 15, 16, 19, 22) over a socketpair."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest

from crossjit.errors import NotSupportedError, RemoteError
from crossjit.orc.client import OrcClient
from crossjit.orc.dialect import DISPATCH_CTX, DISPATCH_FN
from crossjit.orc.messages import Prot, SegmentRequest
from tests.integration import orc_code as code
from tests.prereq import LLVM_VERSIONS, llvm_executor

pytestmark = pytest.mark.integration

PAGE = 0x1000
DIALECTS = {14: "llvm-14", 15: "llvm-14", 16: "llvm-16", 19: "llvm-17", 22: "llvm-22"}
RX = Prot.R | Prot.X
RW = Prot.R | Prot.W


@pytest.fixture(params=LLVM_VERSIONS, ids=[f"llvm{v}" for v in LLVM_VERSIONS])
def version(request: pytest.FixtureRequest) -> int:
    v: int = request.param
    return v


@pytest.fixture
def client(version: int) -> Iterator[OrcClient]:
    c = OrcClient.spawn(str(llvm_executor(version)), timeout=20)
    try:
        yield c
    finally:
        status = c.close(timeout=10)
    assert status == 0, f"executor exit status {status}"


def load(c: OrcClient, text: bytes, data: bytes = b"", data_size: int = PAGE) -> tuple[int, int]:
    """One reservation: code page(s) RX at base, then an RW data area; returns (base, handle)."""
    code_size = -(-max(len(text), 1) // PAGE) * PAGE
    base = c.reserve(code_size + data_size)
    h = c.finalize(
        [
            SegmentRequest(base, code_size, RX, text),
            SegmentRequest(base + code_size, data_size, RW, data),
        ]
    )
    return base, h


def test_handshake(client: OrcClient, version: int) -> None:
    assert client.info.dialect == DIALECTS[version]
    assert client.info.triple == "x86_64-pc-linux-gnu"
    assert client.info.page_size == 4096
    assert DISPATCH_FN in client.info.bootstrap


def test_run_as_main_with_args(client: OrcClient) -> None:
    text = code.ARGC_MINUS_1.ljust(64, b"\xcc") + code.ARGV1_FIRST_CHAR.ljust(64, b"\xcc")
    text += code.ARGV_NULL_TERMINATED
    base, h = load(client, text)
    assert client.run_as_main(base, ["prog", "Zed", "c"], timeout=20) == 2
    assert client.run_as_main(base, [], timeout=20) == -1
    assert client.run_as_main(base + 64, ["prog", "Zed"], timeout=20) == ord("Z")
    for argv in ([], ["a"], ["a", "b", "c"]):
        assert client.run_as_main(base + 128, argv, timeout=20) == 1000 + len(argv)
    client.deallocate([h])


def test_run_as_int_and_void(client: OrcClient) -> None:
    base, h = load(client, code.INC.ljust(16, b"\xcc") + code.SEVEN)
    if client.dialect.run_as_int is None:
        with pytest.raises(NotSupportedError, match="llvm-14"):
            client.run_as_int(base, 41)
        with pytest.raises(NotSupportedError, match="llvm-14"):
            client.run_as_void(base + 16)
    else:
        assert client.run_as_int(base, 41) == 42
        assert client.run_as_int(base, -5) == -4
        assert client.run_as_void(base + 16) == 7
    client.deallocate([h])


def test_memory_writes_read_back_by_jit_code(client: OrcClient) -> None:
    base = client.reserve(2 * PAGE)
    data = base + PAGE
    h = client.finalize(
        [SegmentRequest(base, PAGE, RX, code.read32(data)), SegmentRequest(data, PAGE, RW)]
    )
    client.write_uint8s([(data, 0x11)])
    client.write_uint16s([(data + 2, 0x3322)])
    client.write_uint32s([(data + 4, 0x77665544)])
    client.write_uint64s([(data + 8, 0xFFEEDDCCBBAA9988)])
    client.write_buffers([(data + 16, b"hello")])
    expected = b"\x11\x00\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xffhell"

    def read32(off: int) -> int:
        if client.dialect.run_as_int is not None:
            v = client.run_as_int(base, off)
        else:
            v = client.run_as_main(base, ["x"] * off, timeout=20)
        return v & 0xFFFFFFFF

    for off in (0, 4, 8, 12, 16):
        assert read32(off) == struct.unpack_from("<I", expected, off)[0], off
    client.deallocate([h])


def test_large_segment_and_zero_fill(client: OrcClient) -> None:
    size = 4 << 20  # a few MB, like a real link
    blob = bytes(range(256)) * (size // 256 - 1)  # the last 256 bytes are left to zero fill
    base = client.reserve(PAGE + size)
    data = base + PAGE
    # f(argc) = *(int32_t *)(data + len(blob) - 4 + argc): the blob's end, then the fill.
    h = client.finalize(
        [
            SegmentRequest(base, PAGE, RX, code.read32(data + len(blob) - 4)),
            SegmentRequest(data, size, Prot.R, blob),
        ]
    )
    assert client.run_as_main(base, [], timeout=20) == struct.unpack("<i", blob[-4:])[0]
    assert client.run_as_main(base, ["x"] * 4, timeout=20) == 0
    client.deallocate([h])


def test_finalize_lifetime_segment_accepted(client: OrcClient) -> None:
    # 16+ get the wire bit 8, 14/15 do not; either way finalize succeeds. (Such a segment
    # may be dropped after finalization, so nothing reads it afterwards.)
    base = client.reserve(3 * PAGE)
    h = client.finalize(
        [
            SegmentRequest(base, PAGE, RX, code.read32(base + PAGE)),
            SegmentRequest(base + PAGE, PAGE, RW, b"\x2a"),
            SegmentRequest(base + 2 * PAGE, PAGE, RW, b"tmp", finalize_lifetime=True),
        ]
    )
    assert client.run_as_main(base, [], timeout=20) == 42
    client.deallocate([h])


def test_open_dylib_and_lookup(client: OrcClient) -> None:
    handle = client.open_dylib("")
    assert isinstance(handle, int)
    assert client.open_dylib(None) is not None
    printf, missing = client.lookup(handle, ["printf", "no_such_symbol_xyz"], required=False)
    assert printf is not None and printf > 0x1000
    assert missing is None
    assert client.lookup(handle, ["printf"], required=True) == [printf]
    with pytest.raises(RemoteError, match="no_such_symbol_xyz"):
        client.lookup(handle, ["printf", "no_such_symbol_xyz"], required=True)
    with pytest.raises(RemoteError, match="cannot open shared object"):
        client.open_dylib("/nonexistent/libx.so")


def test_jit_code_output_reaches_inherited_stdout(
    capfd: pytest.CaptureFixture[str], version: int
) -> None:
    # Spawned here, after capfd is active, so the executor inherits the fd it captures.
    with OrcClient.spawn(str(llvm_executor(version)), timeout=20) as client:
        (puts,) = client.lookup(client.open_dylib(""), ["puts"])
        assert puts is not None
        base = client.reserve(2 * PAGE)
        msg = base + PAGE
        client.finalize(
            [
                SegmentRequest(base, PAGE, RX, code.puts(puts, msg)),
                SegmentRequest(msg, PAGE, Prot.R, b"hello from the executor\0"),
            ]
        )
        assert client.run_as_main(base, [], timeout=20) == 0
        assert client.close(timeout=10) == 0  # exit flushes the executor's stdio
    assert "hello from the executor" in capfd.readouterr().out


def test_deallocate_twice_is_remote_error(client: OrcClient) -> None:
    _, h = load(client, code.SEVEN)
    client.deallocate([h])
    with pytest.raises(RemoteError):
        client.deallocate([h])


def test_eh_frame_actions(client: OrcClient) -> None:
    # The zero range of §9.5, then a real CIE+FDE that libgcc's unwinder must find.
    base = client.reserve(3 * PAGE)
    eh, scratch = base + PAGE, base + 2 * PAGE
    h0 = client.finalize(
        [
            SegmentRequest(base, PAGE, RX, code.SEVEN),
            SegmentRequest(eh, PAGE, Prot.R, bytes(4)),
            SegmentRequest(scratch, PAGE, RW),
        ],
        [client.eh_frame_actions(eh, 4)],
    )
    client.deallocate([h0])

    (find_fde,) = client.lookup(client.open_dylib(""), ["_Unwind_Find_FDE"])
    assert find_fde is not None
    base = client.reserve(3 * PAGE)
    eh, scratch = base + PAGE, base + 2 * PAGE
    frame = code.eh_frame(eh, base, len(code.SEVEN))
    probe = base + 64
    text = code.SEVEN.ljust(64, b"\xcc") + code.call2(find_fde, base + 1, scratch)
    h = client.finalize(
        [
            SegmentRequest(base, PAGE, RX, text),
            SegmentRequest(eh, PAGE, Prot.R, frame),
            SegmentRequest(scratch, PAGE, RW),
        ],
        [client.eh_frame_actions(eh, len(frame))],
    )
    assert client.run_as_main(base, [], timeout=20) == 7
    assert client.run_as_main(probe, [], timeout=20) == 1  # libgcc finds our FDE
    client.deallocate([h])  # runs the deregistration


def test_gdb_register_action(client: OrcClient) -> None:
    (desc,) = client.lookup(client.open_dylib(""), ["__jit_debug_descriptor"])
    assert desc is not None
    base = client.reserve(2 * PAGE)
    obj = base + PAGE
    client.finalize(
        [
            SegmentRequest(base, PAGE, RX, code.gdb_first_entry_size(desc)),
            SegmentRequest(obj, PAGE, Prot.R, b"\x7fELF" + bytes(18)),
        ],
        [client.gdb_register_action(obj, 22)],
    )
    assert client.run_as_main(base, [], timeout=20) == 22
    # No deregistration exists: the object stays mapped until the executor exits.


def test_executor_calls_controller(client: OrcClient) -> None:
    bs = client.info.bootstrap
    calls: list[bytes] = []

    def handler(args: bytes) -> bytes:
        calls.append(args)
        return b"xy"

    client.handlers[0x1234] = handler
    base = client.reserve(2 * PAGE)
    data = base + PAGE
    text = code.dispatch(bs[DISPATCH_FN], bs[DISPATCH_CTX], 0x1234, data, 3).ljust(128, b"\xcc")
    text += code.dispatch(bs[DISPATCH_FN], bs[DISPATCH_CTX], 0x9999, data, 3)
    client.finalize(
        [SegmentRequest(base, PAGE, RX, text), SegmentRequest(data, PAGE, RW, b"\x0a\x0b\x0c")]
    )
    assert client.run_as_main(base, [], timeout=20) == 2
    assert calls == [b"\x0a\x0b\x0c"]
    # Unknown tag: answered with an empty (OOB error) result, so JIT code does not block.
    assert client.run_as_main(base + 128, [], timeout=20) == 0

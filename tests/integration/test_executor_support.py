"""Shared helpers for the crossjit-executor tests (no tests here).

Builds the executor variants with make (once per session) and speaks the
SimpleRemoteEPC wire protocol (LLVM 16 dialect) directly, byte by byte, so the
tests do not depend on crossjit's own controller.
"""

from __future__ import annotations

import functools
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tests.prereq import missing, require_file, require_tool

REPO = Path(__file__).resolve().parents[2]
EXECUTOR_DIR = REPO / "executor"
BUILD = EXECUTOR_DIR / "build"
LLVM16_EXECUTOR = Path("/usr/lib/llvm-16/bin/llvm-jitlink-executor")
LLVM16_JITLINK = Path("/usr/lib/llvm-16/bin/llvm-jitlink")

OP_SETUP, OP_HANGUP, OP_RESULT, OP_CALL = 0, 1, 2, 3

# variant -> (make target, output file)
VARIANTS: dict[str, str] = {
    "glibc": "crossjit-executor-glibc",
    "musl": "crossjit-executor-musl",
    "musl-static": "crossjit-executor-musl-static",
    "asan": "crossjit-executor-asan",
    "aarch64-musl-static": "crossjit-executor-aarch64-musl-static",
    "aarch64-musl": "crossjit-executor-aarch64-musl",
    "aarch64-glibc": "crossjit-executor-aarch64-glibc",
}
X86_VARIANTS = ("glibc", "musl", "musl-static", "asan")

P = "__llvm_orc_"
LLVM16_BOOTSTRAP_NAMES = frozenset(
    [
        P + "SimpleRemoteEPC_dispatch_ctx",
        P + "SimpleRemoteEPC_dispatch_fn",
        P + "SimpleExecutorMemoryManager_Instance",
        P + "SimpleExecutorMemoryManager_reserve_wrapper",
        P + "SimpleExecutorMemoryManager_finalize_wrapper",
        P + "SimpleExecutorMemoryManager_deallocate_wrapper",
        P + "SimpleExecutorDylibManager_Instance",
        P + "SimpleExecutorDylibManager_open_wrapper",
        P + "SimpleExecutorDylibManager_lookup_wrapper",
        *(P + f"bootstrap_mem_write_{k}_wrapper"
          for k in ("uint8s", "uint16s", "uint32s", "uint64s", "buffers")),
        P + "bootstrap_run_as_main_wrapper",
        P + "bootstrap_run_as_void_function_wrapper",
        P + "bootstrap_run_as_int_function_wrapper",
        P + "bootstrap_register_ehframe_section_wrapper",
        P + "bootstrap_deregister_ehframe_section_wrapper",
        *(P + f"ExecutorSharedMemoryMapperService_{k}"
          for k in ("Instance", "Reserve", "Initialize", "Deinitialize", "Release")),
    ]
)


# ---- building ----------------------------------------------------------------


def _require_toolchain(variant: str) -> None:
    require_tool("make")
    if variant == "glibc":
        require_tool("cc", "a C compiler (apt-get install gcc)")
    elif variant.startswith("musl"):
        require_tool("musl-gcc", "musl-gcc (apt-get install musl musl-dev musl-tools)")
    elif variant == "asan":
        require_tool("clang-16", "clang-16 (apt-get install clang-16 libclang-rt-16-dev)")
    elif variant.startswith("aarch64"):
        r = subprocess.run([sys.executable, "-m", "ziglang", "version"], capture_output=True,
                           check=False)
        if r.returncode != 0:
            missing("the ziglang wheel (pip install ziglang) for the aarch64 cross build")


@functools.cache
def _make(target: str) -> None:
    # The cross builds use this interpreter's ziglang wheel, not whatever python3 is on PATH.
    zig = f"{sys.executable} -m ziglang"
    p = subprocess.run(["make", "-C", str(EXECUTOR_DIR), f"ZIG={zig}", target], capture_output=True,
                       text=True, check=False, timeout=900)
    if p.returncode != 0:
        raise AssertionError(f"make {target} failed:\n{p.stdout}\n{p.stderr}")


def executor(variant: str) -> Path:
    """Build (once per session) and return the executor binary of a variant."""
    _require_toolchain(variant)
    name = VARIANTS[variant]
    _make(f"build/{name}")
    return BUILD / name


def qemu_aarch64() -> str:
    found = shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
    if not found:
        missing("qemu-aarch64 (apt-get install qemu-user-static)")
    return found


def launcher(variant: str) -> list[str]:
    """argv prefix that runs an executor variant on this machine."""
    path = executor(variant)
    return [qemu_aarch64(), str(path)] if variant.startswith("aarch64") else [str(path)]


def llvm16_executor() -> Path:
    return require_file(LLVM16_EXECUTOR, "llvm-jitlink-executor 16 (apt-get install llvm-16)")


def llvm16_jitlink() -> Path:
    return require_file(LLVM16_JITLINK, "llvm-jitlink 16 (apt-get install llvm-16)")


# ---- SPS -----------------------------------------------------------------------


def u8(v: int) -> bytes:
    return struct.pack("<B", v)


def u32(v: int) -> bytes:
    return struct.pack("<I", v & 0xFFFFFFFF)


def u64(v: int) -> bytes:
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


def sbytes(b: bytes | str) -> bytes:
    raw = b.encode() if isinstance(b, str) else b
    return u64(len(raw)) + raw


def seq(items: list[bytes]) -> bytes:
    return u64(len(items)) + b"".join(items)


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"short SPS data: need {n} at {self.pos} of {len(self.data)}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self) -> int:
        return int(self.take(1)[0])

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def i32(self) -> int:
        return int(struct.unpack("<i", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])

    def i64(self) -> int:
        return int(struct.unpack("<q", self.take(8))[0])

    def bytes_(self) -> bytes:
        return self.take(self.u64())

    def str_(self) -> str:
        return self.bytes_().decode()

    def done(self) -> bool:
        return self.pos == len(self.data)


class RemoteError(Exception):
    """An in-band SPS Error / Expected failure."""


def decode_error(payload: bytes) -> None:
    r = Reader(payload)
    if r.u8():
        raise RemoteError(r.str_())


def decode_expected_u64(payload: bytes) -> int:
    r = Reader(payload)
    if not r.u8():
        raise RemoteError(r.str_())
    return r.u64()


# ---- Setup ---------------------------------------------------------------------


@dataclass(frozen=True)
class SetupInfo:
    header: bytes
    payload: bytes
    triple: str
    page_size: int
    symbols: dict[str, int]


def parse_setup_16(header: bytes, payload: bytes) -> SetupInfo:
    """3-field (LLVM 14-16) Setup; must consume the payload exactly."""
    r = Reader(payload)
    triple = r.str_()
    page = r.u64()
    n = r.u64()
    syms: dict[str, int] = {}
    for _ in range(n):
        name = r.str_()
        assert name not in syms, f"duplicate bootstrap symbol {name}"
        syms[name] = r.u64()
    assert r.done(), "Setup payload not consumed exactly by the 3-field (LLVM 16) layout"
    return SetupInfo(header, payload, triple, page, syms)


# ---- a raw session ----------------------------------------------------------------


@dataclass
class Frame:
    op: int
    seq: int
    tag: int
    payload: bytes


@dataclass
class Session:
    """One executor process on a socketpair (filedescs=N,N)."""

    proc: subprocess.Popen[bytes]
    sock: socket.socket
    stderr: IO[bytes]
    setup: SetupInfo | None = None
    next_seq: int = 0
    buf: bytes = b""
    callbacks: list[Frame] = field(default_factory=list)
    answer: Callable[[Frame], bytes] = lambda f: f.payload[::-1]

    # -- io
    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, op: int, seq_no: int, tag: int, payload: bytes = b"") -> None:
        self.send_raw(struct.pack("<4Q", 32 + len(payload), op, seq_no, tag) + payload)

    def _fill(self, n: int, deadline: float) -> bool:
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("executor did not answer in time")
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                continue
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return False
            self.buf += chunk
        return True

    def recv(self, timeout: float = 20.0) -> Frame | None:
        """Next frame, or None on EOF."""
        deadline = time.monotonic() + timeout
        if not self._fill(32, deadline):
            return None
        size, op, seq_no, tag = struct.unpack("<4Q", self.buf[:32])
        if not self._fill(size, deadline):
            return None
        payload = self.buf[32:size]
        self.buf = self.buf[size:]
        return Frame(op, seq_no, tag, payload)

    def read_setup(self) -> SetupInfo:
        f = self.recv()
        assert f is not None, "executor closed before Setup"
        assert (f.op, f.seq, f.tag) == (OP_SETUP, 0, 0)
        header = struct.pack("<4Q", 32 + len(f.payload), f.op, f.seq, f.tag)
        self.setup = parse_setup_16(header, f.payload)
        return self.setup

    def sym(self, name: str) -> int:
        assert self.setup is not None
        return self.setup.symbols[name if name in self.setup.symbols else P + name]

    def call_raw(self, tag: int, payload: bytes, timeout: float = 20.0) -> bytes:
        """CallWrapper and wait for its Result, answering executor calls meanwhile."""
        seq_no = self.next_seq
        self.next_seq += 1
        self.send(OP_CALL, seq_no, tag, payload)
        while True:
            f = self.recv(timeout)
            if f is None:
                raise ConnectionError(f"executor closed the connection; stderr:\n{self.err()}")
            if f.op == OP_RESULT and f.seq == seq_no:
                return f.payload
            if f.op == OP_CALL:
                self.callbacks.append(f)
                self.send(OP_RESULT, f.seq, 0, self.answer(f))
                continue
            raise AssertionError(f"unexpected frame {f}")

    def call(self, name: str, payload: bytes, timeout: float = 20.0) -> bytes:
        return self.call_raw(self.sym(name), payload, timeout)

    # -- typed calls (LLVM 16 signatures)
    def reserve(self, size: int) -> int:
        return decode_expected_u64(self.call(
            "SimpleExecutorMemoryManager_reserve_wrapper",
            u64(self.sym("SimpleExecutorMemoryManager_Instance")) + u64(size)))

    def finalize(self, segments: list[tuple[int, int, int, bytes]],
                 actions: list[tuple[int, bytes, int, bytes]] | None = None) -> None:
        segs = [u8(prot) + u64(addr) + u64(size) + sbytes(content)
                for prot, addr, size, content in segments]
        acts = [u64(f) + sbytes(fa) + u64(d) + sbytes(da) for f, fa, d, da in actions or []]
        decode_error(self.call(
            "SimpleExecutorMemoryManager_finalize_wrapper",
            u64(self.sym("SimpleExecutorMemoryManager_Instance")) + seq(segs) + seq(acts)))

    def deallocate(self, bases: list[int]) -> None:
        decode_error(self.call(
            "SimpleExecutorMemoryManager_deallocate_wrapper",
            u64(self.sym("SimpleExecutorMemoryManager_Instance")) + seq([u64(b) for b in bases])))

    def open(self, path: str = "", mode: int = 0) -> int:
        return decode_expected_u64(self.call(
            "SimpleExecutorDylibManager_open_wrapper",
            u64(self.sym("SimpleExecutorDylibManager_Instance")) + sbytes(path) + u64(mode)))

    def lookup(self, handle: int, names: list[tuple[str, bool]]) -> list[int]:
        payload = self.call(
            "SimpleExecutorDylibManager_lookup_wrapper",
            u64(self.sym("SimpleExecutorDylibManager_Instance")) + u64(handle)
            + seq([sbytes(n) + u8(req) for n, req in names]))
        r = Reader(payload)
        if not r.u8():
            raise RemoteError(r.str_())
        return [r.u64() for _ in range(r.u64())]

    def write_u8s(self, items: list[tuple[int, int]]) -> bytes:
        return self.call("bootstrap_mem_write_uint8s_wrapper",
                         seq([u64(a) + u8(v) for a, v in items]))

    def write_buffers(self, items: list[tuple[int, bytes]]) -> bytes:
        return self.call("bootstrap_mem_write_buffers_wrapper",
                         seq([u64(a) + sbytes(b) for a, b in items]))

    def run_as_main(self, addr: int, args: list[str]) -> int:
        return Reader(self.call("bootstrap_run_as_main_wrapper",
                                u64(addr) + seq([sbytes(a) for a in args]))).i64()

    def run_as_int(self, addr: int, arg: int) -> int:
        return Reader(self.call("bootstrap_run_as_int_function_wrapper",
                                u64(addr) + u32(arg))).i32()

    def run_as_void(self, addr: int) -> int:
        return Reader(self.call("bootstrap_run_as_void_function_wrapper", u64(addr))).i32()

    def load_code(self, code: bytes, prot: int = 5) -> int:
        """Reserve a page, finalize `code` into it with `prot`, return its address."""
        base = self.reserve(4096)
        self.finalize([(prot, base, 4096, code)])
        return base

    # -- lifecycle
    def err(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def hangup(self, timeout: float = 20.0) -> int:
        self.send(OP_HANGUP, 0, 0, b"\x00")
        return self.wait(timeout)

    def wait(self, timeout: float = 20.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"executor did not exit; stderr:\n{self.err()}") from None

    def read_mem(self, addr: int, n: int) -> bytes:
        with open(f"/proc/{self.proc.pid}/mem", "rb") as f:
            f.seek(addr)
            return f.read(n)

    def check_sanitizers(self) -> None:
        text = self.err()
        for needle in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
            assert needle not in text, text


@contextmanager
def session(argv: list[str], env: dict[str, str] | None = None,
            read_setup: bool = True) -> Iterator[Session]:
    a, b = socket.socketpair()
    errf = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    full_env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0",
                    UBSAN_OPTIONS="print_stacktrace=1")
    full_env.update(env or {})
    proc = subprocess.Popen([*argv, f"filedescs={b.fileno()},{b.fileno()}"],
                            pass_fds=[b.fileno()], stdout=subprocess.DEVNULL, stderr=errf,
                            env=full_env)
    b.close()
    s = Session(proc, a, errf)
    try:
        if read_setup:
            s.read_setup()
        yield s
    finally:
        a.close()
        if proc.poll() is None:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        errf.close()


# ---- x86-64 machine code used as "JIT'd code" ---------------------------------------

CODE_INC = bytes.fromhex("8d4701c3")  # lea eax,[rdi+1]; ret
CODE_RET7 = bytes.fromhex("b807000000c3")  # mov eax,7; ret
# main: return argc + 1000 * (argv[argc] == NULL) + 0x10000 * argv[1][0] (argc >= 2)
CODE_MAIN = bytes.fromhex(
    "4863c7"  # movsxd rax, edi
    "31c9"  # xor ecx, ecx
    "48833cc600"  # cmp qword [rsi+rax*8], 0
    "0f94c1"  # sete cl
    "69c9e8030000"  # imul ecx, ecx, 1000
    "01f9"  # add ecx, edi
    "83ff02"  # cmp edi, 2
    "7c0c"  # jl done
    "488b4608"  # mov rax, [rsi+8]
    "0fb600"  # movzx eax, byte [rax]
    "c1e010"  # shl eax, 16
    "01c1"  # add ecx, eax
    "89c8"  # done: mov eax, ecx
    "c3"  # ret
)


def code_call_dispatch(ctx: int, fn: int, tag: int, data: bytes) -> bytes:
    """int f(void): dispatch_fn(ctx, tag, data, len(data)); return result Size."""
    head = (bytes.fromhex("53")  # push rbx (aligns the stack)
            + b"\x48\xbf" + u64(ctx)  # movabs rdi, ctx
            + b"\x48\xbe" + u64(tag))  # movabs rsi, tag
    lea_len = 7
    rest = (bytes.fromhex("b9") + u32(len(data))  # mov ecx, len
            + b"\x48\xb8" + u64(fn)  # movabs rax, fn
            + bytes.fromhex("ffd0")  # call rax
            + bytes.fromhex("89d0")  # mov eax, edx
            + bytes.fromhex("5b")  # pop rbx
            + bytes.fromhex("c3"))  # ret
    lea = b"\x48\x8d\x15" + struct.pack("<i", len(rest))  # lea rdx, [rip + len(rest)]
    assert len(lea) == lea_len
    return head + lea + rest + data

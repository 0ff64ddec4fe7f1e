"""Hand-assembled x86-64 snippets for the ORC client's integration tests.

Hand-assembled so the tests need neither a compiler nor crossjit's linker.
"""

from __future__ import annotations

import struct


def imm64(v: int) -> bytes:
    return struct.pack("<Q", v)


ARGC_MINUS_1 = bytes.fromhex("89f883e801c3")  # mov eax,edi; sub eax,1; ret
ARGV1_FIRST_CHAR = bytes.fromhex("488b46080fb600c3")  # mov rax,[rsi+8]; movzx eax,[rax]
# 1000+argc if argv[argc] == NULL else -1
ARGV_NULL_TERMINATED = bytes.fromhex("4863c748833cc60075078d87e8030000c3b8ffffffffc3")
INC = bytes.fromhex("8d4701c3")  # lea eax,[rdi+1]; ret
SEVEN = bytes.fromhex("b807000000c3")  # mov eax,7; ret
LOOP = bytes.fromhex("ebfe")  # jmp $


def read32(base: int) -> bytes:
    """int f(int off) { return *(int32_t *)(base + off); }"""
    return b"\x48\xb8" + imm64(base) + bytes.fromhex("8b0438c3")


def call2(fn: int, a0: int, a1: int) -> bytes:
    """return (int)(fn(a0, a1) != 0)  — rax of a 2-argument call, as a flag."""
    return (
        b"\x48\xbf"
        + imm64(a0)
        + b"\x48\xbe"
        + imm64(a1)
        + b"\x48\xb8"
        + imm64(fn)
        + bytes.fromhex("4883ec08ffd04883c4084885c00f95c00fb6c0c3")
    )


def puts(fn: int, s: int) -> bytes:
    """puts(s); return 0"""
    return (
        b"\x48\xbf"
        + imm64(s)
        + b"\x48\xb8"
        + imm64(fn)
        + bytes.fromhex("4883ec08ffd04883c40831c0c3")
    )


def dispatch(fn: int, ctx: int, tag: int, data: int, size: int) -> bytes:
    """Call the executor's dispatch_fn(ctx, tag, data, size); return the result's Size."""
    return (
        b"\x48\xbf"
        + imm64(ctx)
        + b"\x48\xbe"
        + imm64(tag)
        + b"\x48\xba"
        + imm64(data)
        + b"\xb9"
        + struct.pack("<I", size)
        + b"\x48\xb8"
        + imm64(fn)
        + bytes.fromhex("4883ec08ffd04883c40889d0c3")
    )


def gdb_first_entry_size(descriptor: int) -> bytes:
    """return (int)__jit_debug_descriptor.first_entry->symfile_size"""
    return b"\x48\xb8" + imm64(descriptor) + bytes.fromhex("488b40108b4018c3")


def eh_frame(eh_addr: int, code_addr: int, code_size: int) -> bytes:
    """A minimal .eh_frame (CIE + one FDE + zero terminator) for a leaf function at code_addr."""
    cie_body = (
        struct.pack("<I", 0)  # CIE id
        + b"\x01zR\x00"  # version, augmentation
        + b"\x01\x78\x10"  # code align 1, data align -8, return address r16
        + b"\x01\x1b"  # augmentation data: FDE pointers pcrel|sdata4
        + b"\x0c\x07\x08"  # def_cfa rsp+8
        + b"\x90\x01"  # offset r16 at cfa-8
        + b"\x00\x00"  # pad to 4
    )
    cie = struct.pack("<I", len(cie_body)) + cie_body
    fde_start = eh_addr + len(cie)
    pc_field = fde_start + 8
    fde_body = (
        struct.pack("<I", len(cie) + 4)  # offset back to the CIE from this field
        + struct.pack("<iI", code_addr - pc_field, code_size)
        + b"\x00"  # augmentation data length
        + b"\x00\x00\x00"  # pad
    )
    fde = struct.pack("<I", len(fde_body)) + fde_body
    return cie + fde + bytes(4)

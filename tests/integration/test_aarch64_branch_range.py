"""A call whose target lies beyond BL's ±128 MiB goes through a 12-byte x16 stub and
works, on real AArch64 executors under qemu-user.

One reservation of 256 MiB; the callee is linked at its far end, 200 MiB from the
caller, which sees it as an external (as it would see libc): the linker must route the
BL through a stub reading the callee's address from the GOT.
"""

from __future__ import annotations

import shlex
import struct
import subprocess
from pathlib import Path

import pytest

from crossjit.link import LinkedImage, Linker
from crossjit.orc.client import ExecutorSpec, OrcClient
from crossjit.orc.messages import SegmentRequest
from tests.integration import aarch64_env as a64
from tests.integration.test_executor_support import qemu_aarch64
from tests.prereq import require_tool
from tests.unit.a64_decode import branch_target

pytestmark = pytest.mark.integration

SPAN = 256 << 20
FAR = 200 << 20  # > 128 MiB: out of BL's reach
CALLER = """
extern int far_fn(int);
int caller(int x) { return far_fn(x) * 2 + 1; }
int tail(int x) { return far_fn(x + 1); }
"""
CALLEE = "int far_fn(int x) { return x + 100; }"


def _obj(tmp: Path, name: str, src: str) -> bytes:
    clang = require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    c = tmp / f"{name}.c"
    c.write_text(src)
    subprocess.run([clang, "--target=aarch64-linux-gnu", "-fPIC", "-O2", "-c", str(c), "-o",
                    str(tmp / f"{name}.o")], check=True, capture_output=True)
    return (tmp / f"{name}.o").read_bytes()


def _link(name: str, data: bytes, base: int, resolved: dict[str, int | None],
          page: int) -> LinkedImage:
    linker = Linker(arch="aarch64", page_size=page)
    linker.add_object(name, data)
    plan = linker.plan()
    assert plan.reservation_size < 1 << 20
    return plan.finish(base, resolved)


def _insn(image: LinkedImage, addr: int) -> int:
    for s in image.segments:
        if s.addr <= addr < s.addr + len(s.content):
            v: int = struct.unpack_from("<I", s.content, addr - s.addr)[0]
            return v
    raise AssertionError(hex(addr))


@pytest.mark.parametrize("executor", ["cj-glibc", "llvm16"])
def test_call_beyond_128_mib_goes_through_a_stub(executor: str, tmp_path: Path) -> None:
    spec = ExecutorSpec.parse(a64.spec(executor)[0])
    caller_o, callee_o = _obj(tmp_path, "caller", CALLER), _obj(tmp_path, "callee", CALLEE)
    with OrcClient.spawn(spec.path, spec.args, wrapper=spec.wrapper) as client:
        page = client.info.page_size
        base = client.reserve(SPAN)
        far = _link("callee.o", callee_o, base + FAR, {}, page)
        near = _link("caller.o", caller_o, base, {"far_fn": far.symbols["far_fn"]}, page)
        # The BL/B does not reach far_fn directly: it goes to a stub next to the code.
        for fn in ("caller", "tail"):
            start = near.symbols[fn]
            text = next(s for s in near.sections if s.section == ".text")
            sites = [a for a in range(start, text.addr + text.size, 4)
                     if _insn(near, a) & 0x7C000000 == 0x14000000]  # b / bl
            assert sites, f"no branch in {fn}"
            stub = branch_target(_insn(near, sites[0]), sites[0])
            assert abs(stub - start) < 1 << 20
            assert _insn(near, stub + 8) == 0xD61F0200  # br x16
            assert far.symbols["far_fn"] - stub > 128 << 20
        # One finalize for the whole reservation: executors find the allocation by the
        # address of its first segment.
        client.finalize([SegmentRequest(s.addr, s.size, int(s.prot), s.content)
                         for image in (near, far) for s in image.segments])
        assert client.run_as_int(near.symbols["caller"], 1) == 203
        assert client.run_as_int(near.symbols["tail"], 1) == 102
    assert shlex.join(spec.wrapper).startswith(qemu_aarch64())

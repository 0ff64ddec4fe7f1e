"""Debug objects in the executor's GDB JIT interface, on every executor dialect.

No debugger: the executor's ``__jit_debug_descriptor`` is read from ``/proc/PID/mem``
after loading a ``-g`` program (one entry per object, each an ELF copy in executor
memory) and again after unloading (every entry gone: LLVM's executors cannot
deregister, crossjit's runtime/jitdebug.c does it before the memory is released).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from crossjit.compile import build
from crossjit.orc.client import OrcClient
from crossjit.orc.transport import SpawnedTransport
from crossjit.run import loader
from crossjit.run.session import run_loaded
from tests.prereq import LLVM_VERSIONS, llvm_executor, missing, require_file, require_tool

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SEED = "int sub1(int x) { return x - 1; } int main(int argc, char **argv) { return sub1(argc); }\n"
EXECUTORS = [f"llvm-{v}" for v in LLVM_VERSIONS] + ["crossjit-glibc"]


def executor_path(name: str) -> Path:
    if name.startswith("llvm-"):
        return llvm_executor(int(name.split("-")[1]))
    return require_file(REPO / "executor/build/crossjit-executor-glibc",
                        "crossjit-executor-glibc (make -C executor)")


def read_mem(pid: int, addr: int, size: int) -> bytes:
    try:
        with open(f"/proc/{pid}/mem", "rb") as f:
            f.seek(addr)
            return f.read(size)
    except PermissionError:
        missing("reading /proc/PID/mem needs ptrace rights (root)")


def entries(pid: int, desc: int) -> tuple[int, list[tuple[int, int]]]:
    """(action_flag, [(symfile_addr, symfile_size), ...]) from the descriptor."""
    version, action, _relevant, first = struct.unpack("<IIQQ", read_mem(pid, desc, 24))
    assert version == 1
    out = []
    e = first
    while e:
        nxt, _prev, addr, size = struct.unpack("<QQQQ", read_mem(pid, e, 32))
        out.append((addr, size))
        e = nxt
        assert len(out) < 100
    return action, out


@pytest.mark.parametrize("name", EXECUTORS)
def test_register_and_deregister(tmp_path: Path, name: str) -> None:
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    exe = executor_path(name)
    src = tmp_path / "seed.c"
    src.write_text(SEED)
    with OrcClient.spawn(str(exe)) as client:
        transport = client.transport
        assert isinstance(transport, SpawnedTransport)
        pid = transport.proc.pid
        triple = client.info.triple
        opts = build.BuildOptions(target=triple, debug=True)
        objects = [*build.build([src], opts).objects, build.runtime_object(opts),
                   build.runtime_object(opts, "jitdebug.c", "<crossjit jitdebug>")]
        desc = client.lookup(client.open_dylib(None), ["__jit_debug_descriptor"])[0]
        assert desc
        assert entries(pid, desc)[1] == []

        program = loader.load(client, objects, implicit=loader.implicit_libraries(triple, False),
                              debug=True)
        action, registered = entries(pid, desc)
        assert action == 1  # JIT_REGISTER_FN, the last thing the executor did
        assert len(registered) == len(objects)  # every object: DWARF or symbols + unwind info
        assert program.debug_range is not None
        lo, hi = program.debug_range
        for addr, size in registered:
            assert lo <= addr and addr + size <= hi
            head = read_mem(pid, addr, 64)
            assert head[:4] == b"\x7fELF" and struct.unpack_from("<H", head, 16)[0] == 1  # ET_REL
        # The seed's copy: .text at the address the program runs from.
        blobs = [read_mem(pid, a, s) for a, s in registered]
        assert any(b"sub1" in b and b".debug_info" in b for b in blobs)

        assert run_loaded(client, program, ["seed"]).status == 0
        loader.unload(client, program)
        action, registered = entries(pid, desc)
        assert registered == [] and action == 0

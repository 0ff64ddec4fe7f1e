"""Calls in flight together (OrcClient.send_*), and the load path built on them: real
LLVM executors and crossjit-executor, nothing simulated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crossjit import records
from crossjit.errors import RemoteError
from crossjit.orc.client import OrcClient, gather
from crossjit.orc.messages import Prot, SegmentRequest
from tests.integration import orc_code as code
from tests.prereq import llvm_executor, require_file, require_tool

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent.parent
PAGE = 0x1000
RX = Prot.R | Prot.X
FORTY_TWO = bytes.fromhex("b82a000000c3")  # mov eax,42; ret


def executor(kind: str) -> str:
    if kind == "crossjit-executor-glibc":
        return str(require_file(REPO / "executor/build/crossjit-executor-glibc",
                                "crossjit-executor-glibc (make -C executor)"))
    return str(llvm_executor(int(kind.removeprefix("llvm"))))


@pytest.fixture(params=["llvm16", "llvm22", "crossjit-executor-glibc"])
def client(request: pytest.FixtureRequest) -> Iterator[OrcClient]:
    c = OrcClient.spawn(executor(request.param), timeout=20)
    try:
        yield c
    finally:
        status = c.close(timeout=10)
    assert status == 0, f"executor exit status {status}"


def test_independent_calls_in_flight_together(client: OrcClient) -> None:
    # Sent before any answer is read: the answers come back by sequence number.
    sizes = (PAGE, 2 * PAGE, 3 * PAGE)
    reserves = [client.send_reserve(n) for n in sizes]
    process = client.send_open_dylib(None)
    bases = gather(reserves)
    assert len(set(bases)) == 3 and all(b % PAGE == 0 for b in bases)
    handle = process.get()
    assert client.open_dylib(None) == handle  # asked once per session

    names = ["strlen", "malloc"]
    known = client.send_lookup(handle, names)
    absent = client.send_lookup(handle, ["crossjit_no_such_symbol_xyz", "free"],
                                required=False)
    required_absent = client.send_lookup(handle, ["crossjit_no_such_symbol_xyz"])
    assert known.get() == client.lookup(handle, names)
    got = absent.get()
    assert got[0] is None and got[1] is not None
    with pytest.raises(RemoteError, match="crossjit_no_such_symbol_xyz"):
        required_absent.get()

    # Two finalizes in flight, then the code of each runs.
    done = gather([client.send_finalize([SegmentRequest(bases[0], PAGE, RX, FORTY_TWO)]),
                   client.send_finalize([SegmentRequest(bases[1], PAGE, RX, code.SEVEN)])])
    assert client.run_as_main(bases[0], [], timeout=20) == 42
    assert client.run_as_main(bases[1], [], timeout=20) == 7
    client.deallocate(done)


def test_a_failed_call_in_a_batch_leaves_the_others_answered(client: OrcClient) -> None:
    handle = client.open_dylib(None)
    bad = client.send_open_dylib("/nonexistent/libcrossjit-nothing.so")
    good = client.send_lookup(handle, ["strlen"])
    with pytest.raises(RemoteError):
        gather([bad, good])  # both waited for, the first error raised
    assert good.get()[0] is not None
    assert client.reserve(PAGE) % PAGE == 0  # the session goes on


C_PROGRAM = """
#include <stdio.h>
#include <stdlib.h>
static void bye(void) { printf("bye %d\\n", 7); }
int main(int argc, char **argv) {
    (void)argv;
    atexit(bye);
    if (argc > 2) exit(argc + 10);
    return argc;
}
"""


def test_resident_loads_with_the_first_program_only(tmp_path: Path,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    """Two programs in one session: the resident runtime (runtime/resident.c) comes with
    the first, in the same batches, and serves the second; atexit/exit() work in both."""
    require_tool("clang-16")
    from crossjit.compile import build
    from crossjit.project.plan import ExecutorChoice, RunPlan
    from crossjit.run import loader, session

    src = tmp_path / "prog.c"
    src.write_text(C_PROGRAM)
    with OrcClient.spawn(executor("llvm16"), timeout=30) as client:
        plan = RunPlan(name="prog", inputs=(src,),
                       build=build.BuildOptions(target=client.info.triple),
                       executor=ExecutorChoice(spec=None), dlopen=(), args=())
        first = session.execute(client, plan, None, None)
        resident = dict(loader._RESIDENT[client])
        again = session.execute(client, records.replace(plan, args=("a", "b")), None, None)
        assert loader._RESIDENT[client] == resident  # not loaded again
    assert (first, again) == (1, 13)
    assert capfd.readouterr().out == "bye 7\nbye 7\n"

"""The rewrite that makes a --batch file behave as gdb -x / lldb -s (crossjit/debug/batch.py).

Pure text in, text out; the integration tests (test_debug_local.py, test_debug_container.py)
run the results in the real debuggers."""

from __future__ import annotations

import pytest

from crossjit.debug.batch import prepare
from crossjit.errors import UsageError

MARK = "shell touch /tmp/m"
LMARK = "platform shell touch /tmp/m"


def test_gdb_seed_marker_before_the_first_continue() -> None:
    seed = "break sub1\ncontinue\nprint x\nset var x = 42\ncontinue\n"
    assert prepare("gdb", seed, MARK) == (
        f"break sub1\n{MARK}\ncontinue\nprint x\nset var x = 42\ncontinue\n")


def test_lldb_seed_marker_before_the_first_c() -> None:
    seed = "b sub1\nc\np x\nexpr x = 42\nc\n"
    assert prepare("lldb", seed, LMARK) == f"b sub1\n{LMARK}\nc\np x\nexpr x = 42\nc\n"


@pytest.mark.parametrize("word", ["run", "r"])
def test_gdb_run_becomes_continue(word: str) -> None:
    assert prepare("gdb", f"break sub1\n{word}\nprint x\n", MARK) == (
        f"break sub1\n{MARK}\ncontinue\nprint x\n")


@pytest.mark.parametrize("line", ["run", "r", "process launch", "process launch -X true --",
                                  "pro la"])
def test_lldb_run_becomes_process_continue(line: str) -> None:
    assert prepare("lldb", f"b sub1\n{line}\np x\n", LMARK) == (
        f"b sub1\n{LMARK}\nprocess continue\np x\n")


@pytest.mark.parametrize("line", ["c", "cont", "continue", "fg", "continue 2"])
def test_gdb_continue_spellings(line: str) -> None:
    assert prepare("gdb", f"{line}\nbt\n", MARK) == f"{MARK}\n{line}\nbt\n"


@pytest.mark.parametrize("line", ["c", "continue", "process continue", "proc cont",
                                  "thread continue"])
def test_lldb_continue_spellings(line: str) -> None:
    assert prepare("lldb", f"{line}\nbt\n", LMARK) == f"{LMARK}\n{line}\nbt\n"


def test_gdb_start_is_a_temporary_breakpoint_on_main() -> None:
    assert prepare("gdb", "start\nnext\n", MARK) == f"tbreak main\n{MARK}\ncontinue\nnext\n"


def test_no_resume_command_runs_the_program_at_the_end() -> None:
    assert prepare("gdb", "info breakpoints\n", MARK) == f"info breakpoints\n{MARK}\ncontinue\n"
    assert prepare("gdb", "", MARK) == f"{MARK}\ncontinue\n"
    assert prepare("lldb", "", LMARK) == f"{LMARK}\nprocess continue\n"


def test_gdb_blocks_are_not_top_level() -> None:
    text = ("break sub1\ncommands\n  silent\n  print x\n  if x == 1\n    continue\n  end\n"
            "  continue\nend\ndefine go\n  run\nend\npython\nif True:\n    pass\nend\n"
            "# continue\nrun\nprint x\n")
    out = prepare("gdb", text, MARK).splitlines()
    assert out.count(MARK) == 1
    assert out[out.index(MARK) + 1] == "continue"
    assert out[out.index(MARK) - 1] == "# continue"  # a comment is no command
    assert out[-1] == "print x"


def test_lldb_breakpoint_command_block_is_not_top_level() -> None:
    text = ("b sub1\nbreakpoint command add 1\np x\ncontinue\nDONE\n"
            "breakpoint command add -o 'p x' 1\nc\n")
    out = prepare("lldb", text, LMARK).splitlines()
    assert out.index(LMARK) == 6 and out[7] == "c"


def test_run_with_arguments_is_refused() -> None:
    with pytest.raises(UsageError) as e:
        prepare("gdb", "break sub1\nrun a b\n", MARK, "cmds.gdb")
    assert "cmds.gdb, line 2" in e.value.render() and "after `--`" in e.value.render()
    with pytest.raises(UsageError):
        prepare("lldb", "process launch -- a\n", LMARK)


def test_a_second_run_is_refused() -> None:
    with pytest.raises(UsageError) as e:
        prepare("gdb", "break sub1\nrun\ncontinue\nrun\n", MARK, "f")
    assert "f, line 4" in e.value.render() and "second time" in e.value.render()
    with pytest.raises(UsageError):
        prepare("lldb", "c\nr\n", LMARK)

"""A ``--batch`` file made to behave as ``gdb -x FILE`` / ``lldb -s FILE`` would.

Natively the file runs from its first line: breakpoints are set (pending), then ``run``
starts the program and each ``continue`` lets it go on to the next stop. Under
``crossjit debug`` the debugger attaches to an executor that holds no code yet, and
crossjit may only build and load the program once the debugger has let the executor go
(else the code's registration could be missed). So the file is rewritten, not run at
the first stop:

- everything before the file's first top-level resume command (``run``, ``r``,
  ``continue``, ``c``, ... and lldb's ``process continue`` / ``process launch``) runs
  at attach time: its breakpoints stay pending until the JIT'd code registers;
- that resume command becomes: touch the *ready* marker, then ``continue`` (the
  program "runs" when the executor is let go: it is already running, so ``run`` maps
  to ``continue``; ``run ARGS`` is refused, the program's arguments go after ``--``);
- a later ``run``/``start`` would restart the executor: refused before anything runs;
- a file without any resume command gets one at its end (the program runs to its end
  under the debugger after the file's commands).

Resume commands inside blocks (gdb ``commands``/``define``/``if``/``while``/``python``
... ``end``; lldb ``breakpoint command add`` ... ``DONE``) are not top-level and are left
alone.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from crossjit.errors import UsageError


def _is_prefix(word: str, full: str, shortest: int) -> bool:
    """gdb and lldb accept unique prefixes of command names."""
    return len(word) >= shortest and full.startswith(word)


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=False, posix=True)
    except ValueError:  # an unbalanced quote: the debugger will complain itself
        return line.split()


# --- gdb -----------------------------------------------------------------------------

# Python and Guile blocks hold foreign code: nothing inside them opens a nested block.
_GDB_FOREIGN = ("python", "py", "python-interactive", "pi", "guile", "gu")


def _gdb_kind(words: list[str]) -> str | None:
    """'block', 'foreign' (a block of foreign code), 'run', 'start', 'continue' or None."""
    if not words:
        return None
    w = words[0]
    if w in ("if", "while", "define", "document", "actions", "ws", "stepping",
             "while-stepping") or _is_prefix(w, "commands", 4):
        return "block"
    if w in _GDB_FOREIGN or (w == "compile" and words[1:2] in ([], ["code"])):
        # `python CODE` on one line is no block; bare `python` starts one
        return "foreign" if len(words) == 1 or words[1:] == ["code"] else None
    if w in ("r", "ru", "run"):
        return "run"
    if w in ("start", "starti"):
        return "start"
    if w in ("c", "fg") or _is_prefix(w, "continue", 4):
        return "continue"
    return None


def _gdb_scan(lines: Sequence[str]) -> list[tuple[int, str, list[str]]]:
    """(index, kind, words) of every top-level resume command."""
    found: list[tuple[int, str, list[str]]] = []
    depth = 0
    foreign = False
    for i, raw in enumerate(lines):
        words = [] if raw.lstrip().startswith("#") and not foreign else _words(raw)
        if depth:
            if words[:1] == ["end"]:
                depth -= 1
                foreign = foreign and depth > 0
            elif not foreign:
                kind = _gdb_kind(words)
                if kind in ("block", "foreign"):
                    depth += 1
                    foreign = kind == "foreign"
            continue
        kind = _gdb_kind(words)
        if kind in ("block", "foreign"):
            depth, foreign = 1, kind == "foreign"
        elif kind is not None:
            found.append((i, kind, words))
    return found


# --- lldb ----------------------------------------------------------------------------

def _lldb_block(words: list[str]) -> bool:
    """`breakpoint command add` & co. without a one-liner read lines up to DONE."""
    inline = {"-o", "--one-liner", "-F", "--python-function", "-P", "--python-class",
              "-s", "--script-type"}
    if any(w in inline or w.startswith(("--one-liner=", "--python")) for w in words):
        return False
    if len(words) >= 3 and (_is_prefix(words[0], "breakpoint", 2)
                            or _is_prefix(words[0], "watchpoint", 2)) \
            and _is_prefix(words[1], "command", 3) and _is_prefix(words[2], "add", 1):
        return True
    return len(words) >= 3 and _is_prefix(words[0], "target", 3) \
        and _is_prefix(words[1], "stop-hook", 2) and _is_prefix(words[2], "add", 1)


def _lldb_kind(words: list[str]) -> str | None:
    if not words:
        return None
    w = words[0]
    if w in ("r", "run"):
        return "run"
    if w == "c" or _is_prefix(w, "continue", 4):
        return "continue"
    if _is_prefix(w, "process", 3) and len(words) > 1:
        if _is_prefix(words[1], "continue", 4):
            return "continue"
        if _is_prefix(words[1], "launch", 2):
            return "run"
    if _is_prefix(w, "thread", 2) and len(words) > 1 and _is_prefix(words[1], "continue", 4):
        return "continue"
    return None


def _lldb_scan(lines: Sequence[str]) -> list[tuple[int, str, list[str]]]:
    found: list[tuple[int, str, list[str]]] = []
    in_block = False
    for i, raw in enumerate(lines):
        words = _words(raw)
        if in_block:
            in_block = raw.strip() != "DONE"
            continue
        if words[:1] and words[0].startswith("#"):
            continue
        if _lldb_block(words):
            in_block = True
            continue
        kind = _lldb_kind(words)
        if kind is not None:
            found.append((i, kind, words))
    return found


# --- the rewrite ---------------------------------------------------------------------

def _program_args(kind: str, words: list[str]) -> list[str]:
    """Arguments a `run` gives the program (crossjit's come after `--` instead)."""
    if kind not in ("run", "start"):
        return []
    if words[0] in ("r", "ru", "run", "start", "starti"):
        return words[1:]
    rest = words[2:]  # lldb: process launch [OPTIONS] [-- ARGS]
    return rest[rest.index("--") + 1:] if "--" in rest else []


def prepare(debugger: str, text: str, marker_command: str, name: str = "the batch file"
            ) -> str:
    """The file's commands with the ready marker before its first resume command.

    ``marker_command`` is the debugger command that creates the marker (it must run
    while the executor is still stopped, right before it is let go)."""
    lines = text.splitlines()
    scan = _gdb_scan(lines) if debugger == "gdb" else _lldb_scan(lines)
    resume_cmd = "continue" if debugger == "gdb" else "process continue"
    if not scan:
        return "\n".join([*lines, marker_command, resume_cmd]) + "\n"
    first, kind, words = scan[0]
    args = _program_args(kind, words)
    if args:
        raise UsageError(
            f"{name}, line {first + 1}: `{lines[first].strip()}` passes arguments to the "
            "program",
            why="under crossjit debug the program's arguments are crossjit's",
            hint="put them after `--` on crossjit's command line and use a plain `run` "
            "(or `continue`)",
        )
    for i, later, _ in scan[1:]:
        if later in ("run", "start"):
            raise UsageError(
                f"{name}, line {i + 1}: `{lines[i].strip()}` would run the program a second "
                "time",
                why="crossjit debug loads and runs the program once per session (a second "
                "run would restart the executor)",
                hint="end the file with `continue`; run crossjit debug again for another run",
            )
    if kind == "continue":
        replaced = [marker_command, lines[first]]
    else:  # run/start: the executor is already running, the program starts when let go
        tbreak = ["tbreak main"] if kind == "start" else []
        replaced = [*tbreak, marker_command, resume_cmd]
    return "\n".join([*lines[:first], *replaced, *lines[first + 1:]]) + "\n"

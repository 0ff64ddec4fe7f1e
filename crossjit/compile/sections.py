"""Per-function (and per-variable) sections in printed LLVM IR (pure text; no llvmlite).

llvmlite has no function-sections option and no section setter, so ``--live`` adds
``section ".text.<name>"`` to each ``define`` of the printed module before it is parsed
again. With one function per section, every reference to a function — a call to a
``static`` helper too, which the assembler would otherwise resolve inside ``.text`` —
carries a relocation the JIT linker can send through the function's live stub.

Writable variables get a section each too (``.data.<name>`` / ``.bss.<name>``): a
reference to a ``static`` variable then arrives as "section + addend" with one variable in
that section, so a reload can bind it to the storage in use whatever the addend (an x86-64
``movl $1, n(%rip)`` has an addend that points 8 bytes before ``n``, not 4).

Skipped: functions and variables that already have a section (the user's choice) or a COMDAT (their
group's section name is the group's business), and names that need quoting.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"@([-a-zA-Z$._][-a-zA-Z$._0-9]*)\(")
# What may follow the function attributes on a define line, in LLVM's grammar order
# after `section`: the section attribute goes before the first of these.
_AFTER_SECTION = re.compile(
    r" (?:partition |comdat|align |gc |prefix |prologue |personality |!|\{)")


def _close_paren(line: str, start: int) -> int:
    """Index just after the parenthesis matching the one at ``start``; -1 if none."""
    depth = 0
    in_str = False
    for i in range(start, len(line)):
        ch = line[i]
        if in_str:
            if ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


def add_function_sections(ir: str) -> tuple[str, int]:
    """``ir`` with a ``section ".text.<fn>"`` on every eligible define and a data section
    on every eligible writable variable; and how many were added."""
    out: list[str] = []
    count = 0
    for line in ir.splitlines(keepends=True):
        new = None
        if line.startswith("define ") and line.rstrip().endswith("{"):
            new = _with_section(line)
        elif line.startswith("@"):
            new = _variable_with_section(line)
        if new is not None:
            line = new
            count += 1
        out.append(line)
    return "".join(out), count


_GLOBAL = re.compile(r"@([-a-zA-Z$._][-a-zA-Z$._0-9]*) = ([a-z_ ()0-9]*?)global ")
# Linkages whose variables have no storage of their own here, or whose section is not ours.
_SKIP_LINKAGE = ("external", "extern_weak", "common", "appending", "available_externally",
                 "thread_local")
_ZERO_INIT = re.compile(r" (?:zeroinitializer|null|0|false)$")


def _variable_with_section(line: str) -> str | None:
    m = _GLOBAL.match(line)
    if m is None or m.group(1).startswith("llvm.") or any(
            k in m.group(2) for k in _SKIP_LINKAGE):
        return None
    body = line.rstrip("\n")
    comma = _top_level_comma(body, m.end())
    head, tail = (body, "") if comma < 0 else (body[:comma], body[comma:])
    if tail.startswith((", section ", ", comdat", ", partition ")) or " comdat" in tail:
        return None
    kind = "bss" if _ZERO_INIT.search(head.rstrip()) else "data"
    return f'{head}, section ".{kind}.{m.group(1)}"{tail}' + line[len(body):]


def _top_level_comma(text: str, start: int) -> int:
    """Index of the first ``,`` outside brackets and strings from ``start``; -1 if none."""
    depth = 0
    in_str = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_str:
            if ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        elif ch == "," and depth == 0:
            return i
    return -1


def _with_section(line: str) -> str | None:
    m = _NAME.search(line)
    if m is None:
        return None
    end = _close_paren(line, m.end() - 1)
    if end < 0:
        return None
    tail = line[end:]
    if " section " in tail or " comdat" in tail:
        return None
    cut = _AFTER_SECTION.search(tail)
    if cut is None:
        return None
    pos = end + cut.start()
    return f'{line[:pos]} section ".text.{m.group(1)}"{line[pos:]}'

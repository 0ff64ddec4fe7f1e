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

Reloading a unit replaces all of it, but a loop that is running (``main``) keeps its old
code: what it inlined or what interprocedural passes derived from a same-unit callee
(a constant return value, a dropped argument, ``fastcc``) would never see the edit. So
each define is also marked ``noinline`` (unless ``alwaysinline``) and every function and
sectioned variable is listed in ``@llvm.compiler.used``: to the optimiser their uses are
unknown, as they are — the next version of the unit will use them.

Without the inliner, an ``available_externally`` body (C++ extern templates: the library
is assumed to have a copy) would become a call to a symbol the library may not export;
such defines become ``linkonce_odr`` — a local weak copy of the same code.

Skipped: functions and variables that already have a section (the user's choice) or a COMDAT (their
group's section name is the group's business), and names that need quoting.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# Part of the object cache key of live objects: bump it when the rewriting changes.
REVISION = "3"
# A local symbol every rewritten module defines: the JIT linker's sign that the object
# was built for live reload (link/live.py); objects without it are linked directly.
LIVE_UNIT_SYMBOL = "__crossjit_live_unit"

_NAME = re.compile(r"@([-a-zA-Z$._][-a-zA-Z$._0-9]*)\(")
# What may follow the function attributes on a define line, in LLVM's grammar order
# after `section`: the section attribute goes before the first of these.
_AFTER_SECTION = re.compile(
    r" (?:partition |comdat|align |gc |prefix |prologue |personality |!|\{)")


def _outside_strings(text: str, start: int) -> Iterator[tuple[int, str]]:
    """Each (index, character) from ``start`` outside the IR's "..." strings (quotes
    excluded; IR escapes a quote inside a string as \\22, so none ends one early)."""
    in_str = False
    for i in range(start, len(text)):
        ch = text[i]
        if ch == '"':
            in_str = not in_str
        elif not in_str:
            yield i, ch


def _close_paren(line: str, start: int) -> int:
    """Index just after the parenthesis matching the one at ``start``; -1 if none."""
    depth = 0
    for i, ch in _outside_strings(line, start):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


_ATTR_GROUP = re.compile(r"attributes #(\d+) = \{(.*)\}")
_USED = re.compile(r"@llvm\.compiler\.used = appending global \[(\d+) x ptr\] \[(.*?)\]"
                   r"(, section \"llvm\.metadata\")?")


def add_function_sections(ir: str) -> tuple[str, int]:
    """``ir`` with a ``section ".text.<fn>"`` (and ``noinline``) on every eligible define
    and a data section on every eligible writable variable, all of them listed in
    ``@llvm.compiler.used``; and how many were sectioned."""
    always = {m.group(1) for m in _ATTR_GROUP.finditer(ir) if "alwaysinline" in m.group(2)}
    out: list[str] = []
    used: list[str] = []
    used_at = -1
    old_used: list[str] = []
    for line in ir.splitlines(keepends=True):
        new = None
        if line.startswith("define ") and line.rstrip().endswith("{"):
            if line.startswith("define available_externally "):
                line = "define linkonce_odr " + line[len("define available_externally "):]
            new = _with_section(line, always)
        elif line.startswith("@llvm.compiler.used = "):
            m = _USED.match(line)
            if m is None:
                return ir, 0  # a form we do not know: leave the module alone
            old_used = [x.strip() for x in m.group(2).split(",") if x.strip()]
            used_at = len(out)
            out.append("")
            continue
        elif line.startswith("@"):
            new = _variable_with_section(line)
        if new is not None:
            line = new
            mt = _NAME.search(line) if line.startswith("define") else _GLOBAL.match(line)
            if mt is not None:
                used.append(f"ptr @{mt.group(1)}")
        out.append(line)
    if not used:
        return ir, 0
    count = len(used)
    out.append(f"@{LIVE_UNIT_SYMBOL} = internal constant i8 1\n")
    used.append(f"ptr @{LIVE_UNIT_SYMBOL}")
    entries = old_used + [u for u in used if u not in old_used]
    decl = (f"@llvm.compiler.used = appending global [{len(entries)} x ptr] "
            f'[{", ".join(entries)}], section "llvm.metadata"\n')
    if used_at >= 0:
        out[used_at] = decl
    else:
        out.append(decl)
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
    for i, ch in _outside_strings(text, start):
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        elif ch == "," and depth == 0:
            return i
    return -1


def _with_section(line: str, always: set[str] | frozenset[str] = frozenset()) -> str | None:
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
    text = f'{line[:pos]} section ".text.{m.group(1)}"{line[pos:]}'
    group = re.search(r" #(\d+)\b", tail[:cut.start()])
    if "alwaysinline" in tail or (group is not None and group.group(1) in always):
        return text
    at = end + (group.start() if group is not None else cut.start())
    return f"{text[:at]} noinline{text[at:]}"

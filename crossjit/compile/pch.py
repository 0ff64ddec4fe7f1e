"""A precompiled header of a source's leading ``#include`` lines, for `run --watch` (pure).

Mongoose's main.c spends ~7 of its ~20 ms (resident clang) parsing what it includes, and
an edit rarely touches those lines. So watch compiles the *prefix* of a source — its
leading ``#include`` and ``#define`` lines (the comments and blank lines among them
skipped) — once into a PCH (``clang -x c-header``), and later compiles of the source
add ``-include-pch``. The
source's own ``#include`` lines then run a second time, which include guards make a no-op;
a header meant to be included twice (X-macros) would not be, so a PCH is used only once
a compile with it produced *the same bitcode* as the compile without it
(toolchain.py does that check in the background, after an ordinary compile).

This module only finds the prefix and names things; toolchain.py runs clang.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

MAX_PREFIX_LINES = 400


def include_prefix(text: str) -> str | None:
    """The ``#include`` and one-line ``#define`` lines that begin a source (comments and
    blank lines among them skipped), one per line; None when there is no ``#include``."""
    lines: list[str] = []
    in_comment = False
    includes = 0
    for line in text.splitlines(keepends=True)[:MAX_PREFIX_LINES]:
        s = line.strip()
        if in_comment:
            lines.append(line)
            in_comment = "*/" not in s
            continue
        if s.startswith("/*"):
            lines.append(line)
            in_comment = "*/" not in s[2:]
            continue
        if not s or s.startswith("//"):
            lines.append(line)
            continue
        word = s.lstrip("#").strip().split(None, 1)[0] if s.startswith("#") else ""
        if word in ("include", "define") and not s.endswith("\\") and "/*" not in s:
            includes += word == "include"
            lines.append(line)
            continue
        break
    if not includes:
        return None
    # Only the directives: an edit of the comment above them keeps the PCH.
    return "".join(x.strip() + "\n" for x in lines if x.strip().startswith("#"))


def key(identity: str, argv: Sequence[str], source_dir: str, prefix: str) -> str:
    """What a PCH depends on besides the headers it read (those are in its manifest)."""
    return hashlib.sha256(json.dumps([identity, list(argv), source_dir, prefix]).encode()
                          ).hexdigest()

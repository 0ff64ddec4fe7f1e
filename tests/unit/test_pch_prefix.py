"""compile/pch.py: which leading lines of a source a precompiled header may stand for."""

from __future__ import annotations

from crossjit.compile.pch import include_prefix


def test_the_prefix_is_the_leading_includes_with_their_comments() -> None:
    src = ("// a server\n/* more\n   words */\n#include <stdio.h>\n\n#define _X 1\n"
           '#include "mongoose.h"\nstatic int n;\n#include "late.h"\n')
    assert include_prefix(src) == '#include <stdio.h>\n#define _X 1\n#include "mongoose.h"\n'
    # an edit of the comments keeps the prefix (and so the PCH)
    assert include_prefix(src.replace("a server", "the server")) == include_prefix(src)


def test_no_prefix_without_includes_or_after_other_directives() -> None:
    assert include_prefix("int main(void) { return 0; }\n") is None
    assert include_prefix("#define A 1\nint x;\n") is None
    assert include_prefix("#ifdef A\n#include <a.h>\n#endif\n") is None
    # a multi-line #define ends the prefix before it
    assert include_prefix("#include <a.h>\n#define M(x) \\\n  x\n") == "#include <a.h>\n"

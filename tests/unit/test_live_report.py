"""What --live prints: the reload line and the refusal paragraph (pure code)."""

from __future__ import annotations

from pathlib import Path

from crossjit.link.live import LiveRefusal
from crossjit.run.live import Reload, refusal_paragraph


def test_reload_line() -> None:
    r = Reload(("/src/main.c",), 2, 0, 3, 1, 12288, 800, 4.2)
    assert r.line() == "reloaded main.c: 2 functions, 3 variables kept, 1 new variable, 4 ms"
    assert r.line(43.4) == "reloaded main.c: 2 functions, 3 variables kept, 1 new variable, 43 ms"
    one = Reload(("a.c", "b/c.c"), 1, 2, 1, 0, 0, 0, 1.0, deferred=True)
    assert one.line() == ("reloaded a.c, c.c: 1 function, 2 new functions, 1 variable kept, "
                          "1 ms; applied at the next crossjit_reload_point()")


def test_refusal_paragraph_names_file_line_and_symbol(tmp_path: Path) -> None:
    src = tmp_path / "main.c"
    src.write_text("// s_requests counts requests\n#include <x.h>\n"
                   "static unsigned long s_requests;\nint f(void) { static int n; return n; }\n")
    err = LiveRefusal("kept variable 's_requests' changed size (8 -> 4 bytes)",
                      symbol="s_requests", obj=str(src))
    assert refusal_paragraph(err) == (
        "main.c:3: kept state can't survive this edit: kept variable 's_requests' changed "
        "size (8 -> 4 bytes); restarting (state lost)")  # comments do not count
    static = LiveRefusal("x", symbol="f.n", obj=str(src), why="because")
    assert refusal_paragraph(static).startswith("main.c:4: kept state can't survive this "
                                                "edit: x (because)")
    dwarf = LiveRefusal("y", symbol="f", obj=str(src), line=9)
    assert refusal_paragraph(dwarf).startswith("main.c:9: ")
    general = LiveRefusal("the profile changed")
    assert refusal_paragraph(general) == ("live reload: kept state can't survive this edit: "
                                          "the profile changed; restarting (state lost)")

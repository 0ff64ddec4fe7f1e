"""compile/resident.py: `run --watch`'s resident clang (a fork server preloaded into one
clang process) compiles exactly what an exec'd clang does, diagnostics included.

Real clang-16, C and C++; each compile is checked to have been forked from the server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from crossjit.compile import toolchain
from crossjit.errors import CompileError
from crossjit.project.plan import host_triple
from tests.prereq import require_tool

pytestmark = pytest.mark.integration

C_SRC = '#include <stdio.h>\nint main(void) { printf("hi\\n"); return 3; }\n'
CXX_SRC = "#include <vector>\nint main() { std::vector<int> v{1, 2}; return v.size(); }\n"


@pytest.fixture()
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(toolchain.RESIDENT_ENV, raising=False)
    monkeypatch.delenv(toolchain.LAUNCHER_ENV, raising=False)
    return tmp_path


def _compile(src: Path, tag: str) -> tuple[bytes, tuple[Path, ...]]:
    opts = toolchain.CompileOptions(target=host_triple(), opt_level=1, defines=(f"TAG={tag}",))
    res = toolchain.compile_to_bitcode(src, opts)
    assert not res.cached
    return res.bitcode.read_bytes(), res.headers


def test_resident_clang_compiles_as_exec_does(cache_home: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    monkeypatch.setenv(toolchain.PCH_ENV, "0")  # every compile counted here is the test's
    c, cxx = tmp_path / "m.c", tmp_path / "v.cpp"
    c.write_text(C_SRC)
    cxx.write_text(CXX_SRC)
    execd = {p: _compile(p, "1") for p in (c, cxx)}  # no server yet: clang exec'd
    assert toolchain.start_resident()
    try:
        server = toolchain._RESIDENT[0]
        assert server.served == 1  # its --version probe
        for p in (c, cxx):
            # another define, so the cache misses; the bitcode then differs only by it
            forked = _compile(p, "1 ")
            assert forked[1] == execd[p][1]  # the same headers read (depfile)
        assert server.served == 3
        bad = tmp_path / "bad.c"
        bad.write_text("int main(void) { return missing_name; }\n")
        with pytest.raises(CompileError) as err:
            _compile(bad, "1")
        assert "use of undeclared identifier 'missing_name'" in (err.value.why or "")
        assert "bad.c:1:" in (err.value.why or "")
        assert server.served == 4
    finally:
        toolchain.stop_resident()
    assert not toolchain._RESIDENT


def test_resident_clang_bitcode_is_byte_identical(cache_home: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    monkeypatch.setenv(toolchain.PCH_ENV, "0")
    src = tmp_path / "m.c"
    src.write_text(C_SRC)
    execd, _ = _compile(src, "1")
    for d in (cache_home / "cache").rglob("*.manifest"):
        d.unlink()  # the manifest: the next compile of the same source runs clang again
    assert toolchain.start_resident()
    try:
        forked, _ = _compile(src, "1")
        assert toolchain._RESIDENT[0].served == 2
    finally:
        toolchain.stop_resident()
    assert forked == execd


def test_resident_clang_can_be_turned_off(cache_home: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(toolchain.RESIDENT_ENV, "0")
    assert not toolchain.start_resident()
    assert not toolchain._RESIDENT


def _verified(cache_home: Path, deadline: float = 60.0) -> list[dict[str, object]]:
    """The PCH manifests once the background preparation wrote one."""
    import json
    import time

    end = time.monotonic() + deadline
    while True:
        found = [json.loads(p.read_text()) for p in (cache_home / "cache" / "crossjit" / "pch")
                 .glob("*.json")] if (cache_home / "cache" / "crossjit" / "pch").is_dir() else []
        if found or time.monotonic() > end:
            return found
        time.sleep(0.02)


PCH_SRC = '#include <stdio.h>\n#include "msg.h"\nint main(void) { puts(MSG); return TAGV; }\n'


def test_a_verified_pch_is_used_and_gives_the_same_bitcode(cache_home: Path,
                                                           tmp_path: Path) -> None:
    """After an ordinary compile the prefix's PCH is built and checked in the background;
    the next compile of the edited source uses it (one forked compile), its bitcode is
    byte-identical to an exec'd compile, msg.h is still a header of it, and an edit of
    msg.h is compiled without the stale PCH."""
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    src, msg = tmp_path / "m.c", tmp_path / "msg.h"
    msg.write_text('#define MSG "one"\n')
    src.write_text(PCH_SRC.replace("TAGV", "1"))
    assert toolchain.start_resident()
    try:
        server = toolchain._RESIDENT[0]
        _compile(src, "1")  # ordinary; the PCH is prepared after it
        (meta,) = _verified(cache_home)
        assert meta["verified"] is True and str(msg) in meta["headers"], meta  # type: ignore[operator]
        src.write_text(PCH_SRC.replace("TAGV", "2"))  # an edit below the includes
        served = server.served
        with_pch, headers = _compile(src, "1")
        assert server.served == served + 1  # one compile: the PCH worked first time
        assert msg in headers and all("pch" not in p.parts for p in headers)
        msg.write_text('#define MSG "two"\n')  # the PCH is stale now
        src.write_text(PCH_SRC.replace("TAGV", "3"))
        stale_free, _ = _compile(src, "1")
    finally:
        toolchain.stop_resident()
    src.write_text(PCH_SRC.replace("TAGV", "2"))
    msg.write_text('#define MSG "one"\n')
    for d in (cache_home / "cache").rglob("bitcode/*.manifest"):
        d.unlink()
    assert _compile(src, "1")[0] == with_pch  # exec'd, no PCH: the same bitcode
    msg.write_text('#define MSG "two"\n')
    src.write_text(PCH_SRC.replace("TAGV", "3"))
    assert _compile(src, "1")[0] == stale_free


def test_a_pch_that_changes_the_meaning_is_not_used(cache_home: Path, tmp_path: Path) -> None:
    """A header meant to be read more than once (no include guard, as X-macro headers):
    with a PCH of the prefix it is read twice and the bitcode differs — so the PCH is
    marked unverified and every compile stays an ordinary one."""
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    (tmp_path / "x.h").write_text("#ifdef SEEN\n#define TWICE 1\n#endif\n#define SEEN 1\n")
    src = tmp_path / "t.c"
    body = "#ifdef TWICE\nreturn 2;\n#else\nreturn 1;\n#endif\n"
    src.write_text('#include "x.h"\nint f(void) {\n' + body + "}\n")
    assert toolchain.start_resident()
    try:
        server = toolchain._RESIDENT[0]
        _compile(src, "1")
        (meta,) = _verified(cache_home)
        assert meta["verified"] is False, meta
        src.write_text('#include "x.h"\nint f(void) {\n' + body + "}\nint g;\n")
        served = server.served
        got, _ = _compile(src, "1")
        assert server.served == served + 1  # ordinary, no -include-pch attempt
    finally:
        toolchain.stop_resident()
    for d in (cache_home / "cache").rglob("bitcode/*.manifest"):
        d.unlink()
    assert _compile(src, "1")[0] == got

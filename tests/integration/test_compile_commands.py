"""`crossjit build PROFILE --compile-commands`: clangd sees the target's headers.

Debian's clangd-16 checks two sources of a musl profile: one includes a header that only
the profile's include directory has, the other refuses to compile against glibc's headers
(`__GLIBC__`, which the host's <stdio.h> defines and musl's does not) and needs a define
from the profile. With the written compile_commands.json clangd reports 0 errors; with an
empty database directory (clangd's fallback: the host's compiler defaults) it reports the
missing header and the glibc guard — so the entries are what makes the difference.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration import containers_env as env
from tests.prereq import require_tool

pytestmark = pytest.mark.integration

GUARDED = """\
#include <stdio.h>
#ifdef __GLIBC__
#error "glibc's headers, not the target's"
#endif
#ifndef FROM_PROFILE
#error "the profile's define is missing"
#endif
int main(void) { printf("%d\\n", FROM_PROFILE); return 0; }
"""
PROJECT_HEADER = "#include <only_in_profile_include.h>\nint twice(int v) { return TWICE(v); }\n"
PROFILE = """\
name: cc-clangd
target:
  triple: x86_64-linux-musl
sysroot: debian-musl
executor: local
sources: [src/main.c, src/twice.c]
include: inc
defines: [FROM_PROFILE=7]
opt: 1
debug: true
"""


def crossjit(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crossjit", *args], cwd=cwd,
                          env=dict(os.environ, PYTHONPATH=str(env.REPO)), capture_output=True,
                          text=True, timeout=600, check=False)


def clangd_check(source: Path, db_dir: Path) -> subprocess.CompletedProcess[str]:
    clangd = require_tool("clangd-16", "clangd-16 (apt-get install clangd-16)")
    return subprocess.run([clangd, f"--check={source}", f"--compile-commands-dir={db_dir}"],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    env.musl_sysroot()
    (tmp_path / "src").mkdir()
    (tmp_path / "inc").mkdir()
    (tmp_path / "src/main.c").write_text(GUARDED)
    (tmp_path / "src/twice.c").write_text(PROJECT_HEADER)
    (tmp_path / "inc/only_in_profile_include.h").write_text("#define TWICE(v) ((v) * 2)\n")
    (tmp_path / "crossjit.yaml").write_text(PROFILE)
    return tmp_path


def test_clangd_sees_the_targets_headers(project: Path) -> None:
    done = crossjit(project, "build", "crossjit.yaml", "--compile-commands")
    assert done.returncode == 0, done.stderr
    db = project / "compile_commands.json"  # default: next to the profile
    assert f"wrote {db} (2 entries)" in done.stderr, done.stderr
    entries = json.loads(db.read_text())
    assert [e["file"] for e in entries] == [str(project / "src/main.c"),
                                           str(project / "src/twice.c")]
    args = entries[0]["arguments"]
    assert entries[0]["directory"] == str(project)
    assert "--target=x86_64-linux-musl" in args and "-O1" in args and "-g" in args, args
    assert any(a.startswith("--sysroot=") and a.endswith("debian-musl") for a in args), args
    assert f"-I{project / 'inc'}" in args and "-DFROM_PROFILE=7" in args, args

    for name in ("main.c", "twice.c"):
        ok = clangd_check(project / "src" / name, project)
        assert "Loaded compilation database from" in ok.stderr, ok.stderr
        assert "All checks completed, 0 errors" in ok.stderr, ok.stderr
        assert ok.returncode == 0, ok.stderr

    # The same checks without the database: clangd falls back to the host's defaults.
    empty = project / "no-db"
    empty.mkdir()
    header = clangd_check(project / "src/twice.c", empty)
    assert "'only_in_profile_include.h' file not found" in header.stderr, header.stderr
    glibc = clangd_check(project / "src/main.c", empty)
    assert "glibc's headers, not the target's" in glibc.stderr, glibc.stderr
    assert "the profile's define is missing" in glibc.stderr, glibc.stderr
    assert header.returncode != 0 and glibc.returncode != 0


def test_a_path_and_a_compile_error(project: Path) -> None:
    """PATH may be a directory or a .json file; the database is written before the build,
    so the editor has it while a source does not compile yet (the build still fails)."""
    (project / "src/twice.c").write_text("int twice(int v) { return v * ; }\n")
    out = project / "out"
    out.mkdir()
    done = crossjit(project, "build", "crossjit.yaml", "--compile-commands", str(out))
    assert done.returncode == 125, done.stderr
    assert "error: compiling" in done.stderr and "twice.c" in done.stderr, done.stderr
    assert len(json.loads((out / "compile_commands.json").read_text())) == 2
    done = crossjit(project, "build", "crossjit.yaml", f"--compile-commands={out}/cc.json")
    assert (out / "cc.json").is_file(), done.stderr
    bad = crossjit(project, "build", "crossjit.yaml", "--compile-commands", "nowhere/x.json")
    assert bad.returncode == 125 and "nowhere is not a directory" in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr

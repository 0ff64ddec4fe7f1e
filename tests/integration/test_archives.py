"""Static archives as inputs (issue 14, item 5): members are pulled in only when they
define a symbol still undefined, iterated to a fixed point, as ld does. The archive's
unused member would fail the link if pulled in (an unresolved symbol and a duplicate
definition), and a member that is not even an object is never read.

Compared with the native link of the same archive (clang-16 + ld), on LLVM 16's executor
and crossjit-executor; with and without the archive's symbol index.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.corpus import REPO, Run, crossjit_run, status_of
from tests.integration.test_executor_support import executor
from tests.prereq import llvm_executor, require_tool

pytestmark = pytest.mark.integration

SRC = REPO / "tests" / "corpus" / "archive"
MEMBERS = ("used", "helper_with_a_rather_long_member_name", "unused")


def make_archive(tmp: Path, index: bool) -> Path:
    cc, ar = require_tool("clang-16"), require_tool("ar", "ar (apt-get install binutils)")
    objs = []
    for m in MEMBERS:
        obj = tmp / f"{m}.o"
        subprocess.run([cc, "-c", "-fPIC", "-o", str(obj), str(SRC / f"{m}.c")], check=True,
                       timeout=120)
        objs.append(str(obj))
    lib = tmp / ("libstuff.a" if index else "libnoindex.a")
    lib.unlink(missing_ok=True)
    subprocess.run([ar, "rcs" if index else "rcS", str(lib), *objs, str(SRC / "NOTES.txt")],
                   check=True, timeout=60)
    return lib


def native(tmp: Path, lib: Path) -> Run:
    exe = tmp / "main"
    subprocess.run([require_tool("clang-16"), "-o", str(exe), str(SRC / "main.c"), str(lib)],
                   check=True, timeout=120)
    p = subprocess.run([str(exe)], capture_output=True, timeout=60, check=False)
    return Run(status_of(p.returncode), p.stdout, p.stderr)


@pytest.mark.parametrize("index", [True, False], ids=["index", "noindex"])
@pytest.mark.parametrize("where", ["llvm16", "glibc"])
def test_archive_members_pulled_like_ld(where: str, index: bool, tmp_path: Path) -> None:
    lib = make_archive(tmp_path, index)
    expected = native(tmp_path, make_archive(tmp_path, True))
    spec = f"spawn:{llvm_executor(16)}" if where == "llvm16" else f"spawn:{executor(where)}"
    got = crossjit_run([sys.executable, "-m", "crossjit", "jit", "-v", "--executor", spec,
                        str(SRC / "main.c"), str(lib)])
    err = got.stderr.decode(errors="replace")
    assert (got.status, got.stdout) == (expected.status, expected.stdout), err
    assert b"used_function(20) = 41" in got.stdout


def test_a_needed_member_that_cannot_link_is_an_error(tmp_path: Path) -> None:
    """The same archive, but the program needs the bad member: ld's errors, crossjit's 125."""
    lib = make_archive(tmp_path, True)
    prog = tmp_path / "needs_unused.c"
    prog.write_text("int unused_function(void);\nint main(void) { return unused_function(); }\n")
    got = crossjit_run([sys.executable, "-m", "crossjit", "jit", "--executor",
                        f"spawn:{llvm_executor(16)}", str(prog), str(lib)])
    err = got.stderr.decode(errors="replace")
    assert got.status == 125, err
    assert "symbol_nobody_defines" in err and "libstuff.a(unused.o)" in err, err


# --- -l NAME / -L DIR, on the command line and in profiles ---------------------------------


def test_l_and_L_on_the_command_line(tmp_path: Path) -> None:
    """-lstuff finds libstuff.a in -L (linked in), -lm this host's libm (dlopened by
    SONAME through its linker script), like `cc main.c -L. -lstuff -lm`."""
    lib = make_archive(tmp_path, True)
    prog = tmp_path / "with_libm.c"
    prog.write_text('#include <math.h>\n#include <stdio.h>\nint used_function(int);\n'
                    'int main(void) { printf("%d %.3f\\n", used_function(3), sqrt(2.0));'
                    ' return 0; }\n')
    exe = tmp_path / "with_libm"
    subprocess.run([require_tool("clang-16"), "-o", str(exe), str(prog), "-L", str(tmp_path),
                    "-lstuff", "-lm"], check=True, timeout=120)
    expected = subprocess.run([str(exe)], capture_output=True, timeout=60, check=True)
    got = crossjit_run([sys.executable, "-m", "crossjit", "jit", "--executor",
                        f"spawn:{llvm_executor(16)}", str(prog), f"-L{lib.parent}", "-lstuff",
                        "-l", "m"])
    assert (got.status, got.stdout) == (0, expected.stdout), got.stderr.decode()


def test_missing_library_is_a_clear_error(tmp_path: Path) -> None:
    got = crossjit_run([sys.executable, "-m", "crossjit", "jit", "--executor",
                        f"spawn:{llvm_executor(16)}", str(SRC / "main.c"), "-L", str(tmp_path),
                        "-lnot_a_library"])
    err = got.stderr.decode()
    assert got.status == 125, err
    assert err.startswith("error: cannot find -lnot_a_library\n"), err
    assert str(tmp_path) in err and "Traceback" not in err


def test_profile_libs_and_lib_dirs(tmp_path: Path) -> None:
    """libs:/lib_dirs: in a profile (local executor): the archive is linked like -l."""
    lib = make_archive(tmp_path, True)
    expected = native(tmp_path, lib)
    prof = tmp_path / "libs-local.yaml"
    prof.write_text(f"name: libs-local\ntarget:\n  triple: x86_64-linux-gnu\nexecutor: local\n"
                    f"sources: [{SRC / 'main.c'}]\nlibs: [stuff]\nlib_dirs: [.]\n")
    got = crossjit_run([sys.executable, "-m", "crossjit", "run", str(prof)])
    assert (got.status, got.stdout) == (expected.status, expected.stdout), got.stderr.decode()


def test_profile_libs_shared_from_the_sysroot_in_a_container(tmp_path: Path) -> None:
    """libs: [z] with the musl sysroot: libz.so resolves to its SONAME, the musl image
    carries it and the executor dlopens it, as `dlopen: [libz.so]` does."""
    from tests.integration import containers_env as env

    env.require_musl_executor_binary()
    env.musl_sysroot()
    src = REPO / "examples" / "zlib" / "crc.c"
    exe = tmp_path / "crc"
    subprocess.run([require_tool("clang-16"), str(src), "-o", str(exe), "-lz"], check=True,
                   timeout=120)
    out = subprocess.run([str(exe), "crossjit"], capture_output=True, text=True, timeout=60)
    prof = tmp_path / "libs-zlib.yaml"
    prof.write_text("name: libs-zlib\ntarget:\n  triple: x86_64-linux-musl\n"
                    "sysroot:\n  recipe: debian-musl\n  packages: [zlib1g-dev]\n"
                    f"executor: musl\nsources: [{src}]\nlibs: [z]\n")
    done = env.cli("run", str(prof), "--", "crossjit")
    assert done.returncode == out.returncode, done.stderr
    # Same CRC; the zlib version may differ between the host and the musl rebuild.
    assert done.stdout.split(": ")[1] == out.stdout.split(": ")[1], (done.stdout, out.stdout)
    assert env.engine().get("crossjit-libs-zlib") is None  # removed after the run

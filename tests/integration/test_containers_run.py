"""`crossjit run PROFILE`, `crossjit build PROFILE` and `jit --executor docker:VARIANT` on the
real engine: output and status match a native build, dlopen by plain name, incremental
builds from machine-readable output, and the bad-input paths (exit 125)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration import containers_env as env
from tests.integration.corpus import CASES, Case, Run, check, native_run
from tests.prereq import require_tool

pytestmark = pytest.mark.integration

HELLO = env.REPO / "examples" / "hello" / "hello.c"
ARGS = ("alpha", "beta gamma", "")


def native(src: Path, tmp: Path, *args: str, libs: tuple[str, ...] = ()) -> tuple[str, int]:
    exe = tmp / src.stem
    subprocess.run([require_tool("clang-16"), str(src), "-o", str(exe), *libs], check=True)
    p = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60,
                       check=False)
    return p.stdout, p.returncode


@pytest.mark.parametrize("profile", ["hello-musl", "hello-debian"])
def test_run_matches_native(profile: str, tmp_path: Path) -> None:
    env.require_musl_executor_binary()
    env.musl_sysroot() if profile.endswith("musl") else env.glibc_sysroot()
    expected = native(HELLO, tmp_path, *ARGS)
    done = env.cli("run", f"profiles/{profile}.yaml", "--", *ARGS)
    assert (done.stdout, done.returncode) == expected, done.stderr
    # The container this run had to start is gone again.
    assert env.engine().get(f"crossjit-{profile}") is None


def test_run_uses_the_profile_args(tmp_path: Path) -> None:
    env.require_musl_executor_binary()
    env.musl_sysroot()
    expected = native(HELLO, tmp_path, "from", "the", "profile")
    done = env.cli("run", "profiles/hello-musl.yaml")
    assert (done.stdout, done.returncode) == expected, done.stderr


def test_dlopen_by_plain_name(tmp_path: Path) -> None:
    """`dlopen: [libz.so]` resolves by SONAME through the sysroot; JIT'd code calls zlib."""
    env.require_musl_executor_binary()
    env.musl_sysroot()
    src = env.REPO / "examples" / "zlib" / "crc.c"
    out, status = native(src, tmp_path, "crossjit", libs=("-lz",))
    done = env.cli("run", "profiles/zlib-musl.yaml", "--", "crossjit")
    assert done.returncode == status, done.stderr
    # Same CRC; the zlib version may differ between the host and the musl rebuild.
    assert done.stdout.split(": ")[1] == out.split(": ")[1], (done.stdout, out)


QUICK = ("argc_sub1", "data", "qsort_cb", "setjmp_lj", "exit7", "segv", "no_newline")


@pytest.mark.parametrize("case", [c for c in CASES if c.name in QUICK], ids=str)
def test_jit_on_docker_musl(case: Case, musl: str, native_dir: Path) -> None:
    expected = native_run(case, 0, False, native_dir)
    done = subprocess.run(
        [*env.cli_argv(), "jit", "--executor", "docker:musl", *map(str, case.paths()), "--",
         *case.args], capture_output=True, timeout=300, check=False, cwd=env.REPO)
    check(case, Run(done.returncode, done.stdout, done.stderr), expected)


def write_project(root: Path, sources: dict[str, str]) -> Path:
    for name, text in sources.items():
        (root / name).write_text(text)
    profile = root / "proj.yaml"
    profile.write_text("name: proj\ntarget:\n  triple: x86_64-linux-musl\nexecutor: local\n"
                       "sources: ['*.c']\n")
    return profile


def build_json(profile: Path) -> dict[str, list[str]]:
    done = env.cli("build", str(profile), "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, list[str]] = json.loads(done.stdout)
    return result


def test_incremental_builds(tmp_path: Path) -> None:
    profile = write_project(tmp_path, {
        "main.c": "int helper(void); int main(void) { return helper(); }\n",
        "helper.c": '#include "h.h"\nint helper(void) { return VALUE; }\n',
        "other.c": "int other(void) { return 3; }\n",
        "h.h": "#define VALUE 4\n",
    })
    first = build_json(profile)
    assert len(first["inputs"]) == 3 and len(first["compiled"]) == 3
    assert build_json(profile)["compiled"] == []  # no-op build: all from the cache
    (tmp_path / "other.c").write_text("int other(void) { return 5; }\n")
    assert build_json(profile)["compiled"] == [str(tmp_path / "other.c")]
    (tmp_path / "h.h").write_text("#define VALUE 6\n")  # a header: its includer recompiles
    assert build_json(profile)["compiled"] == [str(tmp_path / "helper.c")]
    done = env.cli("run", str(profile))
    assert done.returncode == 6, done.stderr


def test_bad_inputs_exit_125(tmp_path: Path) -> None:
    missing_src = tmp_path / "missing.yaml"
    missing_src.write_text("name: m\ntarget:\n  triple: x86_64-linux-gnu\nsources: nope.c\n")
    done = env.cli("run", str(missing_src))
    assert done.returncode == 125 and "nope.c" in done.stderr, done.stderr

    profile = write_project(tmp_path, {"bad.c": "int main(void) { return oops; }\n"})
    done = env.cli("run", str(profile))
    assert done.returncode == 125, done.stderr
    assert "use of undeclared identifier 'oops'" in done.stderr  # clang's diagnostic

    done = env.cli("jit", "--executor", "docker:no-such-variant", str(HELLO))
    assert done.returncode == 125 and "crossjit-no-such-variant" in done.stderr, done.stderr

    unbuilt = tmp_path / "unbuilt.yaml"
    unbuilt.write_text(f"name: u\ntarget:\n  triple: x86_64-linux-musl\n"
                       f"sysroot: {{path: {tmp_path / 'no-sysroot'}}}\nsources: {HELLO}\n")
    done = env.cli("run", str(unbuilt))
    assert done.returncode == 125 and "no-sysroot" in done.stderr, done.stderr

"""Compiler launchers: ccache in front of clang (profile key and environment variable).

crossjit's own bitcode cache is made cold for every run (a fresh XDG_CACHE_HOME), so the
second build really runs the compile command and it is ccache that answers it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.corpus import CORPUS, REPO
from tests.prereq import require_tool

pytestmark = pytest.mark.integration

PROFILE = """\
name: launched
target:
  triple: x86_64-linux-gnu
sources: {src}
compiler_launcher: {launcher}
executor: local
args: [a, b]
"""


def ccache_stats(env: dict[str, str]) -> dict[str, int]:
    out = subprocess.run(["ccache", "--print-stats"], env=env, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return {k: int(v) for k, v in (line.split("\t") for line in out.splitlines() if "\t" in line)
            if v.isdigit()}


def crossjit(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crossjit", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    require_tool("ccache", "ccache (apt-get install ccache)")
    profile = tmp_path / "launched.yaml"
    profile.write_text(PROFILE.format(src=CORPUS / "argc_sub1.c", launcher="ccache"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CCACHE_", "CROSSJIT_"))}
    env.update(PYTHONPATH=str(REPO), CCACHE_DIR=str(tmp_path / "ccache"))
    subprocess.run(["ccache", "-z"], env=env, check=True, capture_output=True)
    return profile, env


# What a cold `run` compiles: the program, and crossjit's runtime/crt.c and runtime/resident.c.
COMPILES = 3


def test_second_clean_build_hits_ccache(setup: tuple[Path, dict[str, str]],
                                        tmp_path: Path) -> None:
    profile, env = setup
    seen = []
    for run in ("first", "second"):
        cold = dict(env, XDG_CACHE_HOME=str(tmp_path / f"xdg-{run}"))  # crossjit's cache: empty
        built = crossjit(["build", "--json", str(profile)], cold)
        assert built.returncode == 0, built.stderr
        assert json.loads(built.stdout)["compiled"] == [str(CORPUS / "argc_sub1.c")]
        ran = crossjit(["run", str(profile)], cold)
        assert (ran.returncode, ran.stdout) == (2, "arg 1: a\narg 2: b\nargv[argc] is NULL\n"), \
            ran.stderr
        seen.append(ccache_stats(env))
    first, second = seen
    # first: the program and crossjit's runtime were compiled, through ccache, for real
    assert first["cache_miss"] == COMPILES and first["direct_cache_hit"] == 0, first
    # second: the same compiles, with crossjit's cache cold, answered by ccache
    assert second["cache_miss"] == COMPILES and second["direct_cache_hit"] == COMPILES, second


def test_environment_variable_overrides_the_profile(setup: tuple[Path, dict[str, str]],
                                                    tmp_path: Path) -> None:
    profile, env = setup
    src = str(CORPUS / "exit7.c")
    launched = dict(env, CROSSJIT_COMPILER_LAUNCHER="ccache",
                    XDG_CACHE_HOME=str(tmp_path / "a"))
    got = crossjit(["jit", src], launched)
    assert got.returncode == 7, got.stderr
    assert ccache_stats(env)["cache_miss"] == COMPILES
    # empty: no launcher, not even the profile's
    plain = dict(env, CROSSJIT_COMPILER_LAUNCHER="", XDG_CACHE_HOME=str(tmp_path / "b"))
    got = crossjit(["run", str(profile)], plain)
    assert got.returncode == 2, got.stderr
    assert ccache_stats(env)["cache_miss"] == COMPILES  # ccache was not asked


def test_launcher_does_not_change_crossjits_cache_key(setup: tuple[Path, dict[str, str]],
                                                      tmp_path: Path) -> None:
    profile, env = setup
    shared = dict(env, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    assert crossjit(["build", str(profile)], shared).returncode == 0
    # the same build without the launcher finds everything in crossjit's bitcode cache
    without = dict(shared, CROSSJIT_COMPILER_LAUNCHER="")
    built = crossjit(["build", "--json", str(profile)], without)
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["compiled"] == []


def test_missing_launcher_is_a_clear_error(setup: tuple[Path, dict[str, str]],
                                           tmp_path: Path) -> None:
    profile, env = setup
    profile.write_text(PROFILE.format(src=CORPUS / "argc_sub1.c", launcher="no-such-launcher"))
    got = crossjit(["run", str(profile)], dict(env, XDG_CACHE_HOME=str(tmp_path / "x")))
    assert got.returncode == 125
    assert "the compiler launcher 'no-such-launcher' (the profile's compiler_launcher) is " \
        "not installed" in got.stderr
    assert "Traceback" not in got.stderr

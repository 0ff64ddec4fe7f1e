"""Import budgets: each listed command, run cold (no daemon) as the console script runs
it, imports no more than its path needs. A heavy library creeping onto a path (pydantic,
yaml, docker-py, llvmlite's LLVM, pyelftools, the linker) fails here, whatever the
machine's speed: the sets of modules are asserted, not times (bench/startup.py times)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.corpus import CORPUS, REPO
from tests.prereq import llvm_executor

pytestmark = pytest.mark.integration

# Prints whether garbage collection is on (the launcher turns it off for the start-up
# and the command turns it back on) and the modules loaded, when the process ends
# (atexit runs after sys.exit).
PROBE = """
import atexit, gc, sys
def dump():
    sys.__stderr__.write(f"\\nGC {gc.isenabled()}")
    sys.__stderr__.write("\\nMODULES " + " ".join(sorted(sys.modules)) + "\\n")
    sys.__stderr__.flush()
atexit.register(dump)
sys.argv = ["crossjit", *sys.argv[1:]]
from crossjit.cli.launcher import main
main()
"""

# Never on a cheap path: the libraries whose import costs tens of milliseconds.
HEAVY = ("pydantic", "pydantic_core", "yaml", "docker", "requests", "urllib3",
         "llvmlite.binding", "elftools", "crossjit.project.schema",
         "concurrent.futures", "asyncio")

# Standard-library modules the jit path keeps off, each worth 1–7 ms of a cold start:
# dataclasses (and inspect, ast, dis: crossjit.records instead), importlib.resources
# (tempfile, zipfile), shutil (bz2, lzma: toolchain.which), platform (os.uname), and
# OpenSSL's _hashlib (cache.digest uses the builtin SHA-256 where this Python has one).
STDLIB_OFF_THE_JIT_PATH = ("dataclasses", "inspect", "importlib.resources", "tempfile",
                           "zipfile", "shutil", "platform",
                           *(("_hashlib",) if importlib.util.find_spec("_sha256") else ()))

LAUNCHER = {"crossjit", "crossjit.cli", "crossjit.cli.launcher", "crossjit.errors",
            "crossjit.records"}
CLI = LAUNCHER | {"crossjit.cli.app"}
# jit of inputs whose objects are cached: build (cache lookups), the linker, ORC — and
# not the CLI framework (cli/fastjit.py parses a plain jit command line itself).
JIT = LAUNCHER | {
    "crossjit.cli.fastjit",
    "crossjit.compile", "crossjit.compile.build", "crossjit.compile.cache",
    "crossjit.compile.codegen", "crossjit.compile.toolchain", "crossjit.elf",
    "crossjit.link", "crossjit.link.arch", "crossjit.link.arch.x86_64",
    "crossjit.link.diagnostics", "crossjit.link.ehframe", "crossjit.link.fixup",
    "crossjit.link.graph", "crossjit.link.layout", "crossjit.link.linker",
    "crossjit.link.objfile", "crossjit.link.resolve", "crossjit.link.tables",
    "crossjit.link.archive", "crossjit.link.tls",  # the linker's own: .a inputs, TLS
    "crossjit.orc", "crossjit.orc.client", "crossjit.orc.connection", "crossjit.orc.dialect",
    "crossjit.orc.frames", "crossjit.orc.messages", "crossjit.orc.spec", "crossjit.orc.sps",
    "crossjit.orc.transport", "crossjit.project", "crossjit.project.plan", "crossjit.run",
    "crossjit.run.known", "crossjit.run.loader", "crossjit.run.session",
    "crossjit.run.starting",
    "crossjit.targets", "crossjit.targets.base", "crossjit.targets.kinds",
    "crossjit.targets.spawn",  # the local spawn target (targets/kinds.py)
}
# Third-party top-level packages allowed on every listed path (typer-slim's own).
THIRD_PARTY = {"typer", "click", "_distutils_hack"}


def imported(env: dict[str, str], *args: str,
             cwd: Path = REPO) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                          text=True, timeout=120, check=False, cwd=cwd, env=env)
    marker = done.stderr.rfind("\nMODULES ")
    assert marker >= 0, done.stderr
    # Collections resumed once the start-up was done, whatever the command.
    assert done.stderr[:marker].endswith("\nGC True"), done.stderr
    return done, set(done.stderr[marker + 9:].split())


def cold_env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CROSSJIT_DAEMON": "0",
           "CROSSJIT_DAEMON_SOCKET": str(tmp_path / "nodaemon" / "d.sock")}
    env.pop("CROSSJIT_NO_DAEMON", None)
    return env


def check_budget(modules: set[str], crossjit_budget: set[str],
                 extra_third_party: frozenset[str] = frozenset(),
                 heavy: tuple[str, ...] = HEAVY,
                 third_party: frozenset[str] = frozenset(THIRD_PARTY)) -> None:
    ours = {m for m in modules if m == "crossjit" or m.startswith("crossjit.")}
    assert ours <= crossjit_budget, f"crossjit modules past the budget: {ours - crossjit_budget}"
    tops = {m.split(".")[0] for m in modules if not m.startswith(("_cython_", "cython_"))}
    tops -= set(sys.stdlib_module_names) | {"__main__"}  # (Cython's runtime: charset_normalizer)
    allowed = third_party | {"crossjit"} | extra_third_party
    assert tops <= allowed, f"third-party packages past the budget: {tops - allowed}"
    loaded_heavy = {h for h in heavy if h in modules}
    assert not loaded_heavy, f"heavy imports on this path: {loaded_heavy}"


def test_help_imports_only_the_cli(tmp_path: Path) -> None:
    done, modules = imported(cold_env(tmp_path), "--help")
    assert done.returncode == 0 and "Commands:" in done.stdout, done.stderr
    check_budget(modules, CLI)
    # The listing does not build any subcommand (typer's signature inspection).
    assert "crossjit.run.session" not in modules


def test_jit_of_cached_objects_skips_llvm_and_the_profile_model(tmp_path: Path) -> None:
    env = cold_env(tmp_path)
    src = tmp_path / "hello.c"
    shutil.copy(CORPUS / "exit7.c", src)
    args = ("jit", "-e", f"spawn:{llvm_executor(16)}", str(src))
    first, _ = imported(env, *args)  # fills the bitcode and object caches
    assert first.returncode == 7, first.stderr
    done, modules = imported(env, *args)
    assert done.returncode == 7, done.stderr
    # llvmlite: its version only, not libLLVM; no typer, no click.
    check_budget(modules, JIT, frozenset({"llvmlite"}),
                 heavy=(*HEAVY, *STDLIB_OFF_THE_JIT_PATH),
                 third_party=frozenset(THIRD_PARTY - {"typer", "click"}))


PROFILE = CLI | {"crossjit.compile", "crossjit.compile.cache", "crossjit.project",
                 "crossjit.project.model", "crossjit.project.profile",
                 "crossjit.project.recipes", "crossjit.project.sources"}
# build no-op: the profile (cached), fetch checks, sysroot manifest, cache lookups; no
# linker, no ORC client, no Docker.
BUILD = PROFILE | {
    "crossjit.compile.build", "crossjit.compile.codegen", "crossjit.compile.toolchain",
    "crossjit.elf", "crossjit.project.fetch", "crossjit.project.plan", "crossjit.run",
    "crossjit.run.session", "crossjit.targets", "crossjit.targets.soname",
    "crossjit.targets.sysroot",
}
# run in the profile's container: all of that, the linker, ORC, and the container module
# (whose engine calls on this path need no docker-py: containers._Lite).
RUN = BUILD | JIT | {"crossjit.targets.container", "crossjit.targets.containers",
                     "crossjit.targets.executors",
                     "crossjit.targets.procfs", "crossjit.run.spares"}
# llvmlite's version (no libLLVM); ziglang's location (it compiles crossjit's runtime for
# musl). Not docker-py.
RUN_EXTRA = frozenset({"llvmlite", "ziglang"})


def test_profile_check_of_a_cached_profile(tmp_path: Path) -> None:
    env = {**cold_env(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    first, cold = imported(env, "profile", "check", "profiles/mongoose.yaml")
    assert first.returncode == 0, first.stderr
    assert "pydantic" in cold  # validated once...
    done, modules = imported(env, "profile", "check", "profiles/mongoose.yaml")
    assert (done.returncode, done.stdout) == (0, first.stdout), done.stderr
    check_budget(modules, PROFILE)  # ...then read back from the cache


def test_build_no_op_of_mongoose() -> None:
    from tests.integration import containers_env

    containers_env.musl_sysroot()
    env = cold_env(Path("/nonexistent"))
    first, _ = imported(env, "build", "profiles/mongoose.yaml")
    assert first.returncode == 0, first.stderr
    done, modules = imported(env, "build", "profiles/mongoose.yaml")
    assert done.returncode == 0 and "0 compiled, 0 code-generated" in done.stderr, done.stderr
    # Two inputs: their cache lookups (hashing sources and headers) run in a thread pool.
    check_budget(modules, BUILD, frozenset({"llvmlite", "ziglang"}),
                 heavy=tuple(h for h in HEAVY if h != "concurrent.futures"))


def test_run_in_a_running_container(tmp_path: Path) -> None:
    from tests.integration import containers_env

    containers_env.require_musl_executor_binary()
    containers_env.musl_sysroot()
    profile = tmp_path / "startup-imports.yaml"
    profile.write_text(f"name: startup-imports\ntarget: {{triple: x86_64-linux-musl}}\n"
                       f"sysroot: debian-musl\nexecutor: musl\n"
                       f"sources: [{REPO / 'examples/hello/hello.c'}]\nargs: [a, b]\n")
    env = cold_env(tmp_path)
    up = subprocess.run([sys.executable, "-m", "crossjit", "executor", "up", "--profile",
                         str(profile)], env=env, cwd=REPO, capture_output=True, text=True,
                        timeout=600, check=False)
    assert up.returncode == 0, up.stderr
    try:
        first, _ = imported(env, "run", str(profile))
        assert first.returncode == 2, first.stderr  # hello exits with its argument count
        done, modules = imported(env, "run", str(profile))
    finally:
        subprocess.run([sys.executable, "-m", "crossjit", "executor", "down", "--profile",
                        str(profile)], env=env, cwd=REPO, capture_output=True, timeout=120,
                       check=False)
    assert (done.returncode, done.stdout) == (2, first.stdout), done.stderr
    check_budget(modules, RUN, RUN_EXTRA)  # a running container: no docker-py at all

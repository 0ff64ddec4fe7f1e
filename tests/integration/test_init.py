"""`crossjit init`: a starter profile that `profile check` accepts and `run` runs.

Two C sources in a fresh folder → `crossjit init DIR` → the profile lists both, has no
`target:` (this host's triple) and the local executor; `crossjit run` prints the
program's output and exits with its status. The commented musl alternative, uncommented
as its comment says, validates, and runs in its own musl container.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crossjit.project.plan import host_triple
from crossjit.targets import executors
from tests.integration import containers_env as env
from tests.prereq import llvm_executor, require_tool

pytestmark = pytest.mark.integration

MAIN = """\
#include <stdio.h>
int add(int a, int b);
int main(int argc, char **argv) {
    printf("sum=%d args=%d first=%s\\n", add(2, 3), argc - 1, argc > 1 ? argv[1] : "-");
    return add(argc, 4);
}
"""
ADD = "int add(int a, int b) { return a + b; }\n"


def crossjit(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crossjit", *args], cwd=cwd,
                          env=dict(os.environ, PYTHONPATH=str(env.REPO)), capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    require_tool("clang-16", "clang-16 (apt-get install clang-16)")
    llvm_executor(16)  # the default local executor
    d = tmp_path / "initdemo"
    (d / "lib").mkdir(parents=True)
    (d / "main.c").write_text(MAIN)
    (d / "lib/add.c").write_text(ADD)
    return d


def uncomment_musl(text: str) -> str:
    """What the profile's comment says: delete `executor: local`, uncomment the block."""
    head, alt = text.split("# --- Alternative", 1)
    head = "\n".join(line for line in head.splitlines() if not line.startswith("executor: local"))
    block = alt.split("\n# target:", 1)[1]
    return head + "\ntarget:" + "\n".join(line.removeprefix("# ") for line in block.split("\n"))


def test_init_check_and_run(project: Path, tmp_path: Path) -> None:
    done = crossjit(tmp_path, "init", "initdemo")
    assert done.returncode == 0, done.stderr
    profile = project / "crossjit.yaml"
    assert f"wrote {Path('initdemo/crossjit.yaml')} (2 sources)" in done.stderr, done.stderr
    text = profile.read_text()
    assert "\ntarget:" not in text and "executor: local" in text, text
    assert "  - lib/add.c\n  - main.c\n" in text, text

    check = crossjit(project, "profile", "check", "crossjit.yaml")
    assert check.returncode == 0, check.stderr
    assert f"target    {host_triple()} (this host's: no target key)" in check.stdout
    assert "executor  local" in check.stdout and "2 file(s)" in check.stdout, check.stdout

    run = crossjit(project, "run", "crossjit.yaml", "--", "hello", "there")
    assert run.stdout == "sum=5 args=2 first=hello\n", run.stdout + run.stderr
    assert run.returncode == 7, run.stderr  # add(argc=3, 4)
    run = crossjit(tmp_path, "run", "initdemo/crossjit.yaml")
    assert run.stdout == "sum=5 args=0 first=-\n" and run.returncode == 5, run.stderr


def test_init_refuses_to_overwrite(project: Path) -> None:
    assert crossjit(project, "init").returncode == 0
    (project / "crossjit.yaml").write_text("# mine\n")
    again = crossjit(project, "init")
    assert again.returncode == 125, again.stderr
    assert "crossjit.yaml already exists" in again.stderr and "--force" in again.stderr
    assert (project / "crossjit.yaml").read_text() == "# mine\n"
    forced = crossjit(project, "init", "--force")
    assert forced.returncode == 0 and "name: initdemo" in (project / "crossjit.yaml").read_text()


def test_init_without_sources(tmp_path: Path) -> None:
    done = crossjit(tmp_path, "init")
    assert done.returncode == 125 and "no C/C++ sources in ." in done.stderr, done.stderr
    assert not (tmp_path / "crossjit.yaml").exists()


def test_musl_alternative_uncommented_validates(project: Path) -> None:
    assert crossjit(project, "init").returncode == 0
    alt = project / "musl.yaml"
    alt.write_text(uncomment_musl((project / "crossjit.yaml").read_text()))
    check = crossjit(project, "profile", "check", "musl.yaml")
    assert check.returncode == 0, check.stderr + alt.read_text()
    arch = host_triple().split("-")[0]
    assert f"target    {arch}-linux-musl\n" in check.stdout, check.stdout
    assert "sysroot   recipe debian-musl" in check.stdout, check.stdout
    assert "executor  musl over unix" in check.stdout, check.stdout


def test_musl_alternative_runs_in_its_container(project: Path) -> None:
    env.require_musl_executor_binary()
    env.musl_sysroot()
    name = f"init-musl-{os.getpid()}"
    assert crossjit(project, "init", "--name", name).returncode == 0
    (project / "crossjit.yaml").write_text(uncomment_musl((project / "crossjit.yaml").read_text()))
    try:
        run = crossjit(project, "run", "crossjit.yaml", "--", "x")
        assert run.stdout == "sum=5 args=1 first=x\n", run.stdout + run.stderr
        assert run.returncode == 6, run.stderr
        assert env.engine().get(f"crossjit-{name}") is None  # removed after the run
    finally:
        executors.down(f"crossjit-{name}")

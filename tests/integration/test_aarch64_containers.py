"""AArch64 sysroots and the arm64 executor container on the real engine.

- `crossjit sysroot build debian-glibc|debian-musl --arch aarch64`: Debian's arm64
  packages, proven usable by compiling with them (`crossjit jit --sysroot`) and running
  the result in a qemu'd AArch64 executor (the glibc sysroot is that executor's -L root).
- `profiles/mongoose-aarch64.yaml` through `crossjit run`: the server JIT'd for
  aarch64-linux-musl in the FROM-scratch musl-aarch64 container (qemu-aarch64-static its
  entry point), browsed from this host: the listing, exact bytes, a 404, 200 concurrent
  requests, the hardening of the x86-64 containers, then Ctrl-C removes the container.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from crossjit.targets import executors
from tests.integration import containers_env as env
from tests.integration.mongoose_server import Server, serving
from tests.integration.test_containers_executor import assert_hardened
from tests.integration.test_executor_support import executor, qemu_aarch64
from tests.integration.test_mongoose_e2e import CONCURRENT, WWW, get

pytestmark = pytest.mark.integration

PROFILE = env.REPO / "profiles" / "mongoose-aarch64.yaml"
CONTAINER = "crossjit-mongoose-aarch64"
EM_AARCH64 = 183
HELLO = r"""
#include <stdio.h>
#include <string.h>
#include <math.h>
int main(int argc, char **argv) {
    printf("%s %zu %.3f argc=%d\n", argv[argc - 1], strlen(argv[0]), sqrt(2.0), argc);
    return 7;
}
"""


def aarch64_sysroot(recipe: str) -> Path:
    env.require_debian_base()
    return Path(env.ok("sysroot", "build", recipe, "--arch", "aarch64").strip())


def machine(path: Path) -> int:
    head = path.read_bytes()[:20]
    assert head[:4] == b"\x7fELF", path
    return int.from_bytes(head[18:20], "little")


def jit(spec: str, target: str, root: Path, src: Path) -> subprocess.CompletedProcess[str]:
    return env.cli("jit", "--executor", spec, "--target", target, "--sysroot", str(root),
                   "-O1", str(src), "--", "from-aarch64", timeout=300)


def test_glibc_sysroot_compiles_and_runs_aarch64(tmp_path: Path) -> None:
    root = aarch64_sysroot("debian-glibc")
    libc = root / "usr/lib/aarch64-linux-gnu/libc.so.6"
    assert machine(libc) == EM_AARCH64
    assert (root / "usr/include/aarch64-linux-gnu/bits/wordsize.h").is_file()
    assert (root / "lib/ld-linux-aarch64.so.1").resolve().is_relative_to(root.resolve())
    assert not (root / "usr/lib/x86_64-linux-gnu").exists()  # nothing of the build stage's
    manifest = json.loads((root / "manifest.json").read_text())
    assert (manifest["recipe"], manifest["arch"]) == ("debian-glibc", "aarch64")
    src = tmp_path / "hello.c"
    src.write_text(HELLO)
    # The sysroot is also the executor's runtime root: qemu -L finds ld-linux and libc there.
    spec = "spawn:" + shlex.join([qemu_aarch64(), "-L", str(root),
                                  str(executor("aarch64-glibc"))])
    done = jit(spec, "aarch64-linux-gnu", root, src)
    assert done.returncode == 7, done.stderr
    assert done.stdout.splitlines()[-1].startswith("from-aarch64 ") and "1.414 argc=" in \
        done.stdout, done.stdout


def test_musl_sysroot_compiles_and_runs_aarch64(tmp_path: Path) -> None:
    root = aarch64_sysroot("debian-musl")
    loader = root / "lib/ld-musl-aarch64.so.1"
    assert machine(loader) == EM_AARCH64
    assert (root / "usr/include/stdio.h").is_file()
    assert not (root / "lib/ld-musl-x86_64.so.1").exists()
    src = tmp_path / "hello.c"
    src.write_text(HELLO)
    spec = "spawn:" + shlex.join([qemu_aarch64(), str(executor("aarch64-musl-static"))])
    done = jit(spec, "aarch64-linux-musl", root, src)
    assert done.returncode == 7, done.stderr
    assert "from-aarch64 " in done.stdout and "1.414 argc=" in done.stdout, done.stdout


def test_musl_sysroot_refuses_rebuilt_libraries_for_aarch64() -> None:
    done = env.cli("sysroot", "build", "debian-musl", "--arch", "aarch64",
                   "--package", "zlib1g-dev")
    assert done.returncode == 125
    assert "cannot have zlib1g-dev yet" in done.stderr and "Traceback" not in done.stderr


def test_recipe_without_arch_refuses_aarch64() -> None:
    done = env.cli("sysroot", "build", "alpine-musl", "--arch", "aarch64")
    assert done.returncode == 125
    assert "alpine-musl has no aarch64 build yet" in done.stderr, done.stderr


def test_no_debian_container_for_aarch64(tmp_path: Path) -> None:
    (tmp_path / "x.c").write_text("int main(void) { return 0; }\n")
    profile = tmp_path / "p.yaml"
    profile.write_text("name: a64-debian-x\ntarget:\n  triple: aarch64-linux-gnu\n"
                       "executor:\n  variant: debian\nsources: [x.c]\n")
    done = env.cli("executor", "up", "--profile", str(profile))
    assert done.returncode == 125, done.stderr
    assert "no debian executor container for aarch64 yet" in done.stderr


def _prepare() -> None:
    qemu_aarch64()
    executor("aarch64-musl")
    aarch64_sysroot("debian-musl")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(PROFILE, "http", tmp_path_factory.mktemp("mongoose-a64"),
                 prepare=_prepare) as srv:
        yield srv


def test_container_is_aarch64_under_its_own_qemu(server: Server) -> None:
    info = executors.probe(server.container, deadline=60)
    assert info.triple == "aarch64-unknown-linux-musl"
    attrs = env.engine().inspect(server.container)
    assert attrs["Config"]["Entrypoint"] == ["/usr/bin/qemu-aarch64-static"]
    assert attrs["Config"]["Labels"]["crossjit.arch"] == "aarch64"
    status = json.loads(env.ok("executor", "status", "--json"))
    mine = [s for s in status if s["name"] == server.container]
    assert [(s["variant"], s["arch"]) for s in mine] == [("musl", "aarch64")]


def test_container_is_hardened(server: Server) -> None:
    attrs = env.engine().inspect(server.container)
    assert_hardened(attrs)
    host = attrs["HostConfig"]
    assert host["NetworkMode"] == "host"  # the profile lists a port; the server binds loopback
    mounts = {m["Destination"]: m["RW"] for m in attrs["Mounts"]}
    assert mounts == {"/run/crossjit": True, "/srv/www": False}
    procs = [args for _pid, _ppid, args in env.engine().processes(server.container)]
    assert not any("listen=" in a for a in procs), procs


def test_get_root_lists_the_served_directory(server: Server) -> None:
    status, body, _ = get(server.base + "/")
    assert status == 200 and b"index.txt" in body and b"hello.json" in body, body[:500]
    assert b"docs/" in body


def test_files_are_served_byte_for_byte(server: Server) -> None:
    for name in ("index.txt", "hello.json"):
        assert get(server.base + "/" + name)[:2] == (200, (WWW / name).read_bytes())


def test_missing_path_is_404(server: Server) -> None:
    assert get(server.base + "/no/such/file")[0] == 404


def test_200_concurrent_requests_all_answered(server: Server) -> None:
    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(lambda _: get(server.base + "/hello.json", timeout=60)[:2],
                                range(CONCURRENT)))
    assert answers == [(200, (WWW / "hello.json").read_bytes())] * CONCURRENT

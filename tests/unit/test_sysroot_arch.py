"""The CPU axis of sysroots and executor images (pure naming; the builds are integration)."""

from __future__ import annotations

import pytest

from crossjit.errors import UsageError
from crossjit.targets import executors, sysroot


@pytest.mark.parametrize("name", ["aarch64", "arm64", "aarch64-linux-musl",
                                  "aarch64-unknown-linux-gnu"])
def test_aarch64_spellings(name: str) -> None:
    assert sysroot.target_arch(name) == "aarch64"
    assert sysroot.key_of("debian-musl", name) == "debian-musl-aarch64"


@pytest.mark.parametrize("name", ["x86_64", "amd64", "x86_64-linux-musl"])
def test_x86_64_keeps_the_plain_name(name: str) -> None:
    assert sysroot.key_of("debian-glibc", name) == "debian-glibc"
    assert sysroot.path_of("debian-glibc", name) == sysroot.path_of("debian-glibc")


def test_unknown_cpu_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="riscv64"):
        sysroot.target_arch("riscv64-linux-gnu")


def test_image_tags_differ_by_arch_only_for_foreign_cpus() -> None:
    plain = sysroot.image_tag("debian-glibc", ["zlib1g-dev"], ["base"])
    assert sysroot.image_tag("debian-glibc", ["zlib1g-dev"], ["base"], "x86_64") == plain
    assert sysroot.image_tag("debian-glibc", ["zlib1g-dev"], ["base"], "aarch64") != plain


def test_session_command_runs_aarch64_under_the_images_qemu() -> None:
    cmd = executors._session_command("musl", "/run/crossjit/x.sock", "s", "aarch64")
    assert cmd == [executors.QEMU_IN_IMAGE, "/usr/bin/crossjit-executor",
                   "unix=/run/crossjit/x.sock", "quiet"]
    assert executors._session_command("musl", "/run/crossjit/x.sock", "s", "x86_64")[0] \
        == "/usr/bin/crossjit-executor"
    assert executors.recipe_name("musl", "aarch64") == "musl-aarch64"
    assert executors.recipe_name("musl", "x86_64") == "musl"

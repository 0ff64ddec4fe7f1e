"""Sysroots built by the real engine and exported through the archive API."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from crossjit.targets import soname, sysroot
from tests.integration import containers_env as env

pytestmark = pytest.mark.integration


def links_outside(root: Path) -> list[str]:
    """Every symlink under ``root`` that does not resolve to something inside it."""
    bad = []
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink():
                target = p.resolve()
                if not (target.is_relative_to(real_root) and target.exists()):
                    bad.append(f"{p.relative_to(root)} -> {os.readlink(p)}")
    return bad


def test_debian_musl_sysroot() -> None:
    root = env.musl_sysroot()
    assert root == sysroot.path_of("debian-musl")
    for header in ("stdio.h", "stdlib.h", "sys/socket.h", "zlib.h", "zconf.h"):
        assert (root / "usr/include" / header).is_file(), header
    # musl's headers, not glibc's: no gnu/stubs.h, and musl's alltypes.h
    assert (root / "usr/include/bits/alltypes.h").is_file()
    assert not (root / "usr/include/gnu/stubs.h").exists()
    for lib in ("usr/lib/crt1.o", "usr/lib/libc.so", "lib/ld-musl-x86_64.so.1"):
        assert (root / lib).exists(), lib
    assert links_outside(root) == []
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["recipe"] == "debian-musl"
    assert manifest["packages"] == sorted(env.MUSL_PACKAGES)
    assert manifest["image_id"].startswith("sha256:")
    assert env.engine().image_id(manifest["image"]) == manifest["image_id"]


def test_dlopen_name_resolves_by_soname() -> None:
    root = env.musl_sysroot()
    lib = soname.resolve(root, "libz.so")
    assert (lib.soname, lib.path.name) == ("libz.so.1", "libz.so.1.2.13")
    # rebuilt against musl, so it needs musl's libc, not glibc's libc.so.6
    assert lib.needed == ("libc.so",)
    assert [x.soname for x in soname.closure(root, ["libz.so"])] == ["libz.so.1"]
    with pytest.raises(soname.LibraryNotFound, match=r"no library 'libnope\.so'"):
        soname.resolve(root, "libnope.so")


def test_mbedtls_rebuilt_against_musl_with_debian_config() -> None:
    root = env.musl_sysroot()
    config = (root / "usr/include/mbedtls/config.h").read_text()
    assert "\n#define MBEDTLS_THREADING_C\n" in config  # Debian's config.h, not upstream's
    libs = soname.closure(root, ["libmbedtls.so"])
    assert sorted(x.soname for x in libs) == [
        "libmbedcrypto.so.7", "libmbedtls.so.14", "libmbedx509.so.1"]
    by_name = {x.soname: x for x in libs}
    assert by_name["libmbedtls.so.14"].needed == (
        "libmbedx509.so.1", "libmbedcrypto.so.7", "libc.so")
    assert by_name["libmbedcrypto.so.7"].needed == ("libc.so",)  # musl's libc
    # The library was built with the headers' configuration: what only Debian's config.h
    # enables (threading, CMAC, MD4) is there, so structs have the layout the headers say.
    crypto = str(by_name["libmbedcrypto.so.7"].path)
    symbols = subprocess.run(["nm", "-D", "--defined-only", crypto],
                             capture_output=True, text=True, timeout=60, check=True).stdout
    for sym in ("mbedtls_mutex_init", "mbedtls_cipher_cmac_starts", "mbedtls_md4"):
        assert f" {sym}\n" in symbols, sym


def test_debian_glibc_sysroot() -> None:
    root = env.glibc_sysroot()
    assert (root / "usr/include/stdio.h").is_file()
    assert (root / "usr/include/x86_64-linux-gnu/gnu/stubs.h").is_file()
    assert (root / "usr/lib/x86_64-linux-gnu/libc.so.6").is_file()
    assert (root / "usr/lib/x86_64-linux-gnu/crt1.o").is_file()
    # Debian's absolute link to the loader was rewritten to stay inside.
    ld = root / "usr/lib64/ld-linux-x86-64.so.2"
    assert ld.is_symlink() and not os.readlink(ld).startswith("/")
    assert ld.resolve().is_file()
    assert (root / "lib").is_symlink() and os.readlink(root / "lib") == "usr/lib"
    assert links_outside(root) == []
    # glibc's libc.so is a linker script; its SONAME is found through it.
    assert soname.resolve(root, "libc.so").soname == "libc.so.6"


def test_manifest_detects_a_changed_package_list() -> None:
    env.musl_sysroot()
    assert sysroot.staleness("debian-musl", ["zlib1g-dev"]) is None
    why = sysroot.staleness("debian-musl", ["zlib1g-dev", "libsqlite3-dev"])
    assert why == "it was built with libmbedtls-dev, zlib1g-dev; libsqlite3-dev missing"
    # More packages than wanted serve; the rebuild command keeps what is there.
    assert sysroot.require("debian-musl", []) == sysroot.path_of("debian-musl")
    with pytest.raises(sysroot.SysrootMissing) as info:
        sysroot.require("debian-musl", ["libsqlite3-dev"])
    assert info.value.hint == (
        "build it: crossjit sysroot build debian-musl --package libmbedtls-dev "
        "--package libsqlite3-dev --package zlib1g-dev"
    )
    listing = env.ok("sysroot", "list")
    assert "debian-musl      ready" in listing


def test_sysroot_missing_exits_125(tmp_path: Path) -> None:
    done = env.cli("sysroot", "path", "debian-glibc", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert done.returncode == 125
    assert done.stderr.splitlines() == [
        "error: sysroot debian-glibc is not ready",
        "it has not been built",
        "hint: build it: crossjit sysroot build debian-glibc",
    ]


def test_alpine_musl_sysroot() -> None:
    env.require_alpine()
    root = Path(env.ok("sysroot", "build", "alpine-musl").strip())
    assert (root / "usr/include/stdio.h").is_file()
    assert (root / "lib/ld-musl-x86_64.so.1").exists()
    assert links_outside(root) == []

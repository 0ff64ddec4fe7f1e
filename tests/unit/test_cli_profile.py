"""`crossjit profile check`: exit 0 with a summary, or 125 with file:line messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def check(profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crossjit", "profile", "check", str(profile)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_valid_profile_summary() -> None:
    done = check(REPO / "profiles" / "zlib-musl.yaml")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"profile zlib-musl ({REPO / 'profiles' / 'zlib-musl.yaml'}): ok"
    assert "  sysroot   recipe debian-musl + zlib1g-dev" in lines
    assert "  executor  musl over unix" in lines
    assert "            dlopen libz.so" in lines


def test_unknown_key_did_you_mean(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntarget: {triple: x86_64-linux-musl}\nsorces: [a.c]\n")
    done = check(bad)
    assert done.returncode == 125
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"error: profile {bad} is invalid (2 problems)",
        f"{bad}:1: sources: required key is missing",
        f"{bad}:3: sorces: unknown key; did you mean 'sources'?",
        "hint: every key is described in docs/profiles.md",
    ]


def test_missing_source(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("name: x\ntarget: {triple: x86_64-linux-musl}\nsources:\n  - gone.c\n")
    done = check(bad)
    assert done.returncode == 125
    assert done.stderr.splitlines()[:2] == [
        f"error: profile {bad} names 1 missing path",
        f"{bad}:4: sources[0]: 'gone.c' does not exist",
    ]


def test_tls_profile_summary_says_where_the_certificate_lives(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "crossjit", "profile", "check",
         str(REPO / "profiles" / "mongoose-tls.yaml")],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert (f"            tls {tmp_path}/crossjit/tls/crossjit-mongoose-tls -> /srv/tls "
            "(self-signed cert.pem + key.pem, made at the first start; read-only)"
            ) in done.stdout.splitlines()
    assert "            dlopen libmbedcrypto.so, libmbedx509.so, libmbedtls.so" in done.stdout

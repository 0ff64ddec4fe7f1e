"""executor.tls's certificates, made by the real openssl: files, modes, reuse, renewal."""

from __future__ import annotations

import os
import ssl
import subprocess
from pathlib import Path

import pytest

from crossjit.errors import ContainerError
from crossjit.targets import tlscert
from tests.prereq import require_tool

NAME = "crossjit-tlscert-test"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path


def openssl(*args: str) -> str:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60,
                          check=True)
    return done.stdout


def test_made_once_then_reused(cache: Path) -> None:
    require_tool("openssl", "openssl (apt-get install openssl)")
    folder = tlscert.ensure(NAME)
    assert folder == cache / "crossjit" / "tls" / NAME
    cert, key = folder / "cert.pem", folder / "key.pem"
    assert (folder.stat().st_mode & 0o777, cert.stat().st_mode & 0o777,
            key.stat().st_mode & 0o777) == (0o755, 0o644, 0o400)
    pem = cert.read_bytes()
    # Our DER and fingerprint are openssl's own.
    assert tlscert.der(pem) == ssl.PEM_cert_to_DER_cert(pem.decode())
    shown = openssl("x509", "-noout", "-fingerprint", "-sha256", "-in", str(cert))
    assert shown.strip().split("=", 1)[1] == tlscert.fingerprint(pem)
    text = openssl("x509", "-noout", "-subject", "-ext", "subjectAltName", "-in", str(cert))
    assert f"CN = {NAME}" in text and "IP Address:127.0.0.1" in text and "DNS:localhost" in text
    # A usable pair: a TLS server context takes it.
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)

    assert tlscert.ensure(NAME) == folder
    assert cert.read_bytes() == pem  # reused, not made again

    key.unlink()  # an incomplete pair is replaced by a new one
    tlscert.ensure(NAME)
    assert key.is_file() and cert.read_bytes() != pem


def test_expiring_certificate_is_renewed(cache: Path) -> None:
    require_tool("openssl", "openssl (apt-get install openssl)")
    folder = tlscert.ensure(NAME)
    cert, key = folder / "cert.pem", folder / "key.pem"
    # A valid pair that expires within the renewal window (1 day).
    os.chmod(key, 0o600)
    openssl("req", "-x509", "-key", str(key), "-days", "1", "-subj", "/CN=old",
            "-out", str(cert))
    old = cert.read_bytes()
    tlscert.ensure(NAME)
    assert cert.read_bytes() != old
    assert "CN = old" not in openssl("x509", "-noout", "-subject", "-in", str(cert))


def test_key_belongs_to_the_container_user(cache: Path) -> None:
    require_tool("openssl", "openssl (apt-get install openssl)")
    # As root the container runs as nobody, who must be able to read the key; otherwise
    # it runs as the caller, who owns it anyway (what executors.up passes).
    root = os.getuid() == 0
    key = tlscert.ensure(NAME, owner=(65534, 65534) if root else None) / "key.pem"
    want = (65534, 65534) if root else (os.getuid(), os.getgid())
    assert (key.stat().st_uid, key.stat().st_gid) == want


def test_without_openssl_the_error_says_what_to_install(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ContainerError) as info:
        tlscert.ensure(NAME)
    assert "openssl command is not installed" in info.value.render()
    assert "apt-get install openssl" in info.value.render()

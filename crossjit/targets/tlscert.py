"""Self-signed TLS certificates for programs that serve HTTPS from an executor container.

A profile's ``executor.tls: /srv/tls`` asks for one. It is made with Debian's ``openssl``
when the container is first started, kept in the cache under ``tls/<container>/`` (never in
a source tree, so nothing secret is ever committed) and reused while it is valid; the
container gets that folder read-only at the profile's path, as ``cert.pem`` and
``key.pem``. The key is readable by the container's user only.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from crossjit.errors import ContainerError, Progress, quiet
from crossjit.project import plan

CERT, KEY = "cert.pem", "key.pem"
DAYS = 365
RENEW_SECONDS = 86400  # made again when it would expire within a day
OPENSSL_DEADLINE = 60.0
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)


def folder(container: str) -> Path:
    return plan.tls_folder(container)


def der(pem: bytes) -> bytes:
    """The DER bytes of the first certificate in ``pem``."""
    found = _PEM.search(pem)
    if found is None:
        raise ValueError("no PEM certificate")
    return base64.b64decode(b"".join(found.group(1).split()))


def fingerprint(pem: bytes) -> str:
    """SHA-256 fingerprint as browsers show it (``AB:CD:...``)."""
    digest = hashlib.sha256(der(pem)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("openssl")
    if tool is None:
        raise ContainerError(
            "cannot make the TLS certificate the profile asks for (executor.tls)",
            why="the openssl command is not installed",
            hint="install it (apt-get install openssl; scripts/bootstrap does)",
        )
    try:
        return subprocess.run([tool, *args], capture_output=True, text=True,
                              timeout=OPENSSL_DEADLINE, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise ContainerError(f"openssl {args[0]} did not finish within "
                             f"{OPENSSL_DEADLINE:.0f} s") from exc


def _valid(cert: Path, key: Path) -> bool:
    if not (cert.is_file() and key.is_file()):
        return False
    done = _openssl("x509", "-checkend", str(RENEW_SECONDS), "-noout", "-in", str(cert))
    return done.returncode == 0


def ensure(container: str, owner: tuple[int, int] | None = None,
           progress: Progress = quiet) -> Path:
    """The folder holding a valid cert.pem + key.pem for ``container`` (made if needed).

    ``owner`` (uid, gid): who gets the key, i.e. the container's user when that is not us.
    """
    dest = folder(container)
    if _valid(dest / CERT, dest / KEY):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{container}.", dir=dest.parent))
    try:
        done = _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", str(DAYS), "-subj", f"/CN={container}",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(staging / KEY), "-out", str(staging / CERT),
        )
        if done.returncode != 0:
            raise ContainerError("openssl could not make the TLS certificate",
                                 why=done.stderr.strip() or f"status {done.returncode}")
        # The folder is mounted as is: readable (and the certificate public) for the
        # container's user; the key only for that user.
        os.chmod(staging, 0o755)
        os.chmod(staging / CERT, 0o644)
        os.chmod(staging / KEY, 0o400)
        if owner is not None:
            os.chown(staging / KEY, *owner)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    progress(f"made a self-signed TLS certificate for {container}: {dest / CERT} "
             f"(SHA-256 {fingerprint((dest / CERT).read_bytes())})")
    return dest

"""Mongoose over HTTPS: mbedtls (rebuilt against musl, dlopened by plain name in the
FROM-scratch musl container) with the certificate crossjit made at the first start.

`crossjit run profiles/mongoose-tls.yaml -- https://127.0.0.1:PORT /srv/www 0 /srv/tls`
runs as a user would; Python's ssl fetches the listing and a file, trusting only the
generated certificate (hostname 127.0.0.1 checked against it), and the certificate the
server presents must be byte for byte the generated one.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
import ssl
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from crossjit.targets import tlscert
from tests.integration import containers_env as env
from tests.integration.containers_env import container_exists
from tests.integration.mongoose_server import (
    Server,
    derived_profile,
    serving,
)
from tests.integration.serve import free_port

pytestmark = pytest.mark.integration

PROFILE = env.REPO / "profiles" / "mongoose-tls.yaml"
WWW = env.REPO / "examples" / "mongoose" / "www"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(PROFILE, "https", tmp_path_factory.mktemp("tls"), "0", "/srv/tls") as srv:
        yield srv


def cert_pem(server: Server) -> bytes:
    return (tlscert.folder(server.container) / "cert.pem").read_bytes()


def pinned(server: Server) -> ssl.SSLContext:
    """Trusts the generated certificate and nothing else (no system CAs)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies chain and hostname
    ctx.load_verify_locations(cadata=cert_pem(server).decode())
    return ctx


def get(server: Server, path: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(server.base + path, timeout=10,
                                    context=pinned(server)) as r:
            return int(r.status), r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read(), err.headers.get("Content-Type", "")


def test_certificate_was_made_in_the_cache_and_mounted_read_only(server: Server) -> None:
    folder = tlscert.folder(server.container)
    assert sorted(p.name for p in folder.iterdir()) == ["cert.pem", "key.pem"]
    assert (folder / "key.pem").stat().st_mode & 0o077 == 0  # only the container's user
    binds = env.engine().inspect(server.container)["HostConfig"]["Binds"]
    assert f"{folder}:/srv/tls:ro" in binds
    # and nothing of it lives in the source tree
    assert not [*(env.REPO / "examples").rglob("*.pem"), *(env.REPO / "profiles").rglob("*.pem")]


def test_listing_over_https(server: Server) -> None:
    status, body, ctype = get(server, "/")
    assert status == 200
    assert ctype.startswith("text/html")
    page = body.decode()
    assert "Index of /" in page
    for entry in ('href="index.txt"', 'href="hello.json"', 'href="docs/"'):
        assert entry in page
    status, body, _ = get(server, "/docs/")
    assert status == 200 and 'href="notes.md"' in body.decode()


@pytest.mark.parametrize("name", ["index.txt", "docs/notes.md"])
def test_files_over_https_byte_for_byte(server: Server, name: str) -> None:
    status, body, _ = get(server, "/" + name)
    assert status == 200
    assert body == (WWW / name).read_bytes()


def test_json_and_404_over_https(server: Server) -> None:
    status, body, ctype = get(server, "/api/hello")
    assert (status, ctype) == (200, "application/json")
    assert json.loads(body)["message"] == "hello from crossjit"
    assert get(server, "/no/such/file")[0] == 404


def test_presented_certificate_is_the_generated_one(server: Server) -> None:
    host, port = "127.0.0.1", int(server.base.rsplit(":", 1)[1])
    with socket.create_connection((host, port), timeout=10) as raw, \
            pinned(server).wrap_socket(raw, server_hostname=host) as tls:
        presented = tls.getpeercert(binary_form=True)
        version = tls.version()
    assert presented is not None
    generated = tlscert.der(cert_pem(server))
    assert presented == generated
    assert hashlib.sha256(presented).hexdigest() == \
        tlscert.fingerprint(cert_pem(server)).replace(":", "").lower()
    assert version in ("TLSv1.2", "TLSv1.3")


def test_another_certificate_is_refused(server: Server, tmp_path: Path) -> None:
    """The pinning is real: a client trusting some other certificate fails the handshake."""
    other = tlscert.ensure("crossjit-tls-other-test")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(other / "cert.pem"))
    with pytest.raises(urllib.error.URLError) as info:
        urllib.request.urlopen(server.base + "/", timeout=10, context=ctx)
    assert isinstance(info.value.reason, ssl.SSLCertVerificationError), info.value


def test_plain_http_gets_no_page(server: Server) -> None:
    plain = server.base.replace("https://", "http://")
    with pytest.raises(OSError), urllib.request.urlopen(plain + "/", timeout=10) as r:
        r.read()


def test_mbedtls_is_dlopened_from_the_image(server: Server) -> None:
    """The three libraries came out of the sysroot under their SONAMEs into /usr/lib of the
    FROM-scratch image, and the serving executor process has them mapped."""
    stream = env.engine().archive(server.container, "/usr/lib")
    assert stream is not None
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tf:
        files = [Path(m.name).name for m in tf.getmembers() if m.isfile()]
    names = sorted(n for n in files if ".so." in n)  # the context's .keep aside
    assert names == ["libmbedcrypto.so.7", "libmbedtls.so.14", "libmbedx509.so.1"]
    sessions = [pid for pid, _ppid, args in env.engine().processes(server.container)
                if "unix=/run/crossjit/" in args]
    assert len(sessions) == 1, sessions  # the one serving us (PID 1 listens in /tmp)
    maps = Path(f"/proc/{sessions[0]}/maps").read_text()
    for lib in names:
        assert f"/usr/lib/{lib}" in maps, lib


def test_a_build_without_tls_refuses_https(tmp_path: Path) -> None:
    """mongoose.yaml's build (MG_TLS_NONE) says so instead of serving plain HTTP."""
    plain = derived_profile(env.REPO / "profiles" / "mongoose.yaml", "mongoose-notls", tmp_path)
    done = env.cli("run", str(plain), "--", f"https://127.0.0.1:{free_port()}", "/srv/www",
                   timeout=600)
    assert done.returncode == 1, done.stderr
    assert "this build has no TLS (build with -DMG_TLS=MG_TLS_MBED)" in done.stderr
    assert not container_exists("crossjit-mongoose-notls")

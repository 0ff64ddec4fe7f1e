"""A second Docker engine that stands in for another machine's (issue 12, item 3).

As root: a private network namespace with a veth pair (addresses only inside it and on
its host end), a dockerd inside it with its own --data-root, --exec-root, --pidfile and
cgroup parent, listening only on tcp://NS_ADDR:2376 with --tlsverify and certificates made
here with openssl (no unix socket), vfs storage, no bridge, no iptables — like
scripts/docker-setup.sh. debian:bookworm-slim is copied in with `docker save | docker
load`. The namespace has no route out; `sysroot build` runs apt through a tinyproxy
listening on the veth's host end (only the namespace can reach it), handed to builds the
way users behind a proxy do it: docker's client config (`proxies` in
$DOCKER_CONFIG/config.json), which docker-py and the docker CLI both apply.

`env()` is the environment crossjit runs with: DOCKER_HOST, DOCKER_TLS_VERIFY and
DOCKER_CERT_PATH name only this engine, so nothing can reach the local one. `close()`
removes the engine's containers, stops dockerd (its containerd with it), the proxy,
the namespace, the veth and every file (certificates included).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.netns import linked_namespace
from tests.prereq import require_tool

BASE_IMAGE = "debian:bookworm-slim"
PORT = 2376


def _sh(*argv: str, check: bool = True, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=120,
                          env=env)


def require_prerequisites() -> None:
    for tool in ("ip", "nsenter", "dockerd", "docker", "openssl", "tinyproxy", "curl"):
        require_tool(tool)


@dataclass
class RemoteEngine:
    workdir: Path
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    netns: str = ""
    address: str = ""
    host_address: str = ""
    dockerd: subprocess.Popen[bytes] | None = None
    proxy: subprocess.Popen[bytes] | None = None
    _cleanups: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"tcp://{self.address}:{PORT}"

    # ---- set-up ------------------------------------------------------------------------
    def start(self) -> None:
        self.netns = f"cjeng-{self.tag}"
        host_if, ns_if = f"cjeh{self.tag}", f"cjen{self.tag}"
        self.host_address, self.address = linked_namespace(self.netns, host_if, ns_if,
                                                           self._cleanups)
        self._certificates()
        self._proxy()
        self._dockerd()
        self._load_base_image()

    def _certificates(self) -> None:
        """A CA, a server certificate for NS_ADDR, a client certificate (docker's names)."""
        c = self.certs
        c.mkdir(mode=0o700, parents=True)
        ossl = ("openssl",)
        _sh(*ossl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "2", "-subj", "/CN=crossjit test CA", "-keyout",
            str(c / "ca-key.pem"), "-out", str(c / "ca.pem"))
        for who, ext in (("server", f"subjectAltName=IP:{self.address}\n"
                                    "extendedKeyUsage=serverAuth\n"),
                         ("client", "extendedKeyUsage=clientAuth\n")):
            (c / f"{who}.ext").write_text(ext)
            _sh(*ossl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-subj", f"/CN={who}", "-keyout", str(c / f"{who}-key.pem"),
                "-out", str(c / f"{who}.csr"))
            _sh(*ossl, "x509", "-req", "-in", str(c / f"{who}.csr"), "-CA", str(c / "ca.pem"),
                "-CAkey", str(c / "ca-key.pem"), "-CAcreateserial", "-days", "2",
                "-extfile", str(c / f"{who}.ext"), "-out", str(c / f"{who}-cert.pem"))
        # DOCKER_CERT_PATH wants ca.pem, cert.pem, key.pem
        shutil.copy(c / "client-cert.pem", c / "cert.pem")
        shutil.copy(c / "client-key.pem", c / "key.pem")

    def _proxy(self) -> None:
        """apt for the engine's builds: a tinyproxy only the namespace can reach."""
        port = 18000 + random.randint(0, 999)
        conf = self.workdir / "tinyproxy.conf"
        conf.write_text(f"Port {port}\nListen {self.host_address}\nTimeout 60\n"
                        f"Allow {self.address}\nLogLevel Warning\nMaxClients 20\n")
        log = (self.workdir / "tinyproxy.log").open("wb")
        self.proxy = subprocess.Popen(["tinyproxy", "-d", "-c", str(conf)], stdout=log,
                                      stderr=log, start_new_session=True)
        self.proxy_url = f"http://{self.host_address}:{port}"
        cfg = self.workdir / "docker-config"
        cfg.mkdir()
        (cfg / "config.json").write_text(json.dumps(
            {"proxies": {"default": {"httpProxy": self.proxy_url,
                                     "httpsProxy": self.proxy_url}}}))

    @property
    def certs(self) -> Path:
        return self.workdir / "certs"

    def _dockerd(self) -> None:
        w = self.workdir
        (w / "daemon.json").write_text("{}")
        c = self.certs
        log = (w / "dockerd.log").open("wb")
        # Short paths: containerd's sockets live under --exec-root (≤ 107 bytes).
        self.exec_root = Path(f"/tmp/cje-{self.tag}")
        # nsenter, not `ip netns exec`: that remounts /sys, hiding the cgroup mounts
        # dockerd needs ("Devices cgroup isn't mounted").
        argv = ["nsenter", f"--net=/var/run/netns/{self.netns}", "dockerd",
                "--config-file", str(w / "daemon.json"),
                "--data-root", str(w / "data"), "--exec-root", str(self.exec_root),
                "--pidfile", str(w / "dockerd.pid"), "--cgroup-parent", f"/cjeng-{self.tag}",
                "-H", self.host, "--tlsverify", "--tlscacert", str(c / "ca.pem"),
                "--tlscert", str(c / "server-cert.pem"), "--tlskey", str(c / "server-key.pem"),
                "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false",
                "--ip-masq=false", "--storage-driver=vfs"]
        self.dockerd = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            p = _sh("docker", "version", "--format", "{{.Server.Version}}", check=False,
                    env=self.env())
            if p.returncode == 0:
                return
            if self.dockerd.poll() is not None or time.monotonic() > deadline:
                text = (w / "dockerd.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the remote dockerd did not come up: {p.stderr}\n{text}")
            time.sleep(0.3)

    def _load_base_image(self) -> None:
        save = subprocess.Popen(["docker", "save", BASE_IMAGE], stdout=subprocess.PIPE,
                                env=self.local_env())
        assert save.stdout is not None
        load = subprocess.run(["docker", "load"], stdin=save.stdout, capture_output=True,
                              env=self.env(), timeout=180, check=False)
        save.stdout.close()
        if save.wait(60) != 0 or load.returncode != 0:
            raise RuntimeError(f"loading {BASE_IMAGE} failed: {load.stderr!r}")

    # ---- using it ----------------------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        """crossjit's environment: this engine and no other."""
        base = {k: v for k, v in os.environ.items()
                if k not in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY",
                             "DOCKER_CERT_PATH")}
        return dict(base, DOCKER_HOST=self.host, DOCKER_TLS_VERIFY="1",
                    DOCKER_CERT_PATH=str(self.certs),
                    DOCKER_CONFIG=str(self.workdir / "docker-config"), **extra)

    @staticmethod
    def local_env() -> dict[str, str]:
        return {k: v for k, v in os.environ.items()
                if k not in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY",
                             "DOCKER_CERT_PATH")}

    def docker(self, *argv: str) -> str:
        return _sh("docker", *argv, env=self.env()).stdout

    def in_ns(self, *argv: str) -> str:
        return _sh("ip", "netns", "exec", self.netns, *argv).stdout

    # ---- teardown ----------------------------------------------------------------------
    def close(self) -> None:
        if self.dockerd is not None and self.dockerd.poll() is None:
            with contextlib.suppress(Exception):
                ids = self.docker("ps", "-aq").split()
                if ids:
                    _sh("docker", "rm", "-f", *ids, env=self.env(), check=False)
            os.killpg(self.dockerd.pid, signal.SIGTERM)
            try:
                self.dockerd.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.dockerd.pid, signal.SIGKILL)
                self.dockerd.wait(10)
        if self.proxy is not None:
            self.proxy.kill()
            self.proxy.wait(10)
        for root in (self.exec_root if hasattr(self, "exec_root") else None,
                     self.workdir / "data"):
            if root is None or not root.exists():
                continue
            # whatever dockerd left mounted (netns files, shm) before removing the tree
            for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
                where = line.split()[1]
                if where.startswith(str(root)):
                    _sh("umount", "-l", where, check=False)
            shutil.rmtree(root, ignore_errors=True)
        for argv in reversed(self._cleanups):
            _sh(*argv, check=False)
        shutil.rmtree(self.certs, ignore_errors=True)

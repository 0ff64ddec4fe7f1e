"""The Docker engine, through docker-py: the only module that imports ``docker``.

docker-py (with requests and urllib3) takes ~0.1 s to import, more than a warm `crossjit
run` spends in total: the two read-only calls on that path — a container's state and
labels, its processes — go to the engine's unix socket directly (``_Lite``: one HTTP GET
each); docker-py is imported when any other call needs it.

A thin adapter: connect (with a message that says how to start an engine), build images
with streamed progress, create/run/find/remove labelled containers, stream archives out
of containers. What to build and how to run it is decided by ``sysroot.py`` and
``executors.py``; this module only speaks to the engine and turns its exceptions into
``ContainerError``.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from crossjit.errors import ContainerError, Progress, quiet
from crossjit.records import field, record


class _LazyDocker:
    """``docker``, imported on first use (then this stand-in is replaced by the module)."""

    def __getattr__(self, name: str) -> Any:
        import docker
        import docker.errors

        globals()["docker"] = docker
        return getattr(docker, name)


docker: Any = _LazyDocker()


def warm_up() -> None:
    """Import docker-py now (the daemon does, before it forks)."""
    docker.errors  # noqa: B018 (the attribute access imports it)

#: every container and image crossjit makes carries this label (`crossjit clean` finds them)
MANAGED = "crossjit.managed"

START_ENGINE_HINT = (
    "start a Docker engine: `sudo scripts/docker-setup.sh` installs docker.io and runs "
    "`dockerd --iptables=false --bridge=none --storage-driver=vfs`, or `sudo systemctl "
    "start docker`; DOCKER_HOST selects another engine. Without Docker, use the local "
    "executor (`executor: local` in the profile)"
)



@contextlib.contextmanager
def _engine_errors(what: str) -> Iterator[None]:
    """docker-py / engine exceptions → ContainerError naming what crossjit was doing."""
    try:
        yield
    except docker.errors.ImageNotFound as exc:
        raise ContainerError(f"{what}: image not found", why=_explain(exc)) from None
    except docker.errors.NotFound as exc:
        raise ContainerError(f"{what}: not found", why=_explain(exc)) from None
    except docker.errors.APIError as exc:
        raise ContainerError(f"{what}: the Docker engine refused", why=_explain(exc)) from None
    except docker.errors.DockerException as exc:
        raise ContainerError(
            f"{what}: cannot talk to the Docker engine", why=str(exc), hint=START_ENGINE_HINT
        ) from None
    except OSError as exc:  # e.g. the engine went away mid-stream
        raise ContainerError(f"{what}: connection to the engine failed", why=str(exc)) from None


def _explain(exc: docker.errors.APIError) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return text.decode() if isinstance(text, bytes) else str(text)


@record(frozen=True)
class ContainerInfo:
    name: str
    id: str
    status: str  # created, running, exited, ...
    image: str
    labels: Mapping[str, str] = field(default_factory=dict)


@record(frozen=True)
class RunSpec:
    """How to run a container; hardening options are explicit, never engine defaults."""

    image: str
    name: str
    command: Sequence[str] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    user: str = "65534:65534"
    network: str = "none"  # "none" or "host"; never a bridge (see docs/containers.md)
    read_only: bool = True
    tmpfs: Mapping[str, str] = field(default_factory=dict)
    cap_drop: Sequence[str] = ("ALL",)
    security_opt: Sequence[str] = ("no-new-privileges:true",)
    pids_limit: int = 128
    mem_limit: str = "1g"
    binds: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # host: (path, mode)
    environment: Mapping[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    cap_add: Sequence[str] = ()  # only SYS_PTRACE, on remote engines (docs/containers.md)
    # docker-init as PID 1 reaps orphans: a session's executor outlives its socat parent,
    # and zombies would count against pids_limit until sessions could not start.
    init: bool = True


class Engine:
    """A connection to one Docker engine."""

    def __init__(self, client: Any = None, lite: _Lite | None = None, timeout: int = 10,
                 *, remote: bool = False, host: str = "") -> None:
        self._docker = client
        self._lite = lite
        self._timeout = timeout
        #: the engine runs on another machine: no host path can be bind-mounted into its
        #: containers and no host pid is ours (``is_remote``)
        self.remote = remote
        #: how the engine was named (DOCKER_HOST, the context's endpoint), for messages
        self.host = host

    @property
    def _client(self) -> Any:
        """docker-py's client, made on first use (the engine answered ``_Lite``'s ping)."""
        if self._docker is None:
            try:
                self._docker = _client_from_env(self._timeout)
            except docker.errors.DockerException as exc:
                raise ContainerError("no Docker engine is answering", why=_why_no_engine(exc),
                                     hint=START_ENGINE_HINT) from None
        return self._docker

    # ---- engine ------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        with _engine_errors("reading the engine's info"):
            info: dict[str, Any] = self._client.info()
        return info

    def version(self) -> str:
        with _engine_errors("reading the engine's version"):
            return str(self._client.version().get("Version", "?"))

    # ---- images ------------------------------------------------------------------------
    def image_id(self, tag: str) -> str | None:
        """The id of image ``tag``, or None when the engine does not have it."""
        try:
            return str(self._client.images.get(tag).id)
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.DockerException as exc:
            raise ContainerError(f"looking up image {tag}", why=str(exc)) from None

    def base_images(self, dockerfile: Path) -> list[str]:
        """``FROM`` images of a Dockerfile with their ids, e.g. ``debian:bookworm-slim@sha256:..``.

        Part of image tags, so that a rebuilt base image (a new debootstrap) means a new
        tag instead of silently reusing images built on the old one.
        """
        stages: set[str] = set()
        out = []
        for line in dockerfile.read_text().splitlines():
            m = re.match(r"\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
            if not m:
                continue
            base, stage = m.group(1), m.group(2)
            if base != "scratch" and base not in stages:
                out.append(f"{base}@{self.image_id(base) or 'absent'}")
            if stage:
                stages.add(stage)
        return out

    def build(
        self,
        context: Path,
        tag: str,
        *,
        buildargs: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        progress: Progress = quiet,
    ) -> str:
        """Build ``context``/Dockerfile as ``tag``; each step is reported; returns the id."""
        tail: list[str] = []
        image_id: str | None = None
        with _engine_errors(f"building image {tag}"):
            # Host networking: these engines have no bridge, and apt must reach Debian.
            stream = self._client.api.build(
                path=str(context),
                tag=tag,
                buildargs=dict(buildargs or {}),
                labels={MANAGED: "1", **(labels or {})},
                network_mode="host",
                rm=True,
                forcerm=True,
                decode=True,
            )
            for chunk in stream:
                if "error" in chunk:
                    raise ContainerError(
                        f"building image {tag} failed",
                        why="\n".join([*tail[-15:], str(chunk["error"]).strip()]),
                        hint=f"the recipe is {context}/Dockerfile",
                    )
                aux = chunk.get("aux")
                if isinstance(aux, dict) and "ID" in aux:
                    image_id = str(aux["ID"])
                for line in str(chunk.get("stream", "")).splitlines():
                    line = line.rstrip()
                    if not line:
                        continue
                    tail.append(line)
                    if re.match(r"Step \d+/\d+ :", line):
                        progress(f"{tag}: {line}")
        return image_id or self.image_id(tag) or tag

    def remove_images(self, label: str = MANAGED) -> list[str]:
        """Remove every image carrying ``label``; the tags (or ids) removed."""
        removed: list[str] = []
        with _engine_errors("listing crossjit's images"):
            images = self._client.images.list(filters={"label": label})
        for image in images:
            names = list(image.tags) or [image.id]
            with contextlib.suppress(docker.errors.NotFound), _engine_errors("removing images"):
                self._client.images.remove(image.id, force=True)
                removed.extend(names)
        return removed

    # ---- containers --------------------------------------------------------------------
    @contextlib.contextmanager
    def created(self, image: str, labels: Mapping[str, str]) -> Iterator[str]:
        """A created (never started) container of ``image``; always removed afterwards."""
        with _engine_errors(f"creating a container of {image}"):
            # Scratch images have no command; a created container never runs it anyway.
            container = self._client.containers.create(
                image,
                command=["/nonexistent"],
                labels={MANAGED: "1", **labels},
                network_mode="none",
            )
        try:
            yield str(container.id)
        finally:
            with contextlib.suppress(docker.errors.DockerException):
                container.remove(force=True)

    def archive(self, container: str, path: str) -> Iterator[bytes] | None:
        """A tar stream of ``path`` in ``container`` (archive API), or None if it is absent."""
        try:
            with _engine_errors(f"exporting {path}"):
                c = self._client.containers.get(container)
                stream, _stat = c.get_archive(path, chunk_size=1 << 20)
        except ContainerError as err:
            if err.what.endswith("not found"):
                return None
            raise
        return _guarded(stream, f"exporting {path}")

    def run(self, spec: RunSpec) -> str:
        """Start a detached container per ``spec``; its id."""
        with (
            _engine_errors(f"starting container {spec.name}"),
            _removed_on_failure(self._client, spec.name),
        ):
            container = self._client.containers.run(
                spec.image,
                command=list(spec.command) if spec.command else None,
                name=spec.name,
                detach=True,
                labels={MANAGED: "1", **spec.labels},
                user=spec.user,
                network_mode=spec.network,
                read_only=spec.read_only,
                tmpfs=dict(spec.tmpfs),
                cap_drop=list(spec.cap_drop),
                cap_add=list(spec.cap_add) or None,
                security_opt=list(spec.security_opt),
                pids_limit=spec.pids_limit,
                mem_limit=spec.mem_limit,
                volumes={host: {"bind": p, "mode": m} for host, (p, m) in spec.binds.items()},
                environment=dict(spec.environment),
                working_dir=spec.working_dir,
                init=spec.init,
                stdin_open=False,
                tty=False,
            )
        return str(container.id)

    def find(self, labels: Mapping[str, str] | None = None) -> list[ContainerInfo]:
        """Containers (running or not) with crossjit's label and ``labels``."""
        wanted = [MANAGED + "=1", *(f"{k}={v}" for k, v in (labels or {}).items())]
        with _engine_errors("listing containers"):
            found = self._client.containers.list(all=True, filters={"label": wanted})
        return [self._info(c) for c in found]

    def get(self, name: str) -> ContainerInfo | None:
        if self._lite is not None:
            status, attrs = self._lite.get(f"/containers/{quote(name, safe='')}/json",
                                           f"looking up container {name}")
            if status == 404:
                return None
            state, config = attrs.get("State") or {}, attrs.get("Config") or {}
            return ContainerInfo(name=str(attrs.get("Name", name)).lstrip("/"),
                                 id=str(attrs.get("Id", "")), status=str(state.get("Status")),
                                 image=str(config.get("Image", "")),
                                 labels=dict(config.get("Labels") or {}))
        try:
            return self._info(self._client.containers.get(name))
        except docker.errors.NotFound:
            return None
        except docker.errors.DockerException as exc:
            raise ContainerError(f"looking up container {name}", why=str(exc)) from None

    def inspect(self, name: str) -> dict[str, Any]:
        """``docker inspect`` of a container."""
        with _engine_errors(f"inspecting {name}"):
            attrs: dict[str, Any] = self._client.api.inspect_container(name)
        return attrs

    def logs(self, name: str, tail: int | None = None) -> bytes:
        with _engine_errors(f"reading the logs of {name}"):
            c = self._client.containers.get(name)
            out: bytes = c.logs(stdout=True, stderr=True, tail=tail if tail else "all")
        return out

    def processes(self, name: str) -> list[tuple[int, int, str]]:
        """(host pid, host parent pid, command line) of each process in the container."""
        what = f"listing the processes of {name}"
        if self._lite is not None:
            status, top = self._lite.get(
                f"/containers/{quote(name, safe='')}/top?ps_args=-eo%20pid,ppid,args", what)
            if status != 200:
                raise ContainerError(f"{what}: the Docker engine refused",
                                     why=str(top.get("message", status)))
        else:
            with _engine_errors(what):
                top = self._client.containers.get(name).top(ps_args="-eo pid,ppid,args")
        titles = [t.upper() for t in top.get("Titles") or []]
        pid_at = titles.index("PID") if "PID" in titles else 0
        ppid_at = titles.index("PPID") if "PPID" in titles else 1
        cmd_at = len(titles) - 1
        return [
            (int(row[pid_at]), int(row[ppid_at]), str(row[cmd_at]))
            for row in top.get("Processes") or []
        ]

    def remove(self, name: str, timeout: int = 2) -> bool:
        """Stop (SIGTERM, then SIGKILL after ``timeout`` s) and remove; False if absent."""
        try:
            c = self._client.containers.get(name)
        except docker.errors.NotFound:
            return False
        with _engine_errors(f"removing container {name}"):
            with contextlib.suppress(docker.errors.APIError):
                c.stop(timeout=timeout)
            c.remove(force=True)
        return True

    @staticmethod
    def _info(c: Any) -> ContainerInfo:
        tags = c.attrs.get("Config", {}).get("Image", "")
        return ContainerInfo(
            name=str(c.name),
            id=str(c.id),
            status=str(c.status),
            image=str(tags),
            labels=dict(c.labels or {}),
        )


@contextlib.contextmanager
def _removed_on_failure(client: Any, name: str) -> Iterator[None]:
    """A container that was created but could not start must not linger."""
    try:
        yield
    except docker.errors.APIError:
        with contextlib.suppress(docker.errors.DockerException):
            client.containers.get(name).remove(force=True)
        raise


def _guarded(stream: Iterator[bytes], what: str) -> Iterator[bytes]:
    with _engine_errors(what):
        yield from stream


def connect(timeout: int = 10) -> Engine:
    """The engine named by DOCKER_HOST or the current docker context (default: the local
    socket), checked with a ping."""
    path = _local_socket()
    if path is not None:
        lite = _Lite(path, timeout)
        try:
            lite.ping()
        except OSError as exc:
            why = ("the engine's socket does not exist (is dockerd running?)"
                   if isinstance(exc, FileNotFoundError) else exc.strerror or str(exc))
            raise ContainerError("no Docker engine is answering", why=why,
                                 hint=START_ENGINE_HINT) from None
        return Engine(None, lite, timeout, remote=is_remote(f"unix://{path}"),
                      host=f"unix://{path}")
    try:
        client = _client_from_env(timeout)
        client.ping()
    except docker.errors.DockerException as exc:
        raise ContainerError(
            "no Docker engine is answering",
            why=_why_no_engine(exc),
            hint=START_ENGINE_HINT,
        ) from None
    host = os.environ.get("DOCKER_HOST") or str(getattr(client.api, "base_url", "") or "")
    endpoint = _context_endpoint()
    if endpoint is not None:
        host = endpoint[0]
    return Engine(client, remote=is_remote(host), host=host)


def is_remote(host: str) -> bool:
    """Whether the engine at ``host`` (a DOCKER_HOST-style URL) is on another machine.

    A unix socket is this machine's engine; tcp:// and ssh:// (also to a loopback
    address: that is how a forwarded remote engine looks) are another machine's, whose
    containers cannot see this host's files or pids. CROSSJIT_DOCKER_REMOTE=1 or 0 says
    it explicitly (a unix socket forwarded from elsewhere, a tcp engine on this host)."""
    forced = os.environ.get("CROSSJIT_DOCKER_REMOTE", "").strip().lower()
    if forced in ("1", "yes", "true"):
        return True
    if forced in ("0", "no", "false"):
        return False
    return not (host.startswith("unix://") or host.startswith("http+unix://")
                or host.startswith("npipe://"))


def _context_endpoint() -> tuple[str, Any] | None:
    """(host, TLS config) of the current docker context when it is not the default one:
    DOCKER_CONTEXT, or ``currentContext`` in $DOCKER_CONFIG/config.json, as the docker CLI
    reads them. docker-py's ``from_env`` looks at DOCKER_HOST only. None: no context."""
    if os.environ.get("DOCKER_HOST"):
        return None  # DOCKER_HOST wins over contexts, as for the CLI
    name = os.environ.get("DOCKER_CONTEXT") or _current_context_name()
    if not name or name == "default":
        return None
    from docker.context import ContextAPI

    ctx = ContextAPI.get_context(name)
    if ctx is None:
        raise ContainerError(f"no docker context {name!r}",
                             hint="list them with `docker context ls`")
    return str(ctx.Host), ctx.TLSConfig


def _current_context_name() -> str | None:
    """``currentContext`` of the docker CLI's config.json, read without docker-py (whose
    import the hot path avoids)."""
    import json

    folder = os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            name = json.load(f).get("currentContext")
    except (OSError, ValueError, AttributeError):
        return None
    return str(name) if name else None


def _client_from_env(timeout: int) -> Any:
    """docker-py's client for DOCKER_HOST (+ DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) or the
    current docker context."""
    endpoint = _context_endpoint()
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (set on many machines) override
    # the session's CA — the engine's own ca.pem from DOCKER_CERT_PATH — and then refuses
    # the engine's certificate; nor should HTTPS_PROXY reroute the engine's API. Hidden
    # while the client asks the engine's version, ignored (trust_env) afterwards.
    with _without_env("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTPS_PROXY", "https_proxy"):
        if endpoint is None:
            # ssh://: the user's OpenSSH client (config, agent, known_hosts), not paramiko
            ssh = os.environ.get("DOCKER_HOST", "").startswith("ssh://")
            client = docker.from_env(timeout=timeout, use_ssh_client=ssh)
        else:
            host, tls = endpoint
            client = docker.DockerClient(base_url=host, tls=tls or False, timeout=timeout,
                                         use_ssh_client=host.startswith("ssh://"))
    if str(client.api.base_url).startswith("https://"):
        client.api.trust_env = False
    return client


@contextlib.contextmanager
def _without_env(*names: str) -> Iterator[None]:
    saved = {n: os.environ.pop(n) for n in names if n in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _why_no_engine(exc: Exception) -> str:
    text = str(exc)
    m = re.search(r"\((\w*Error)\((?:\d+, )?'([^']*)'\)\)", text)
    if "FileNotFoundError" in text or "No such file" in text:
        return "the engine's socket does not exist (is dockerd running?)"
    if m:
        return m.group(2)
    return text


# --- the engine's own API, for the read-only calls of the hot path -------------------------


def _local_socket() -> str | None:
    """The engine's unix socket when DOCKER_HOST names one (or none is set); None for
    tcp/ssh engines and contexts, which docker-py handles (TLS, SSH, ...)."""
    if os.environ.get("DOCKER_CONTEXT"):
        return None
    host = os.environ.get("DOCKER_HOST")
    if not host:
        if (_current_context_name() or "default") != "default":
            return None  # the current docker context names the engine
        host = "unix:///var/run/docker.sock"
    return host.removeprefix("unix://") if host.startswith("unix://") else None


class _Lite:
    """HTTP/1.1 GETs over the engine's unix socket (Connection: close, read to EOF)."""

    def __init__(self, path: str, timeout: float) -> None:
        self.path, self.timeout = path, timeout

    def ping(self) -> None:
        status, _ = self._request("/_ping")
        if status != 200:
            raise OSError(f"the engine answered {status} to a ping")

    def get(self, url: str, what: str) -> tuple[int, Any]:
        """(HTTP status, decoded JSON body); any failure is a ContainerError on ``what``."""
        import json

        try:
            status, body = self._request(url)
            return status, json.loads(body) if body.strip() else {}
        except (OSError, ValueError) as exc:
            raise ContainerError(f"{what}: connection to the engine failed",
                                 why=str(exc)) from None

    def _request(self, url: str) -> tuple[int, bytes]:
        import socket

        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            sock.connect(self.path)
            sock.sendall(f"GET {url} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
                         .encode())
            data = bytearray()
            while chunk := sock.recv(1 << 16):
                data += chunk
        head, sep, body = bytes(data).partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        if not sep or len(parts) < 2 or not parts[1].isdigit():
            raise OSError(f"not an HTTP answer: {lines[0][:80]!r}")
        fields = (h.partition(":") for h in lines[1:])
        headers = {k.strip().lower(): v.strip() for k, _, v in fields}
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = _dechunk(body)
        return int(parts[1]), body


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    while True:
        size_line, sep, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16) if sep else 0
        if size == 0:
            return bytes(out)
        out += rest[:size]
        body = rest[size + 2:]

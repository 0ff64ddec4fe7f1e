"""Profile validation: YAML → pydantic models → ``model.Profile``. The only pydantic user.

Loaded only when a profile is not in the cache (``profile.load_profile``): a profile
file that validated before is read back without pydantic or yaml.

pydantic is used because its errors carry a precise location (a key path) for every
problem at once, which is what lets each message name ``file:line`` and the key path,
and because frozen models with shorthand normalisation cost a few lines each.

Every problem of a profile is reported together, sorted by line, in one ProfileError::

    profiles/bad.yaml:7: executor.dlopn: unknown key; did you mean 'dlopen'?

The format is documented in docs/profiles.md.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    StringConstraints,
    Tag,
    ValidationError,
)

from crossjit.errors import ProfileError
from crossjit.project import model, recipes, targetspec, yamldoc
from crossjit.project.model import ALLOWED_TRANSPORTS, DEFAULT_TRANSPORT, fetch_ref
from crossjit.project.yamldoc import KeyPath, dotted

DOCS_HINT = "every key is described in docs/profiles.md"


def _matching(pattern: str, expected: str, *, lower: bool = False) -> AfterValidator:
    """A string check whose message says what is expected rather than a regex."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        value = value.lower() if lower else value
        if not compiled.fullmatch(value):
            raise ValueError(f"expected {expected}")
        return value

    return AfterValidator(check)


Name = Annotated[str, _matching(r"[A-Za-z0-9][A-Za-z0-9._-]*", "a name of letters, digits, . _ -")]
Sha256 = Annotated[str, _matching(r"[0-9a-f]{64}", "a sha256 of 64 hex digits", lower=True)]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
AbsPath = Annotated[str, _matching(r"/.*", "an absolute path")]


def _scalar_to_str(value: Any) -> Any:
    # YAML turns `PORT: 8000` or `-DNDEBUG: 1` into ints; users mean the text.
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    return value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str | dict) else value


Text = Annotated[str, BeforeValidator(_scalar_to_str)]
Strings = Annotated[tuple[str, ...], BeforeValidator(_one_or_many)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- target ------------------------------------------------------------------------------


def _check_feature(value: str) -> str:
    if not re.fullmatch(r"[+-][A-Za-z0-9_.-]+", value):
        raise ValueError("a CPU feature is +NAME or -NAME (e.g. +avx2)")
    return value


class Target(_Model):
    """What code is generated for."""

    triple: Annotated[
        str,
        _matching(r"[A-Za-z0-9_.]+(-[A-Za-z0-9_.]+){1,3}", "ARCH-OS[-ENV], e.g. x86_64-linux-musl"),
    ]
    cpu: str | None = None
    features: tuple[Annotated[str, AfterValidator(_check_feature)], ...] = ()

    @property
    def arch(self) -> str:
        return self.triple.split("-", 1)[0]


# --- sysroot -----------------------------------------------------------------------------


def _sysroot_shorthand(value: Any) -> Any:
    # `sysroot: debian-musl` names a recipe; anything path-like is a directory.
    if isinstance(value, str):
        looks_like_path = "/" in value or value.startswith((".", "~"))
        return {"path": value} if looks_like_path else {"recipe": value}
    return value


class Sysroot(_Model):
    """A recipe from images/sysroot/ (built by `crossjit sysroot build`) or a directory."""

    recipe: Name | None = None
    path: NonEmpty | None = None
    packages: tuple[Annotated[str, _matching(r"[a-z0-9][a-z0-9+.-]+", "a package name")], ...] = ()


# --- executor ----------------------------------------------------------------------------

Variant = Literal["musl", "debian", "alpine", "local"]
Transport = Literal["auto", "unix", "stdio", "spawn"]


def _port_shorthand(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return {"host": value, "container": value}
    if isinstance(value, str):
        host, sep, container = value.partition(":")
        return {"host": host, "container": container if sep else host}
    return value


def _mount_shorthand(value: Any) -> Any:
    if isinstance(value, str):
        host, sep, container = value.rpartition(":")
        return {"host": host, "container": container} if sep else {"host": value}
    return value


PortNumber = Annotated[int, Field(ge=1, le=65535)]


class Port(_Model):
    host: PortNumber
    container: PortNumber


class Mount(_Model):
    """A host directory mounted read-only into the executor container."""

    host: NonEmpty
    container: AbsPath


def _freeze_env(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


def _executor_shorthand(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("ssh:"):
        return {"ssh": value.removeprefix("ssh:")}
    return {"variant": value} if isinstance(value, str) else value


SshDestination = Annotated[str, _matching(
    r"(?:[A-Za-z0-9._][A-Za-z0-9._-]*@)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9._-]*)"
    r"(?::[0-9]{1,5})?", "[USER@]HOST[:PORT] (HOST may be a Host alias of your ssh config)")]


class Executor(_Model):
    """Where the program runs."""

    variant: Variant = "musl"
    ssh: SshDestination | None = None  # a device reached with OpenSSH (docs/targets.md)
    transport: Transport = "auto"
    dlopen: Strings = ()
    ports: tuple[Annotated[Port, BeforeValidator(_port_shorthand)], ...] = ()
    env: Annotated[Mapping[str, Text], AfterValidator(_freeze_env)] = Field(
        default_factory=lambda: MappingProxyType({})
    )
    workdir: AbsPath | None = None
    mounts: tuple[Annotated[Mount, BeforeValidator(_mount_shorthand)], ...] = ()
    # Container folder where a self-signed cert.pem + key.pem (made at the first start,
    # kept in the cache) are mounted read-only, for programs that serve HTTPS.
    tls: AbsPath | None = None

    @property
    def channel(self) -> str:
        """The transport actually used: ``auto`` resolved for the variant."""
        return DEFAULT_TRANSPORT[self.variant] if self.transport == "auto" else self.transport


# --- fleet targets -----------------------------------------------------------------------


def _fleet_shorthand(value: Any) -> Any:
    return {"executor": value} if isinstance(value, str) else value


def _check_fleet_spec(value: str) -> str:
    try:
        targetspec.parse(value)
    except targetspec.BadTargetSpec as exc:
        raise ValueError(str(exc)) from None
    return value


class FleetTarget(_Model):
    """One entry of ``targets:``: where `crossjit run` also runs the program."""

    executor: Annotated[str, AfterValidator(_check_fleet_spec)]
    name: Name | None = None
    target: Annotated[str, _matching(r"[A-Za-z0-9_.]+(-[A-Za-z0-9_.]+){1,3}",
                                     "ARCH-OS[-ENV], e.g. aarch64-linux-musl")] | None = None


# --- fetched sources -----------------------------------------------------------------------


class GitSource(_Model):
    """A git repository pinned by commit (the tag is checked to point at it)."""

    git: NonEmpty
    commit: Annotated[
        str, _matching(r"[0-9a-f]{40}", "a full commit id (40 hex digits)", lower=True)
    ]
    tag: NonEmpty | None = None
    subpath: str = ""

    @property
    def pin(self) -> str:
        return self.commit


class ArchiveSource(_Model):
    """A .tar.* or .zip archive downloaded from a URL, pinned by sha256."""

    url: NonEmpty
    sha256: Sha256
    version: Text | None = None
    subpath: str = ""

    @property
    def pin(self) -> str:
        return self.sha256


class PypiSource(_Model):
    """A PyPI source distribution ``name==version``, pinned by sha256."""

    pypi: Annotated[str, _matching(r"[A-Za-z0-9._-]+==[A-Za-z0-9._+!-]+", "NAME==VERSION")]
    sha256: Sha256
    subpath: str = ""

    @property
    def pin(self) -> str:
        return self.sha256

    @property
    def project(self) -> str:
        return self.pypi.partition("==")[0]

    @property
    def version(self) -> str:
        return self.pypi.partition("==")[2]


def _fetch_kind(value: Any) -> str | None:
    if isinstance(value, Mapping):
        for key, tag in (("git", "<git>"), ("pypi", "<pypi>"), ("url", "<archive>")):
            if key in value:
                return tag
    return None


# Tags are in angle brackets so they never collide with keys when locating errors.
FetchSpec = Annotated[
    Annotated[GitSource, Tag("<git>")]
    | Annotated[ArchiveSource, Tag("<archive>")]
    | Annotated[PypiSource, Tag("<pypi>")],
    Discriminator(
        _fetch_kind,
        custom_error_type="fetch_kind",
        custom_error_message="a fetched source needs one of the keys 'git', 'url' or 'pypi'",
    ),
]


# --- the profile -------------------------------------------------------------------------


def _launcher_words(value: Any) -> Any:
    """``ccache`` or ``distcc -j4`` (split like a shell) or a list of words."""
    if isinstance(value, str):
        import shlex

        try:
            return tuple(shlex.split(value))
        except ValueError as exc:
            raise ValueError(f"cannot split into words: {exc}") from None
    return value


def _defines(value: Any) -> Any:
    if isinstance(value, Mapping):
        return [k if v is None else f"{k}={_scalar_to_str(v)}" for k, v in value.items()]
    return _one_or_many(value)


def _check_define(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\(.*\))?(=.*)?", value, flags=re.S):
        raise ValueError("a define is NAME or NAME=VALUE")
    return value


class Profile(_Model):
    """A validated project profile. Paths are kept as written; see ``sources.py``."""

    name: Name
    # No `target:` key: this host's triple (the code runs in a local executor as is).
    target: Target = Field(default_factory=lambda: Target(triple=_host_triple()))
    sysroot: Annotated[Sysroot, BeforeValidator(_sysroot_shorthand)] | None = None
    # None: the local executor, when the target can run on this host (with a warning).
    executor: Annotated[Executor, BeforeValidator(_executor_shorthand)] | None = None
    fetch: Annotated[Mapping[Name, FetchSpec], AfterValidator(_freeze_env)] = Field(
        default_factory=lambda: MappingProxyType({})
    )
    sources: Annotated[tuple[NonEmpty, ...], BeforeValidator(_one_or_many), Field(min_length=1)]
    include: Strings = ()
    defines: Annotated[
        tuple[Annotated[str, AfterValidator(_check_define)], ...], BeforeValidator(_defines)
    ] = ()
    cflags: Strings = ()
    libs: Strings = ()  # -l NAME: static archives linked, shared libraries dlopened
    lib_dirs: Strings = ()  # -L DIR, relative to the profile's directory
    # ccache, sccache, distcc ...: put before every clang command (docs/profiles.md)
    compiler_launcher: Annotated[tuple[NonEmpty, ...], BeforeValidator(_launcher_words)] = ()
    opt: Annotated[int, Field(ge=0, le=3)] = 0
    debug: bool = False
    # `run --watch` patches edits into the running program instead of restarting it
    # (docs/watch.md, "--live"); the same as passing --live.
    live: bool = False
    args: Annotated[tuple[Text, ...], BeforeValidator(_one_or_many)] = ()
    # `crossjit run` runs the program on each of these at once (docs/targets.md, fleets).
    targets: tuple[Annotated[FleetTarget, BeforeValidator(_fleet_shorthand)], ...] = ()

    _file: Path = PrivateAttr(default=Path("<memory>"))
    _lines: Mapping[KeyPath, int] = PrivateAttr(default_factory=dict)

    @property
    def file(self) -> Path:
        return self._file

    @property
    def base_dir(self) -> Path:
        """Relative paths in the profile are relative to the profile's own directory."""
        return self._file.parent

    def where(self, *path: str | int) -> str:
        """``file:line`` of a key path, for messages about the profile's contents."""
        return f"{self._file}:{yamldoc.Document(self._file, None, self._lines).line_of(path)}"


def _host_triple() -> str:
    from crossjit.project.plan import host_triple

    return host_triple()


# --- loading -----------------------------------------------------------------------------


def validate(file: Path) -> model.Profile:
    """Read and validate ``file``; every problem is reported in one ProfileError."""
    profile = _convert(_load(file))
    assert isinstance(profile, model.Profile)
    return profile


def _convert(value: Any) -> Any:
    """A validated pydantic model → the ``model`` dataclass of the same name."""
    if isinstance(value, BaseModel):
        cls = getattr(model, type(value).__name__)
        fields = {name: _convert(getattr(value, name)) for name in type(value).model_fields}
        if isinstance(value, Profile):
            fields.update(file=value.file, lines=MappingProxyType(dict(value._lines)),
                          host_target="target" not in value.model_fields_set)
        return cls(**fields)
    if isinstance(value, tuple):
        return tuple(_convert(v) for v in value)
    if isinstance(value, Mapping):
        return model.frozen_map({k: _convert(v) for k, v in value.items()})
    return value


def _load(file: Path) -> Profile:
    doc = yamldoc.load(file)
    if not isinstance(doc.data, dict):
        raise ProfileError(
            f"{file}:1: a profile is a mapping of keys (name, target, sources, ...)",
            hint=DOCS_HINT,
        )
    problems: list[tuple[int, str]] = []
    profile: Profile | None = None
    try:
        profile = Profile.model_validate(doc.data)
    except ValidationError as exc:
        problems = [_describe(doc, err) for err in exc.errors()]
    if profile is not None:
        profile._file = file
        profile._lines = doc.lines
        problems = [
            (doc.line_of(path), f"{dotted(path)}: {msg}") for path, msg in _semantics(profile)
        ]
    if problems:
        lines = [f"{file}:{line}: {msg}" for line, msg in sorted(set(problems))]
        n = len(lines)
        raise ProfileError(
            f"profile {file} is invalid ({n} problem{'s' if n != 1 else ''})",
            why="\n".join(lines),
            hint=DOCS_HINT,
        )
    assert profile is not None
    return profile


def _semantics(profile: Profile) -> list[tuple[KeyPath, str]]:
    """Checks across keys, which pydantic field validators cannot place on a line."""
    out: list[tuple[KeyPath, str]] = []
    sysroot = profile.sysroot
    if sysroot is not None:
        if (sysroot.recipe is None) == (sysroot.path is None):
            out.append((("sysroot",), "give exactly one of 'recipe' or 'path'"))
        elif sysroot.packages and sysroot.path is not None:
            out.append((("sysroot", "packages"), "packages only apply to a recipe"))
        elif sysroot.recipe is not None:
            known = recipes.sysroot_recipes()
            if known and sysroot.recipe not in known:
                out.append((("sysroot",), _unknown("sysroot recipe", sysroot.recipe, known)))
    ex = profile.executor
    if ex is not None and ex.channel not in ALLOWED_TRANSPORTS[ex.variant]:
        allowed = ", ".join(sorted(ALLOWED_TRANSPORTS[ex.variant]))
        out.append(
            (
                ("executor", "transport"),
                f"the {ex.variant} executor supports {allowed}, not {ex.transport}",
            )
        )
    if ex is not None and ex.ssh is not None:
        for key in ("variant", "transport", "ports", "mounts", "tls"):
            if key in ex.model_fields_set:
                out.append((("executor", key), f"{key} does not apply to an ssh executor "
                            "(crossjit-executor runs on the device, over the SSH connection)"))
    elif ex is not None and ex.variant == "local" and (ex.ports or ex.mounts or ex.tls):
        out.append((("executor",), "ports, mounts and tls only apply to container executors"))
    out += _fleet_semantics(profile.targets)
    refs = [("sources", i, s) for i, s in enumerate(profile.sources)]
    refs += [("include", i, s) for i, s in enumerate(profile.include)]
    for key, i, text in refs:
        ref = fetch_ref(text)
        if ref is not None and ref not in profile.fetch:
            out.append(((key, i), _unknown("fetched source", ref, list(profile.fetch))))
    return out


def _fleet_semantics(targets: tuple[FleetTarget, ...]) -> list[tuple[KeyPath, str]]:
    """A target's triple must agree with its spec; names (given or derived) are unique."""
    out: list[tuple[KeyPath, str]] = []
    seen: dict[str, int] = {}
    for i, t in enumerate(targets):
        try:
            spec = targetspec.parse(t.executor, name=t.name, triple=t.target)
        except targetspec.BadTargetSpec as exc:
            out.append((("targets", i, "target"), str(exc)))
            continue
        if spec.name in seen:
            key: KeyPath = ("targets", i, "name") if t.name else ("targets", i)
            out.append((key, f"target name {spec.name!r} is also entry {seen[spec.name]}'s; "
                        "give one of them a `name:`"))
        seen.setdefault(spec.name, i)
    return out


def _unknown(what: str, value: str, known: list[str]) -> str:
    msg = f"unknown {what} {value!r}"
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
    if close:
        return f"{msg}; did you mean {close[0]!r}?"
    return f"{msg} (known: {', '.join(known)})" if known else msg


def _describe(doc: yamldoc.Document, err: Any) -> tuple[int, str]:
    """A pydantic error → (line, 'key.path: message')."""
    loc: tuple[str | int, ...] = err["loc"]
    path = tuple(p for p in loc if not (isinstance(p, str) and p.startswith(("<", "function"))))
    kind: str = err["type"]
    if kind == "extra_forbidden":
        key = str(path[-1])
        fields = _fields_at(loc[:-1])
        close = difflib.get_close_matches(key, fields, n=1, cutoff=0.6)
        msg = "unknown key" + (
            f"; did you mean {close[0]!r}?"
            if close
            else f" (allowed: {', '.join(fields)})"
            if fields
            else ""
        )
    elif kind == "missing":
        msg = "required key is missing"
    elif kind == "literal_error" and isinstance(err.get("input"), str):
        choices = re.findall(r"'([^']*)'", err["ctx"]["expected"])
        msg = _unknown("value", err["input"], choices)
    else:
        msg = err["msg"]
        msg = msg[0].lower() + msg[1:] if msg else kind
        msg = msg.removeprefix("value error, ")
        if "input" in err and not isinstance(err["input"], dict | list):
            msg += f" (got {err['input']!r})"
    return doc.line_of(path), f"{dotted(path) or 'top level'}: {msg}"


def _fields_at(loc: tuple[str | int, ...]) -> list[str]:
    """The keys the model at ``loc`` accepts, found by walking the type annotations."""
    tp: Any = Profile
    for part in loc:
        tp = _strip(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return []
            tp = field.annotation
            continue
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (tuple, list) and isinstance(part, int):
            tp = args[0]
        elif origin in (dict, Mapping, typing.Mapping) or origin is Mapping:
            tp = args[1]
        elif origin in (typing.Union, types.UnionType):
            tp = next((a for a in args if _tag(a) == part), None)
            if tp is None:
                return []
        else:
            return []
    tp = _strip(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def _strip(tp: Any) -> Any:
    """Remove Annotated wrappers and a trailing ``| None``."""
    while True:
        if typing.get_origin(tp) is Annotated:
            tp = typing.get_args(tp)[0]
            continue
        args = typing.get_args(tp)
        if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
            rest = [a for a in args if a is not type(None)]
            if len(rest) == 1:
                tp = rest[0]
                continue
        return tp


def _tag(tp: Any) -> str | None:
    if typing.get_origin(tp) is Annotated:
        for meta in typing.get_args(tp)[1:]:
            if isinstance(meta, Tag):
                return meta.tag
    return None

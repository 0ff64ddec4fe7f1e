"""Profile validation: every error names file, line and key path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from crossjit.errors import ProfileError
from crossjit.project.profile import GitSource, PypiSource, load_profile
from crossjit.project.sources import resolve

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    f = tmp_path / name
    f.write_text(textwrap.dedent(text).lstrip("\n"))
    return f


def problems(f: Path) -> list[str]:
    with pytest.raises(ProfileError) as info:
        load_profile(f)
    assert info.value.why is not None, info.value.render()
    return info.value.why.splitlines()


MINIMAL = """
name: demo
target: {triple: x86_64-linux-musl}
sources: [a.c]
"""


def test_minimal_profile_defaults(tmp_path: Path) -> None:
    p = load_profile(write(tmp_path, MINIMAL))
    assert p.name == "demo"
    assert p.target.triple == "x86_64-linux-musl"
    assert p.target.arch == "x86_64"
    assert p.sources == ("a.c",)
    assert (p.opt, p.debug, p.args, p.executor, p.sysroot) == (0, False, (), None, None)
    assert p.file == tmp_path / "p.yaml"
    assert p.base_dir == tmp_path


def test_model_is_frozen(tmp_path: Path) -> None:
    p = load_profile(write(tmp_path, MINIMAL + "executor: {env: {A: b}}\n"))
    with pytest.raises(Exception, match="frozen"):
        p.name = "other"
    assert p.executor is not None
    with pytest.raises(TypeError):
        p.executor.env["A"] = "c"  # type: ignore[index]


def test_shorthands_are_normalised(tmp_path: Path) -> None:
    f = write(
        tmp_path,
        """
        name: demo
        target: {triple: x86_64-linux-gnu, features: [+avx2, -sse4a]}
        sysroot: debian-glibc
        executor:
          variant: debian
          dlopen: libz.so
          ports: [8000, "9000:90"]
          env: {PORT: 8000, DEBUG: true}
          mounts: ["./data:/data"]
          workdir: /data
        sources: main.c
        include: inc
        defines: {NDEBUG: null, LEVEL: 2}
        cflags: -Wall
        args: [1, two]
        opt: 2
        debug: true
        """,
    )
    p = load_profile(f)
    assert p.sysroot is not None and p.sysroot.recipe == "debian-glibc"
    ex = p.executor
    assert ex is not None
    assert ex.dlopen == ("libz.so",)
    assert [(x.host, x.container) for x in ex.ports] == [(8000, 8000), (9000, 90)]
    assert dict(ex.env) == {"PORT": "8000", "DEBUG": "1"}
    assert [(m.host, m.container) for m in ex.mounts] == [("./data", "/data")]
    assert ex.channel == "stdio"
    assert p.sources == ("main.c",)
    assert p.include == ("inc",)
    assert p.defines == ("NDEBUG", "LEVEL=2")
    assert p.cflags == ("-Wall",)
    assert p.args == ("1", "two")


def test_sysroot_path_shorthand(tmp_path: Path) -> None:
    p = load_profile(write(tmp_path, MINIMAL + "sysroot: ./my-sysroot\n"))
    assert p.sysroot is not None and (p.sysroot.path, p.sysroot.recipe) == ("./my-sysroot", None)


def test_unknown_keys_did_you_mean_with_line_and_path(tmp_path: Path) -> None:
    f = write(
        tmp_path,
        """
        name: demo
        target:
          triple: x86_64-linux-musl
          featurs: [+avx2]
        executor:
          variant: musl
          dlopn: [libz.so]
        sources: [a.c]
        optimise: 2
        """,
    )
    assert problems(f) == [
        f"{f}:4: target.featurs: unknown key; did you mean 'features'?",
        f"{f}:7: executor.dlopn: unknown key; did you mean 'dlopen'?",
        f"{f}:9: optimise: unknown key (allowed: name, target, sysroot, executor, fetch, "
        "sources, include, defines, cflags, libs, lib_dirs, compiler_launcher, opt, debug, "
        "live, args, targets)",
    ]


def test_bad_values_name_their_line(tmp_path: Path) -> None:
    f = write(
        tmp_path,
        """
        name: demo
        target:
          triple: x86_64
        executor:
          variant: musle
          ports: ["80:abc"]
          mounts: ["x:relative"]
        sources: [a.c]
        defines: ["9lives"]
        opt: 5
        """,
    )
    assert problems(f) == [
        f"{f}:3: target.triple: expected ARCH-OS[-ENV], e.g. x86_64-linux-musl (got 'x86_64')",
        f"{f}:5: executor.variant: unknown value 'musle'; did you mean 'musl'?",
        f"{f}:6: executor.ports[0].container: input should be a valid integer, unable to "
        "parse string as an integer (got 'abc')",
        f"{f}:7: executor.mounts[0].container: expected an absolute path (got 'relative')",
        f"{f}:9: defines[0]: a define is NAME or NAME=VALUE (got '9lives')",
        f"{f}:10: opt: input should be less than or equal to 3 (got 5)",
    ]


def test_missing_required_keys(tmp_path: Path) -> None:
    f = write(tmp_path, "name: demo\ntarget:\n  cpu: znver3\n")
    assert problems(f) == [
        f"{f}:1: sources: required key is missing",
        f"{f}:2: target.triple: required key is missing",
    ]


def test_fetch_entries(tmp_path: Path) -> None:
    sha = "8c0ec19752d493702c566735a28918f1b81a756197f78e4931c566dbad849a8f"
    f = write(
        tmp_path,
        f"""
        name: demo
        target: {{triple: x86_64-linux-musl}}
        fetch:
          mongoose:
            pypi: cymongoose==0.2.5
            sha256: {sha.upper()}
            subpath: thirdparty/mongoose
          lib:
            git: https://example.org/lib.git
            tag: v1.0
            commit: {"ab" * 20}
        sources: ["@mongoose/mongoose.c", "@lib/src/*.c"]
        include: ["@mongoose"]
        """,
    )
    p = load_profile(f)
    mg, lib = p.fetch["mongoose"], p.fetch["lib"]
    assert isinstance(mg, PypiSource) and isinstance(lib, GitSource)
    assert (mg.project, mg.version, mg.sha256) == ("cymongoose", "0.2.5", sha)
    assert lib.pin == "ab" * 20


def test_fetch_errors(tmp_path: Path) -> None:
    f = write(
        tmp_path,
        """
        name: demo
        target: {triple: x86_64-linux-musl}
        fetch:
          a:
            pypi: cymongoose
            sha25: abc
          b: {tarball: x}
          c: {url: "https://example.org/x.tgz", sha256: nothex}
        sources: [x.c]
        """,
    )
    assert problems(f) == [
        f"{f}:4: fetch.a.sha256: required key is missing",
        f"{f}:5: fetch.a.pypi: expected NAME==VERSION (got 'cymongoose')",
        f"{f}:6: fetch.a.sha25: unknown key; did you mean 'sha256'?",
        f"{f}:7: fetch.b: a fetched source needs one of the keys 'git', 'url' or 'pypi'",
        f"{f}:8: fetch.c.sha256: expected a sha256 of 64 hex digits (got 'nothex')",
    ]


def test_cross_key_checks(tmp_path: Path) -> None:
    f = write(
        tmp_path,
        """
        name: demo
        target: {triple: x86_64-linux-gnu}
        sysroot: debian-glibcc
        executor: {variant: debian, transport: unix}
        fetch:
          mongoose: {pypi: a==1, sha256: "%s"}
        sources: ["@mongose/mongoose.c"]
        """
        % ("0" * 64),
    )
    assert problems(f) == [
        f"{f}:3: sysroot: unknown sysroot recipe 'debian-glibcc'; did you mean 'debian-glibc'?",
        f"{f}:4: executor.transport: the debian executor supports stdio, not unix",
        f"{f}:7: sources[0]: unknown fetched source 'mongose'; did you mean 'mongoose'?",
    ]


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    f = write(tmp_path, "name: demo\ntarget: [unclosed\nsources: [a.c]\n")
    with pytest.raises(ProfileError, match=rf"^error: {f}:3: not valid YAML"):
        load_profile(f)


def test_duplicate_key(tmp_path: Path) -> None:
    f = write(tmp_path, MINIMAL + "name: again\n")
    with pytest.raises(
        ProfileError, match=rf"{f}:4: name: duplicate key \(first defined on line 1\)"
    ):
        load_profile(f)


def test_not_a_mapping_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="is a mapping of keys"):
        load_profile(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ProfileError, match="cannot read profile"):
        load_profile(tmp_path / "nope.yaml")


def test_missing_sources_name_their_line(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "b.c").write_text("")
    (tmp_path / "src" / "a.c").write_text("")
    f = write(
        tmp_path,
        """
        name: demo
        target: {triple: x86_64-linux-musl}
        sources:
          - src/*.c
          - gone.c
          - lib/*.c
        include: [src, inc]
        """,
    )
    p = load_profile(f)
    with pytest.raises(ProfileError) as info:
        resolve(p, {})
    assert info.value.why is not None
    assert info.value.why.splitlines() == [
        f"{f}:5: sources[1]: 'gone.c' does not exist",
        f"{f}:6: sources[2]: 'lib/*.c' matches no file",
        f"{f}:7: include[1]: 'inc' is not a directory",
    ]
    (tmp_path / "gone.c").write_text("")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "x.c").write_text("")
    (tmp_path / "inc").mkdir()
    paths = resolve(p, {})
    assert [s.relative_to(tmp_path).as_posix() for s in paths.sources] == [
        "src/a.c",
        "src/b.c",
        "gone.c",
        "lib/x.c",
    ]


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "profiles").glob("*.yaml")))
def test_shipped_profiles_are_valid(name: str) -> None:
    p = load_profile(REPO / "profiles" / name)
    resolve(p, {})


def test_executor_tls(tmp_path: Path) -> None:
    p = load_profile(write(tmp_path, MINIMAL + "executor: {variant: musl, tls: /srv/tls}\n"))
    assert p.executor is not None and p.executor.tls == "/srv/tls"
    local = write(tmp_path, MINIMAL + "executor: {variant: local, tls: /srv/tls}\n", "l.yaml")
    assert problems(local) == [
        f"{local}:4: executor: ports, mounts and tls only apply to container executors"]
    relative = write(tmp_path, MINIMAL + "executor: {tls: srv/tls}\n", "r.yaml")
    [line] = problems(relative)
    assert line.startswith(f"{relative}:4: executor.tls: ")

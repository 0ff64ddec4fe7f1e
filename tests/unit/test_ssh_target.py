"""The pure parts of SSH devices and compiler launchers: specs, options, choices, profiles."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from crossjit.compile import toolchain
from crossjit.errors import NotSupportedError, ProfileError, ToolchainError, UsageError
from crossjit.project.plan import plan_profile
from crossjit.project.profile import load_profile
from crossjit.targets import ssh
from crossjit.targets.base import TargetInfo


@pytest.mark.parametrize(("text", "host", "user", "port"), [
    ("ssh:board", "board", None, None),
    ("ssh:pi@board", "board", "pi", None),
    ("ssh:pi@10.0.0.7:2222", "10.0.0.7", "pi", 2222),
    ("ssh:[fe80::1]:22", "fe80::1", None, 22),
    ("ssh:[::1]", "::1", None, None),
])
def test_address_parse(text: str, host: str, user: str | None, port: int | None) -> None:
    a = ssh.Address.parse(text)
    assert (a.host, a.user, a.port) == (host, user, port)
    assert ssh.Address.parse(str(a)) == a


@pytest.mark.parametrize("text", ["ssh:", "ssh:-oProxyCommand=x", "ssh:a b", "ssh:h:0",
                                  "ssh:h:99999", "ssh:@h", "ssh:h;rm", "ssh:[::1]x"])
def test_bad_addresses_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError) as info:
        ssh.Address.parse(text)
    assert "ssh:[USER@]HOST[:PORT]" in (info.value.hint or "")


@pytest.mark.parametrize("options", [
    "-o StrictHostKeyChecking=no", "-oStrictHostKeyChecking=off",
    "-o UserKnownHostsFile=/dev/null", "-o 'StrictHostKeyChecking no'",
])
def test_options_may_not_disable_host_key_checking(options: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROSSJIT_SSH_OPTIONS", options)
    with pytest.raises(UsageError, match="host-key checking"):
        ssh.ssh_command()


def test_ssh_command_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROSSJIT_SSH_OPTIONS", "-o BatchMode=no -v")
    monkeypatch.setenv("CROSSJIT_SSH_CONFIG", "/etc/my ssh config")
    argv = ssh.ssh_command()
    # the user's options come first: for ssh the first value of an option wins
    assert argv[1:6] == ["-o", "BatchMode=no", "-v", "-F", "/etc/my ssh config"]
    assert "BatchMode=yes" in argv[6:]
    assert not any("StrictHostKeyChecking" in a for a in argv)


@pytest.mark.parametrize(("ldd", "loaders", "libc"), [
    ("ldd (Debian GLIBC 2.36-9+deb12u14) 2.36", ["/lib/ld-musl-x86_64.so.1"], "glibc"),
    ("musl libc (x86_64)", [], "musl"),
    ("sh: ldd: not found", ["/lib/ld-musl-aarch64.so.1"], "musl"),
    ("", ["/lib64/ld-linux-x86-64.so.2"], "glibc"),
    ("", [], "none"),
])
def test_libc_of_the_device(ldd: str, loaders: list[str], libc: str) -> None:
    assert ssh._libc_of(ldd, loaders, "x86_64") == libc


def _device(arch: str, libc: str, loaders: tuple[str, ...] = ()) -> ssh.SshDevice:
    dev = ssh.SshDevice(ssh.Address("board"))
    triple = ssh._build_for(arch, libc)[1]
    dev._probe = ssh._Probe(TargetInfo(arch, libc, 4096, triple), "/c", "/r", frozenset(),
                            loaders)
    return dev


def test_executor_build_choice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, _ in ssh.BUILDS.values():
        (tmp_path / name).write_bytes(b"x")
    monkeypatch.setenv("CROSSJIT_EXECUTOR_BUILD", str(tmp_path))
    glibc = _device("x86_64", "glibc", ("/lib/ld-musl-x86_64.so.1",))
    assert glibc.executor_build(None)[0].name == "crossjit-executor-glibc"
    assert glibc.executor_build("x86_64-linux-musl") == (
        tmp_path / "crossjit-executor-musl", "x86_64-pc-linux-musl")
    no_musl = _device("x86_64", "glibc")
    assert no_musl.executor_build("x86_64-linux-musl")[0].name == \
        "crossjit-executor-musl-static"
    arm = _device("aarch64", "glibc")
    assert arm.executor_build(None)[0].name == "crossjit-executor-aarch64-musl-static"
    with pytest.raises(UsageError, match="does not match the device"):
        glibc.executor_build("aarch64-linux-musl")
    with pytest.raises(NotSupportedError, match="no glibc"):
        _device("x86_64", "musl").executor_build("x86_64-linux-gnu")


def test_session_command_quotes_everything() -> None:
    dev = ssh.SshDevice.from_spec("ssh:board", env=[("A", "x y'z")], workdir="/data dir")
    cmd = dev.session_command("/home/u/.cache/crossjit/executors/abc", "/r/s.sock",
                              check=True)
    assert cmd.splitlines() == [
        "[ -x /home/u/.cache/crossjit/executors/abc ] || { rm -f /r/s.sock; exit 124; }",
        "cd '/data dir' || { rm -f /r/s.sock; exit 125; }",
        "A='x y'\"'\"'z'; export A",
        "/home/u/.cache/crossjit/executors/abc connect=/r/s.sock quiet; s=$?; "
        "rm -f /r/s.sock; exit $s",
    ]
    with pytest.raises(UsageError):
        ssh.SshDevice.from_spec("ssh:board", env=[("A;B", "1")])


def _profile(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "p.yaml"
    f.write_text(textwrap.dedent(text).lstrip("\n"))
    return f


def test_profile_ssh_executor(tmp_path: Path) -> None:
    p = load_profile(_profile(tmp_path, """
        name: demo
        target: {triple: aarch64-linux-musl}
        sources: [a.c]
        compiler_launcher: ccache
        executor:
          ssh: pi@board:2222
          env: {A: 1}
          workdir: /srv
        """))
    assert p.executor is not None and p.executor.ssh == "pi@board:2222"
    plan = plan_profile(p, sources=(), include_dirs=(), sysroot=None, dlopen=(), args=None)
    assert plan.executor.spec == "ssh:pi@board:2222"
    assert (plan.executor.env, plan.executor.workdir) == ((("A", "1"),), "/srv")
    assert plan.build.launcher == ("ccache",)
    short = load_profile(_profile(tmp_path, """
        name: demo
        target: {triple: x86_64-linux-gnu}
        sources: [a.c]
        executor: ssh:board
        compiler_launcher: [distcc, -j4]
        """))
    assert short.executor is not None and short.executor.ssh == "board"
    assert short.compiler_launcher == ("distcc", "-j4")


def test_profile_ssh_errors_name_lines(tmp_path: Path) -> None:
    f = _profile(tmp_path, """
        name: demo
        target: {triple: x86_64-linux-gnu}
        sources: [a.c]
        executor:
          ssh: "bad host!"
          variant: musl
          ports: [8000]
        """)
    with pytest.raises(ProfileError) as info:
        load_profile(f)
    assert info.value.why is not None
    assert f"{f}:5: executor.ssh: expected [USER@]HOST[:PORT]" in info.value.why
    f = _profile(tmp_path, """
        name: demo
        target: {triple: x86_64-linux-gnu}
        sources: [a.c]
        executor:
          ssh: board
          variant: musl
          ports: [8000]
        """)
    with pytest.raises(ProfileError) as info:
        load_profile(f)
    lines = (info.value.why or "").splitlines()
    assert lines == [
        f"{f}:6: executor.variant: variant does not apply to an ssh executor (crossjit-"
        "executor runs on the device, over the SSH connection)",
        f"{f}:7: executor.ports: ports does not apply to an ssh executor (crossjit-"
        "executor runs on the device, over the SSH connection)",
    ]


def test_launcher_env_overrides_and_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    opts = toolchain.CompileOptions(target="x86_64-linux-gnu", launcher=("sh", "-e"))
    monkeypatch.delenv(toolchain.LAUNCHER_ENV, raising=False)
    assert toolchain.launcher_argv(opts) == ("sh", "-e")
    monkeypatch.setenv(toolchain.LAUNCHER_ENV, "")
    assert toolchain.launcher_argv(opts) == ()
    monkeypatch.setenv(toolchain.LAUNCHER_ENV, "env 'A=1 2'")
    assert toolchain.launcher_argv(opts) == ("env", "A=1 2")
    monkeypatch.setenv(toolchain.LAUNCHER_ENV, "no-such-launcher-here")
    with pytest.raises(ToolchainError, match="not installed"):
        toolchain.launcher_argv(opts)


def test_launcher_is_not_in_the_compile_argv() -> None:
    """The bitcode cache key is built from compile_argv: a launcher must not be in it."""
    comp = toolchain.Compiler(("/usr/bin/clang",), ("/usr/bin/clang++",), "clang version 16",
                              16, "test")
    a = toolchain.CompileOptions(target="x86_64-linux-gnu")
    b = toolchain.CompileOptions(target="x86_64-linux-gnu", launcher=("ccache",))
    assert toolchain.compile_argv(comp, Path("s.c"), Path("o"), a) == \
        toolchain.compile_argv(comp, Path("s.c"), Path("o"), b)

"""Fleet target specs, a profile's `targets:` (errors with file:line:key), choosing
targets, and --compare's verdict (pure code; the real fleet runs in
tests/integration/test_fleet.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossjit.errors import ProfileError, UsageError
from crossjit.project import targetspec
from crossjit.project.profile import load_profile
from crossjit.run import fleet
from crossjit.run.fleet import Report, Result


def _profile(tmp_path: Path, targets: str) -> Path:
    f = tmp_path / "p.yaml"
    f.write_text(f"name: demo\nsources: [a.c]\ntargets:\n{targets}")
    return f


@pytest.mark.parametrize(("text", "name", "kind", "executor", "triple"), [
    ("local", "local", "local", None, None),
    ("local:aarch64-linux-musl", "aarch64-linux-musl", "local", None, "aarch64-linux-musl"),
    ("musl", "musl", "docker", "docker:musl", None),
    ("docker:cj-one", "cj-one", "docker", "docker:cj-one", None),
    ("ssh:pi@board:2222", "pi@board:2222", "ssh", "ssh:pi@board:2222", None),
    ("tcp:127.0.0.1:7000", "127.0.0.1:7000", "tcp", "tcp:127.0.0.1:7000", None),
    ("spawn:qemu-aarch64 -L /r /b/crossjit-executor-aarch64-glibc",
     "crossjit-executor-aarch64-glibc", "spawn",
     "spawn:qemu-aarch64 -L /r /b/crossjit-executor-aarch64-glibc", None),
])
def test_specs_and_their_names(text: str, name: str, kind: str, executor: str | None,
                               triple: str | None) -> None:
    s = targetspec.parse(text)
    assert (s.name, s.kind, s.executor, s.triple) == (name, kind, executor, triple)
    assert targetspec.parse(s.text) == s  # its text says the same again


@pytest.mark.parametrize("text", ["", "bogus:x", "ssh:", "ssh:a b", "tcp:host", "tcp:h:99999",
                                  "local:notatriple", "docker:"])
def test_bad_specs_say_what_is_expected(text: str) -> None:
    with pytest.raises(targetspec.BadTargetSpec):
        targetspec.parse(text)


def test_cli_items_names_commas_and_repeats() -> None:
    items = targetspec.split_cli(["local,musl=docker:musl", " ssh:dev "])
    assert items == ["local", "musl=docker:musl", "ssh:dev"]
    assert targetspec.parse_cli("arm=local:aarch64-linux-musl").name == "arm"
    # a spawn spec's key=value words are not a NAME=
    assert targetspec.parse_cli("spawn:/x/exe listen=1").kind == "spawn"
    names = [s.name for s in targetspec.unique_names(
        [targetspec.parse("local"), targetspec.parse("local"), targetspec.parse("musl")])]
    assert names == ["local", "local#2", "musl"]


def test_profile_targets_shorthand_and_mapping(tmp_path: Path) -> None:
    p = load_profile(_profile(tmp_path, "  - local\n  - {name: arm, executor: local, "
                                        "target: aarch64-linux-musl}\n  - ssh:dev\n"))
    specs = fleet.profile_targets(p)
    assert [(s.name, s.executor, s.triple) for s in specs] == [
        ("local", None, None), ("arm", None, "aarch64-linux-musl"), ("dev", "ssh:dev", None)]


def test_bad_target_entries_name_file_line_and_key(tmp_path: Path) -> None:
    f = _profile(tmp_path, "  - local\n  - bogus:x\n  - {executor: musl, name: 'a b'}\n"
                           "  - {executor: musl, colour: red}\n")
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    why = err.value.why or ""
    assert f"{f}:5: targets[1].executor: 'bogus:x' is not a target" in why
    assert f"{f}:6: targets[2].name: expected a name" in why
    assert f"{f}:7: targets[3].colour: unknown key" in why


def test_duplicate_names_and_conflicting_triples(tmp_path: Path) -> None:
    f = _profile(tmp_path, "  - musl\n  - docker:musl\n"
                           "  - {executor: 'local:aarch64-linux-gnu', target: x86_64-linux-gnu}\n")
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    why = err.value.why or ""
    assert f"{f}:5: targets[1]: target name 'musl' is also entry 0's" in why
    assert f"{f}:6: targets[2].target: 'local:aarch64-linux-gnu' and target " in why


def test_choose_by_profile_name_or_spec(tmp_path: Path) -> None:
    p = load_profile(_profile(tmp_path, "  - {name: arm, executor: 'local:aarch64-linux-musl'}\n"))
    assert [s.name for s in fleet.choose(p, [])] == ["arm"]
    assert [s.name for s in fleet.choose(p, ["arm,local"])] == ["arm", "local"]
    with pytest.raises(UsageError) as err:
        fleet.choose(p, ["nope"])
    assert "profile's targets: arm" in (err.value.hint or "")


def _result(name: str, out: bytes, status: int | None = 0, error: str | None = None
            ) -> Result:
    return Result(name, name, "x86_64-linux-gnu", status=status, stdout=out, error=error)


def test_compare_takes_the_majority_and_diffs_the_rest() -> None:
    rs = [_result("a", b"x\n"), _result("b", b"y\n"), _result("c", b"y\n"),
          _result("d", b"y\n", 3), _result("e", b"", None, "error: down")]
    report = Report(rs, compared=True)
    fleet.compare(report)
    assert report.reference == "b"
    assert [r.target for r in report.disagreeing] == ["a", "d"]
    assert "--- b (reference)\n+++ a\n" in rs[0].diff and "-y\n+x\n" in rs[0].diff
    assert rs[3].diff == "exit status: b 0, d 3\n"
    assert rs[4].agrees is None and [r.target for r in report.failed] == ["e"]
    assert not report.ok


def test_compare_tie_goes_to_the_first_target_and_agreement_is_ok() -> None:
    rs = [_result("a", b"1\n"), _result("b", b"2\n")]
    report = Report(rs, compared=True)
    fleet.compare(report)
    assert report.reference == "a" and [r.target for r in report.disagreeing] == ["b"]
    same = Report([_result("a", b"1", 4), _result("b", b"1", 4)], compared=True)
    fleet.compare(same)
    assert same.ok  # with --compare, agreeing on a non-zero status is success
    assert not Report([_result("a", b"1", 4)], compared=False).ok


def test_normal_triples_ignore_the_vendor() -> None:
    assert fleet.normal_triple("x86_64-pc-linux-gnu") == "x86_64-linux-gnu"
    assert fleet.normal_triple("aarch64-linux-musl") == "aarch64-linux-musl"


def test_run_target_override_keeps_cpu_on_the_same_arch_only(tmp_path: Path) -> None:
    from crossjit.project.plan import plan_profile

    f = tmp_path / "p.yaml"
    f.write_text("name: demo\nsources: [a.c]\ntarget: {triple: x86_64-linux-gnu, cpu: znver3, "
                 "features: [+avx2]}\n")
    p = load_profile(f)

    def build(triple: str) -> tuple[str, str, str]:
        b = plan_profile(p, sources=(), include_dirs=(), sysroot=None, dlopen=(), args=None,
                         target_override=triple).build
        return b.target, b.cpu, b.features

    assert build("x86_64-linux-musl") == ("x86_64-linux-musl", "znver3", "+avx2")
    assert build("aarch64-linux-musl") == ("aarch64-linux-musl", "", "")

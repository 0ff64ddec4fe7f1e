"""``spawn:`` specs with an emulator in front of the executor (qemu-user)."""

from __future__ import annotations

import pytest

from crossjit.errors import UsageError
from crossjit.orc.client import ExecutorSpec, split_wrapper


def test_qemu_wrapper_with_options_is_split_off() -> None:
    s = ExecutorSpec.parse("spawn:qemu-aarch64-static -L /r -strace /r/exe listen=x")
    assert s.wrapper == ("qemu-aarch64-static", "-L", "/r", "-strace")
    assert s.path == "/r/exe"
    assert s.args == ("listen=x",)
    assert str(s) == "spawn:qemu-aarch64-static -L /r -strace /r/exe listen=x"


def test_wrapper_path_is_recognised_by_basename_only() -> None:
    assert split_wrapper(["/usr/bin/qemu-aarch64", "exe"]) == (("/usr/bin/qemu-aarch64",),
                                                               ["exe"])
    assert split_wrapper(["/opt/executor", "-L", "x"]) == ((), ["/opt/executor", "-L", "x"])


def test_plain_spawn_spec_has_no_wrapper() -> None:
    s = ExecutorSpec.parse("spawn:/bin/exe a b")
    assert (s.wrapper, s.path, s.args) == ((), "/bin/exe", ("a", "b"))


def test_wrapper_without_an_executor_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as ei:
        ExecutorSpec.parse("spawn:qemu-aarch64-static -L /r")
    assert "needs the executor's path" in str(ei.value.why)

"""Reply and gather: the answers of calls in flight together (pure code)."""

from __future__ import annotations

import pytest

from crossjit.orc.client import Reply, gather


def test_reply_fetches_once_and_keeps_its_value_or_error() -> None:
    calls: list[int] = []

    def fetch() -> int:
        calls.append(1)
        return 5

    r = Reply(fetch)
    assert (r.get(), r.get(), len(calls)) == (5, 5, 1)

    def fail() -> int:
        calls.append(2)
        raise ValueError("no")

    bad = Reply(fail)
    for _ in range(2):
        with pytest.raises(ValueError, match="no"):
            bad.get()
    assert calls == [1, 2]


def test_gather_waits_for_every_reply_then_raises_the_first_error() -> None:
    order: list[str] = []

    def answer(name: str, error: bool = False) -> Reply[str]:
        def fetch() -> str:
            order.append(name)
            if error:
                raise RuntimeError(name)
            return name
        return Reply(fetch)

    assert gather([answer("a"), answer("b")]) == ["a", "b"]
    order.clear()
    with pytest.raises(RuntimeError, match=r"^first$"):
        gather([answer("ok"), answer("first", True), answer("second", True), answer("last")])
    assert order == ["ok", "first", "second", "last"]

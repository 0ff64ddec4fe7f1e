"""A profile's own container through the Target interface (targets/base.py ``Place``,
targets/container.py) on the real engine: ``running`` starts it for a block and removes
it afterwards, leaves a running one alone, ``keep`` keeps it; ``up``/``down``/
``is_running``; sessions open in it. Container and profile names are this module's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crossjit.project.profile import load_profile
from crossjit.targets.container import Container, config_of, profile_container
from tests.integration import containers_env as env

pytestmark = pytest.mark.integration
NAME = "axis-place"


@pytest.fixture
def place(tmp_path: Path) -> Iterator[Container]:
    env.require_debian_base()
    env.require_musl_executor_binary()
    env.musl_sysroot()
    profile = tmp_path / "p.yaml"
    (tmp_path / "m.c").write_text("int main(void) { return 0; }\n")
    profile.write_text(f"name: {NAME}\ntarget:\n  triple: x86_64-linux-musl\n"
                       "executor: musl\nsources: m.c\n")
    target = profile_container(config_of(load_profile(profile)))
    target.down()  # a leftover of an interrupted run
    yield target
    target.down()


def test_running_starts_it_for_the_block_and_removes_it(place: Container) -> None:
    assert place.name == f"crossjit-{NAME}" and not place.is_running()
    said: list[str] = []
    with place.running(said.append):
        assert place.is_running()
        with place.session() as client:  # and sessions open in it
            assert client.info.triple == "x86_64-pc-linux-musl"
    assert not place.is_running()
    assert env.engine().get(place.name) is None  # removed, not just stopped
    assert any(line.startswith(f"starting {place.name}") for line in said), said


def test_running_leaves_a_running_one_and_keep_keeps_it(place: Container) -> None:
    with place.running(keep=True):
        pass
    assert place.is_running()  # kept
    first = env.engine().get(place.name)
    assert first is not None
    with place.running():  # already running: used as it is, and not removed
        pass
    again = env.engine().get(place.name)
    assert again is not None and again.id == first.id
    assert place.down() is True
    assert not place.is_running() and place.down() is False

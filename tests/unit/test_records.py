# mypy: ignore-errors
# (classes declared through a decorator chosen at run time: nothing for mypy to check)
"""crossjit.records against dataclasses, behaviour by behaviour: each case declares the
same class both ways and compares what the two do."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys
from typing import Any, ClassVar

import pytest

from crossjit import records

rec: Any = records  # the run-time records (to mypy they are the dataclasses ones)


def kinds(**options: object) -> list[tuple[Any, Any]]:
    """(module, decorator) twice: dataclasses' and records'."""
    return [(dataclasses, dataclasses.dataclass(**options)),
            (rec, rec.record(**options))]


@pytest.mark.parametrize("options", [{}, {"frozen": True}, {"slots": True},
                                     {"frozen": True, "slots": True}, {"eq": False}])
def test_init_defaults_repr_eq_hash_match_dataclasses(options: dict[str, bool]) -> None:
    seen = []
    for lib, deco in kinds(**options):
        @deco
        class Point:
            x: int
            y: int = 2
            tags: list[str] = lib.field(default_factory=list)
            note: str = lib.field(default="n", repr=False, compare=False)
            kind: ClassVar[str] = "point"

        a, b, c = Point(1), Point(1, 2, ["t"], note="other"), Point(x=1, y=3)
        hashable = Point.__hash__ is not None
        seen.append((repr(a), repr(b), a == Point(1), a == Point(1, note="z"), a == c,
                     a == (1, 2), a.tags is not Point(1).tags, Point.kind,
                     hashable and hash(Point(1, tags=())) == hash(Point(1, note="x", tags=())),
                     Point.__match_args__, hasattr(a, "__dict__")))
        with pytest.raises(TypeError):
            Point()
        with pytest.raises(TypeError):
            Point(1, 2, [], "n", "extra")
    assert seen[0] == seen[1]


def test_frozen_refuses_assignment_and_deletion() -> None:
    for lib, deco in kinds(frozen=True, slots=True) + kinds(frozen=True):
        @deco
        class Frozen:
            a: int

        f = Frozen(1)
        with pytest.raises(AttributeError) as assigned:
            f.a = 2
        with pytest.raises(AttributeError) as deleted:
            del f.a
        assert isinstance(assigned.value, lib.FrozenInstanceError)
        assert isinstance(deleted.value, lib.FrozenInstanceError)
        assert str(assigned.value) == "cannot assign to field 'a'" and f.a == 1


def test_inherited_fields_come_first_and_replace_keeps_the_rest() -> None:
    seen = []
    for lib, deco in kinds(frozen=True):
        @deco
        class Base:
            target: str
            opt: int = 2

        @deco
        class Child(Base):
            cpu: str = ""
            jobs: int = lib.field(default_factory=lambda: 4)

        c = Child("x86_64", cpu="znver")
        r = lib.replace(c, opt=3)
        with pytest.raises(TypeError):
            lib.replace(c, nope=1)
        seen.append((repr(c), repr(r), r.jobs, r.cpu, c.opt, isinstance(c, Base),
                     "cpu" in vars(Child)))
    assert seen[0] == seen[1]


def test_asdict_converts_nested_records_and_containers() -> None:
    seen = []
    for lib, deco in kinds(frozen=True):
        @deco
        class Inner:
            n: int

        @deco
        class Outer:
            inner: Inner
            items: tuple[Inner, ...]
            table: dict[str, list[Inner]]

        value = Outer(Inner(1), (Inner(2),), {"k": [Inner(3)]})
        seen.append(lib.asdict(value))
        with pytest.raises(TypeError):
            lib.asdict(Inner)  # a class, not an instance
    assert seen[0] == seen[1] == {"inner": {"n": 1}, "items": ({"n": 2},),
                                  "table": {"k": [{"n": 3}]}}


def test_post_init_explicit_methods_and_hash_rules() -> None:
    seen = []
    for _lib, deco in kinds() + kinds(frozen=True):
        @deco
        class Custom:
            a: int

            def __post_init__(self) -> None:
                object.__setattr__(self, "b", self.a * 2)

            def __repr__(self) -> str:
                return "custom"

        @deco
        class ExplicitHash:
            a: int

            def __hash__(self) -> int:
                return 7

        seen.append((Custom(2).b, repr(Custom(2)), Custom.__hash__ is None,
                     hash(ExplicitHash(1))))
    assert seen[0] == seen[1]  # mutable
    assert seen[2] == seen[3]  # frozen


@pytest.mark.parametrize("options", [{}, {"frozen": True}, {"slots": True},
                                     {"frozen": True, "slots": True}])
def test_pickle_and_copy_round_trip(options: dict[str, bool]) -> None:
    obj = globals()[_picklable_name(options)](1, ["a"])
    for clone in (pickle.loads(pickle.dumps(obj)), copy.copy(obj), copy.deepcopy(obj)):
        assert clone == obj and type(clone) is type(obj) and clone.items == ["a"]


def _picklable_name(options: dict[str, bool]) -> str:
    return "Picklable" + "".join(k.title() for k, v in sorted(options.items()) if v)


for _options in ({}, {"frozen": True}, {"slots": True}, {"frozen": True, "slots": True}):
    _name = _picklable_name(_options)
    globals()[_name] = rec.record(**_options)(type(_name, (), {
        "__annotations__": {"n": "int", "items": "list[str]"}, "__module__": __name__,
        "__qualname__": _name}))


def test_misuse_is_refused_as_dataclasses_refuse_it() -> None:
    for lib, deco in kinds():
        with pytest.raises(ValueError):
            @deco
            class MutableDefault:
                items: list[int] = []  # noqa: RUF012

        with pytest.raises(TypeError):
            @deco
            class Order:
                a: int = 1
                b: int

        with pytest.raises(ValueError):
            lib.field(default=1, default_factory=int)


def test_unsupported_options_are_refused_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match="order"):
        rec.record(order=True)
    with pytest.raises(TypeError, match="init"):
        rec.field(init=False)
    with pytest.raises(TypeError, match="InitVar"):
        @rec.record
        class WithInitVar:
            a: dataclasses.InitVar[int]
    with pytest.raises(TypeError, match="frozen"):
        @rec.record(frozen=True)
        class Child(rec.record(type("Base", (), {"__annotations__": {"a": "int"}}))):
            b: int = 0


def test_importing_records_does_not_import_dataclasses() -> None:
    probe = ("import sys, crossjit.records as r\n"
             "@r.record(frozen=True, slots=True)\nclass A:\n    a: int\n"
             "assert A(1) == A(1)\n"
             "print('dataclasses' in sys.modules, 'inspect' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.split() == ["False", "False"]

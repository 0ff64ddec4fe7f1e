"""Records: the dataclasses crossjit declares, at a fraction of their start-up cost.

Why not ``dataclasses.dataclass`` itself: it compiles five or six generated methods per
class and computes an ``inspect.signature`` for each class's docstring — ~0.3 ms a class
here, ~15 ms for the classes a cold ``crossjit jit`` defines, plus ~6 ms importing
``dataclasses`` (and with it ``inspect``, ``ast``, ``dis``, ``tokenize``): a third of the
command's start-up (docs/benchmarks.md, "Start-up"). ``record`` compiles only ``__init__``
(as fast to call as the generated one) and shares one ``__repr__``, ``__eq__``, ``__hash__``
and frozen guard between all records.

To type checkers ``record``, ``field``, ``replace`` and ``FrozenInstanceError`` *are* the
dataclasses ones, so mypy checks fields, defaults, frozen-ness and ``replace()`` calls
exactly as for dataclasses. At run time the subset crossjit uses behaves as dataclasses'
(tests/unit/test_records.py compares them behaviour by behaviour): ``frozen``, ``slots``
and ``eq``; ``field``'s ``default``, ``default_factory``, ``repr`` and ``compare``;
inheriting a record's fields; ``__post_init__``; ``replace``; ``asdict``; pickling and
``copy``. The rest (``order``, ``kw_only``, ``InitVar``, ``init=False`` …) is refused
with a TypeError when the class is defined, so a new need shows at import, never as a
wrong behaviour.
Two deliberate differences: a frozen record refuses every assignment (dataclasses lets a
non-record subclass set attributes that are not fields), and ``dataclasses``' own
functions do not take records (``records.replace`` and ``records.asdict`` do).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["FrozenInstanceError", "asdict", "field", "record", "replace"]

if TYPE_CHECKING:
    from dataclasses import FrozenInstanceError, asdict, field, replace
    from dataclasses import dataclass as record
else:
    from operator import attrgetter

    class FrozenInstanceError(AttributeError):
        """Assigning to (or deleting) a field of a frozen record."""

    _MISSING = object()
    _FACTORY = object()  # __init__'s default for a field with a default_factory

    class _Field:
        __slots__ = ("compare", "default", "default_factory", "name", "repr")

        def __init__(self, default, default_factory, repr, compare):
            if default is not _MISSING and default_factory is not _MISSING:
                raise ValueError("cannot specify both default and default_factory")
            self.name = ""
            self.default = default
            self.default_factory = default_factory
            self.repr = repr
            self.compare = compare

    def field(*, default=_MISSING, default_factory=_MISSING, repr=True,
              compare=True, **unsupported):
        if unsupported:
            raise TypeError(f"records: field({', '.join(unsupported)}=…) is not supported")
        return _Field(default, default_factory, repr, compare)

    def record(cls=None, /, *, frozen=False, slots=False, eq=True, **unsupported):
        if unsupported:
            raise TypeError(f"records: record({', '.join(unsupported)}=…) is not supported")

        def wrap(cls):
            return _process(cls, frozen, slots, eq)

        return wrap if cls is None else wrap(cls)

    def replace(obj, /, **changes):
        fields = getattr(type(obj), "__record_fields__", None)
        if fields is None:
            raise TypeError("replace() should be called on record instances")
        names = {f.name for f in fields}
        for name in changes:
            if name not in names:
                raise TypeError(f"{type(obj).__qualname__}.__init__() got an unexpected "
                                f"keyword argument {name!r}")
        kw = {f.name: getattr(obj, f.name) for f in fields if f.name not in changes}
        return type(obj)(**kw, **changes)

    def asdict(obj):
        """A record as a dict, records, lists, tuples and dicts inside converted too."""
        if getattr(type(obj), "__record_fields__", None) is None:
            raise TypeError("asdict() should be called on record instances")
        return _as_plain(obj)

    def _as_plain(value):
        fields = getattr(type(value), "__record_fields__", None)
        if fields is not None:
            return {f.name: _as_plain(getattr(value, f.name)) for f in fields}
        if isinstance(value, (list, tuple)):
            return type(value)(_as_plain(v) for v in value)
        if isinstance(value, dict):
            return {_as_plain(k): _as_plain(v) for k, v in value.items()}
        return value

    _UNSUPPORTED_ANNOTATIONS = ("InitVar", "dataclasses.InitVar", "KW_ONLY",
                                "dataclasses.KW_ONLY")

    def _process(cls, frozen, slots, eq):
        fields = {}
        for base in reversed(cls.__mro__[1:]):
            base_fields = base.__dict__.get("__record_fields__")
            if base_fields is None:
                continue
            if base.__dict__["__record_frozen__"] != frozen:
                kind = ("frozen", "non-frozen") if frozen else ("non-frozen", "frozen")
                raise TypeError(f"cannot inherit {kind[0]} record {cls.__qualname__} "
                                f"from a {kind[1]} one")
            for f in base_fields:
                fields[f.name] = f
        # Not inspect.get_annotations: inspect is what this module exists not to import.
        own_annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
        for name, annotation in own_annotations.items():
            text = annotation if isinstance(annotation, str) else repr(annotation)
            if text.startswith(("ClassVar", "typing.ClassVar")):
                continue
            if text.startswith(_UNSUPPORTED_ANNOTATIONS):
                raise TypeError(f"records: {cls.__qualname__}.{name}: {text} is not supported")
            value = cls.__dict__.get(name, _MISSING)
            if isinstance(value, _Field):
                f = value
                if f.default is _MISSING:
                    delattr(cls, name)  # as dataclasses: no class attribute for a factory
                else:
                    setattr(cls, name, f.default)
            else:
                f = _Field(value, _MISSING, True, True)
            if f.default.__class__ in (list, dict, set):
                raise ValueError(f"mutable default {type(f.default)} for field {name} is "
                                 f"not allowed: use default_factory")
            f.name = name
            fields[name] = f
        all_fields = tuple(fields.values())
        _check_default_order(all_fields)

        cls.__record_fields__ = all_fields
        cls.__record_frozen__ = frozen
        cls.__match_args__ = tuple(fields)
        own = cls.__dict__
        if "__init__" not in own:
            cls.__init__ = _make_init(cls, all_fields, frozen)
        if "__repr__" not in own:
            cls.__record_repr__ = tuple(f.name for f in all_fields if f.repr)
            cls.__repr__ = _repr
        compared = [f.name for f in all_fields if f.compare]
        cls.__record_key__ = attrgetter(*compared) if compared else _no_key
        class_hash = own.get("__hash__", _MISSING)
        explicit_hash = not (class_hash is _MISSING
                             or (class_hash is None and "__eq__" in own))
        if eq and "__eq__" not in own:
            cls.__eq__ = _eq
        if eq and not explicit_hash:
            cls.__hash__ = _hash if frozen else None
        if frozen:
            if "__setattr__" in own or "__delattr__" in own:
                raise TypeError(f"cannot overwrite attribute __setattr__ or __delattr__ "
                                f"in frozen record {cls.__qualname__}")
            cls.__setattr__ = _refuse_set
            cls.__delattr__ = _refuse_del
        return _with_slots(cls, all_fields, frozen) if slots else cls

    def _check_default_order(fields):
        seen_default = False
        for f in fields:
            has_default = f.default is not _MISSING or f.default_factory is not _MISSING
            if seen_default and not has_default:
                raise TypeError(f"non-default argument {f.name!r} follows default argument")
            seen_default = seen_default or has_default

    def _make_init(cls, fields, frozen):
        """The one compiled method: fields as positional-or-keyword parameters, as
        dataclasses' __init__ (whose call cost it keeps)."""
        ns = {"_FACTORY": _FACTORY, "_set": object.__setattr__}
        params, body = [], []
        for i, f in enumerate(fields):
            value = f.name
            if f.default_factory is not _MISSING:
                ns[f"_factory_{i}"] = f.default_factory
                params.append(f"{f.name}=_FACTORY")
                value = f"_factory_{i}() if {f.name} is _FACTORY else {f.name}"
            elif f.default is not _MISSING:
                ns[f"_default_{i}"] = f.default
                params.append(f"{f.name}=_default_{i}")
            else:
                params.append(f.name)
            body.append(f"_set(self, {f.name!r}, {value})" if frozen
                        else f"self.{f.name} = {value}")
        if hasattr(cls, "__post_init__"):
            body.append("self.__post_init__()")
        src = (f"def __init__(self, {', '.join(params)}):\n  "
               + "\n  ".join(body or ["pass"]))
        exec(src, ns)  # the class's own field names: identifiers, as Python checked
        init = ns["__init__"]
        init.__qualname__ = f"{cls.__qualname__}.__init__"
        init.__module__ = cls.__module__
        return init

    def _with_slots(cls, fields, frozen):
        """A new class with __slots__ for the fields no base slots already (as
        dataclasses' slots=True: __slots__ must exist when the class is created)."""
        inherited = set()
        for base in cls.__mro__[1:-1]:
            inherited.update(base.__dict__.get("__slots__", ()))
        ns = dict(cls.__dict__)
        names = tuple(f.name for f in fields if f.name not in inherited)
        for name in names:
            ns.pop(name, None)  # defaults live in __init__, not as class attributes
        ns.pop("__dict__", None)
        ns.pop("__weakref__", None)
        ns["__slots__"] = names
        if frozen:  # pickle's default restores slots with setattr, which frozen refuses
            ns["__getstate__"] = _getstate
            ns["__setstate__"] = _setstate
        new = type(cls)(cls.__name__, cls.__bases__, ns)
        new.__qualname__ = cls.__qualname__
        return new

    def _no_key(_self):
        return ()

    def _repr(self):
        key = id(self)
        if key in _repr_running:
            return "..."
        _repr_running.add(key)
        try:
            parts = [f"{name}={getattr(self, name)!r}" for name in self.__record_repr__]
        finally:
            _repr_running.discard(key)
        return f"{self.__class__.__qualname__}({', '.join(parts)})"

    _repr_running = set()  # ids being repr'd: a record inside itself prints as "..."

    def _eq(self, other):
        if other.__class__ is self.__class__:
            key = self.__record_key__
            return key(self) == key(other)
        return NotImplemented

    def _hash(self):
        return hash(self.__record_key__(self))

    def _refuse_set(self, name, _value):
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def _refuse_del(self, name):
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def _getstate(self):
        return [getattr(self, f.name) for f in self.__record_fields__]

    def _setstate(self, state):
        for f, value in zip(self.__record_fields__, state, strict=True):
            object.__setattr__(self, f.name, value)

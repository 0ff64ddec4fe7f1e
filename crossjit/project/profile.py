"""Project profiles: ``load_profile(file)`` → a validated, frozen ``model.Profile``.

Validation (``schema.py``: yaml + pydantic, ~0.15 s of imports and model building) runs
once per profile content: a profile that validated is pickled into the cache under
``$XDG_CACHE_HOME/crossjit/profiles``, keyed by the file's bytes, crossjit's version, the
code that validates (this package's profile modules) and the sysroot recipes it checks
names against. A hit costs a file read, a hash and an unpickle. Invalid profiles are
never cached: their errors (``file:line: key.path: message``) always come from the schema.
"""

from __future__ import annotations

import contextlib
import copyreg
import hashlib
import pickle
from pathlib import Path
from types import MappingProxyType

from crossjit import __version__
from crossjit.compile import cache
from crossjit.project import model, recipes
from crossjit.project.model import (
    ArchiveSource,
    Executor,
    FetchSpec,
    GitSource,
    Mount,
    Port,
    Profile,
    PypiSource,
    Sysroot,
    Target,
    fetch_ref,
)

__all__ = ["ArchiveSource", "Executor", "FetchSpec", "GitSource", "Mount", "Port", "Profile",
           "PypiSource", "Sysroot", "Target", "fetch_ref", "load_profile"]

HERE = Path(__file__).resolve().parent
# What decides whether a file is valid and what it becomes.
VALIDATING_CODE = ("profile.py", "model.py", "schema.py", "yamldoc.py", "recipes.py",
                   "targetspec.py")


def load_profile(file: Path) -> Profile:
    """Read and validate ``file``; every problem is reported in one ProfileError."""
    try:
        data = file.read_bytes()
    except OSError:
        data = None  # the schema's reader says what is wrong, as it always did
    entry = _entry(data) if data is not None else None
    if entry is not None:
        with contextlib.suppress(*_BAD_ENTRY):
            cached = pickle.loads(entry.read_bytes())
            if isinstance(cached, Profile):
                return cached.at(file)
    from crossjit.project import schema

    profile = schema.validate(file)
    if entry is not None:
        with contextlib.suppress(*_BAD_ENTRY):
            cache.atomic_write(entry, pickle.dumps(profile.at(Path())))
    return profile


def _entry(data: bytes) -> Path | None:
    h = hashlib.sha256(data)
    h.update(f"\0{__version__}\0{','.join(recipes.sysroot_recipes())}\0".encode())
    for name in VALIDATING_CODE:
        try:
            h.update((HERE / name).read_bytes())
        except OSError:
            return None  # an odd installation: do not cache
    return cache.root() / "profiles" / f"{h.hexdigest()}.pickle"


# A cache entry that cannot be read or written is a miss, never an error.
_BAD_ENTRY = (OSError, pickle.PickleError, EOFError, AttributeError, TypeError, ValueError,
              ImportError)


# mappingproxy cannot be pickled as such: rebuild it from a dict.
copyreg.pickle(MappingProxyType, lambda m: (model.frozen_map, (dict(m),)))

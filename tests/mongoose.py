"""Mongoose 7.23's sources for tests and benchmarks: fetched, never committed.

The cymongoose 0.2.5 sdist on PyPI vendors Mongoose 7.23 in thirdparty/mongoose/; crossjit's
own fetcher downloads it pinned by sha256 into the content-addressed cache.
"""

from __future__ import annotations

from pathlib import Path

from crossjit.errors import CrossjitError

MONGOOSE_SDIST = "cymongoose==0.2.5"
MONGOOSE_SDIST_SHA256 = "8c0ec19752d493702c566735a28918f1b81a756197f78e4931c566dbad849a8f"
EXAMPLE_MAIN = Path(__file__).resolve().parent.parent / "examples" / "mongoose" / "main.c"


def mongoose_dir() -> Path:
    """The directory holding mongoose.c and mongoose.h."""
    from crossjit.project.fetch import fetch
    from crossjit.project.profile import PypiSource

    spec = PypiSource(pypi=MONGOOSE_SDIST, sha256=MONGOOSE_SDIST_SHA256,
                      subpath="thirdparty/mongoose")
    try:
        return fetch("mongoose", spec)
    except CrossjitError as exc:
        from tests.prereq import missing  # pytest only when running under it

        missing(f"cannot fetch Mongoose ({MONGOOSE_SDIST}): {exc.what}")

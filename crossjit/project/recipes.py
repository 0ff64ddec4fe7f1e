"""The image recipes in ``images/``: which sysroots and executor variants exist."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def images_root() -> Path:
    """``$CROSSJIT_IMAGES`` or the source tree's ``images/`` folder."""
    override = os.environ.get("CROSSJIT_IMAGES")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "images"


def sysroot_dir(recipe: str) -> Path:
    return images_root() / "sysroot" / recipe


def executor_dir(variant: str) -> Path:
    return images_root() / "executor" / variant


def sysroot_recipes() -> list[str]:
    return _subdirs(images_root() / "sysroot")


def executor_variants() -> list[str]:
    return _subdirs(images_root() / "executor")


def _subdirs(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "Dockerfile").is_file())


def tree_hash(folder: Path, prefix: bytes = b"") -> str:
    """sha256 (hex) of ``prefix`` and every file under ``folder``, names and contents:
    what an image built from the folder depends on."""
    h = hashlib.sha256(prefix)
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(f.relative_to(folder).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()

"""``compile_commands.json`` (the JSON compilation database clangd and other tools read).

One entry per C/C++ source with the argv crossjit really compiles it with
(``toolchain.compile_argv`` after ``toolchain.compile_options_for``: triple, sysroot,
include directories, defines, cflags, -O, -g), so an editor sees the *target's* headers.
Only the output differs: the real compile writes bitcode into a temporary directory, the
entry writes to /dev/null (tools that re-run an entry must not litter the project).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crossjit import records
from crossjit.compile import toolchain
from crossjit.errors import NotSupportedError, UsageError

FILENAME = "compile_commands.json"


def entries(sources: Sequence[Path], opts: toolchain.CompileOptions, directory: Path,
            compiler: toolchain.Compiler | None = None) -> list[dict[str, Any]]:
    """The database's entries for the C/C++ files among ``sources`` (IR and objects have
    no compile command)."""
    compiler = compiler or toolchain.find_compiler()
    if compiler.is_zig:
        # zig cc adds its own libc include paths and flags behind the driver's back, and
        # `python -m ziglang cc` is no compiler path a tool can run or recognise.
        raise NotSupportedError(
            "compile_commands.json with the ziglang wheel's clang is not supported yet",
            why="zig cc's implicit flags (its bundled libc headers) are not in its argv",
            hint="install a clang (apt-get install clang-16) or set CROSSJIT_CLANG",
        )
    opts = toolchain.compile_options_for(opts, compiler)
    if getattr(opts, "live", False):  # as build.build compiles live units: crossjit.h
        from crossjit.compile.build import runtime_include

        opts = records.replace(opts, include_dirs=(*opts.include_dirs, runtime_include()))
    out: list[dict[str, Any]] = []
    for src in sources:
        if src.suffix not in toolchain.SOURCE_SUFFIXES:
            continue
        file = src.resolve()
        argv = toolchain.compile_argv(compiler, file, Path(os.devnull), opts)
        out.append({"directory": str(directory.resolve()), "file": str(file),
                    "arguments": argv, "output": os.devnull})
    return out


def destination(path: Path | None, default_dir: Path) -> Path:
    """Where to write: PATH itself if it names a .json file, else PATH/compile_commands.json
    (PATH defaults to ``default_dir``)."""
    if path is None:
        return default_dir / FILENAME
    if path.suffix == ".json" and not path.is_dir():
        return path
    return path / FILENAME


def write(dest: Path, items: list[dict[str, Any]]) -> Path:
    """Write atomically (an editor may be reading the old file)."""
    if not dest.parent.is_dir():
        raise UsageError(f"cannot write {dest}", why=f"{dest.parent} is not a directory",
                         hint="create it first, or pass another --compile-commands PATH")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".compile_commands.", dir=dest.parent)
        with os.fdopen(fd, "w") as f:
            json.dump(items, f, indent=2)
            f.write("\n")
        os.replace(tmp, dest)
    except OSError as e:
        raise UsageError(f"cannot write {dest}", why=e.strerror or str(e)) from None
    return dest

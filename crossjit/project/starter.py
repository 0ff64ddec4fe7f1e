"""``crossjit init``: a commented starter profile for the C/C++ sources in a directory.

The profile runs the sources on this host (no ``target:`` key: the host's triple; the
local executor), and carries the musl container as a commented alternative that
validates once uncommented. See docs/profiles.md ("Starting a project").
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from crossjit.compile.toolchain import SOURCE_SUFFIXES
from crossjit.errors import UsageError
from crossjit.project.plan import host_triple

FILENAME = "crossjit.yaml"
# Folders that hold no sources of the project itself.
_SKIP_DIRS = frozenset({"build", "node_modules", "venv", "__pycache__"})


def find_sources(root: Path) -> list[Path]:
    """C/C++ sources under ``root`` (relative, sorted), hidden and build folders skipped."""
    found: list[Path] = []
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
        found += [Path(here, f).relative_to(root) for f in files
                  if Path(f).suffix in SOURCE_SUFFIXES]
    return sorted(found)


def project_name(root: Path) -> str:
    """The directory's name, made a valid profile name (it names the container too)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", root.resolve().name).strip("-._")
    return name or "project"


def _yaml_path(p: Path) -> str:
    text = p.as_posix()
    return text if re.fullmatch(r"[A-Za-z0-9_./+-]+", text) and not text.startswith("-") \
        else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def starter_profile(root: Path, sources: list[Path], name: str) -> str:
    """The profile's text (pure apart from the host's triple)."""
    triple = host_triple()
    arch = triple.split("-", 1)[0]
    listed = "\n".join(f"  - {_yaml_path(s)}" for s in sources)
    include = "include: [include]" if (root / "include").is_dir() else "# include: [include]"
    return f"""\
# crossjit profile for {name}, written by `crossjit init`; docs/profiles.md lists every key.
#   crossjit profile check {FILENAME}            what crossjit understands of it
#   crossjit run {FILENAME} [-- ARGS]            build what changed, run, exit with its status
#   crossjit run {FILENAME} --watch              rerun on every save
#   crossjit debug {FILENAME} --break main       under gdb (--debugger lldb)
#   crossjit build {FILENAME} --compile-commands compile_commands.json for clangd
name: {name}
# No `target:` key: code is generated for this host ({triple}).
executor: local            # an executor spawned on this host, no container
sources:                   # paths relative to this file; globs work too (src/**/*.c)
{listed}
{include}
# defines: [DEBUG=1]       # -D
# cflags: [-Wall]
opt: 0                     # 0-3
debug: false               # true: -g (crossjit debug always builds with -g)
# args: [one, two]         # the program's arguments (-- ARGS on the command line replace them)

# --- Alternative: run in a hardened musl container (FROM scratch, no network) ---------
# Delete `executor: local` above and uncomment these lines. The sysroot (musl's headers
# and libraries) is built on first use, once; `crossjit executor up --profile {FILENAME}`
# keeps the container running between runs.
# target:
#   triple: {arch}-linux-musl
# sysroot: debian-musl
# executor: musl
"""


def write_starter(root: Path, *, force: bool = False, name: str | None = None) -> tuple[
        Path, list[Path]]:
    """Write ``root/crossjit.yaml``; (its path, the sources it lists)."""
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory",
                         hint="crossjit init [DIR]: DIR holds the project's C/C++ sources")
    dest = root / FILENAME
    if dest.exists() and not force:
        raise UsageError(f"{dest} already exists", hint="pass --force to overwrite it")
    sources = find_sources(root)
    if not sources:
        raise UsageError(
            f"no C/C++ sources in {root}",
            why=f"looked for {' '.join(sorted(SOURCE_SUFFIXES))} files (hidden and build "
            "folders skipped)",
            hint="run crossjit init in the project's folder, or give it: crossjit init DIR",
        )
    if name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise UsageError(f"{name!r} is not a profile name",
                         hint="use letters, digits, . _ - (it names the container too)")
    text = starter_profile(root, sources, name or project_name(root))
    try:
        with open(dest, "w" if force else "x") as f:  # "x": never overwrite by a race
            f.write(text)
    except OSError as e:
        raise UsageError(f"cannot write {dest}", why=e.strerror or str(e)) from None
    return dest, sources

"""A profile's paths made concrete: sources, include directories and mounts.

Paths are relative to the profile's directory; ``@NAME/...`` is relative to fetched
source NAME. Globs (``src/*.c``, ``src/**/*.c``) expand sorted so builds are
deterministic. A pattern that matches nothing is an error naming the profile line.
"""

from __future__ import annotations

import glob
from collections.abc import Mapping
from pathlib import Path

from crossjit.errors import ProfileError, Progress
from crossjit.project.profile import Profile, fetch_ref
from crossjit.records import record


@record(frozen=True)
class ResolvedPaths:
    sources: tuple[Path, ...]
    include_dirs: tuple[Path, ...]
    mounts: tuple[tuple[Path, str], ...]  # (host directory, container path)


def fetch_all(profile: Profile, progress: Progress | None = None) -> dict[str, Path]:
    """Fetch (or find in the cache) every fetched source the profile declares."""
    from crossjit.project.fetch import fetch

    return {name: fetch(name, spec, progress) for name, spec in profile.fetch.items()}


def resolve(profile: Profile, fetched: Mapping[str, Path]) -> ResolvedPaths:
    """Concrete paths; ``fetched`` maps fetched-source names to their directories.

    Paths into a fetched source that is not in ``fetched`` are skipped, so a profile can
    be checked without downloading anything.
    """
    problems: list[str] = []

    def base_of(text: str) -> tuple[Path, str] | None:
        ref = fetch_ref(text)
        if ref is None:
            return profile.base_dir, text
        if ref not in fetched:
            return None
        return fetched[ref], text[len(ref) + 2 :]

    sources: list[Path] = []
    for i, text in enumerate(profile.sources):
        based = base_of(text)
        if based is None:
            continue
        found = _expand(*based)
        files = [p for p in found if p.is_file()]
        if not files:
            what = "matches no file" if glob.has_magic(text) else "does not exist"
            problems.append(f"{profile.where('sources', i)}: sources[{i}]: {text!r} {what}")
        sources.extend(p for p in files if p not in sources)

    includes: list[Path] = []
    for i, text in enumerate(profile.include):
        based = base_of(text)
        if based is None:
            continue
        dirs = [p for p in _expand(*based) if p.is_dir()]
        if not dirs:
            problems.append(
                f"{profile.where('include', i)}: include[{i}]: {text!r} is not a directory"
            )
        includes.extend(dirs)

    mounts: list[tuple[Path, str]] = []
    for i, mount in enumerate(profile.executor.mounts if profile.executor else ()):
        host = (profile.base_dir / Path(mount.host).expanduser()).resolve()
        if not host.is_dir():
            problems.append(
                f"{profile.where('executor', 'mounts', i)}: executor.mounts[{i}]: "
                f"{mount.host!r} is not a directory"
            )
        mounts.append((host, mount.container))

    if problems:
        n = len(problems)
        raise ProfileError(
            f"profile {profile.file} names {n} missing path{'s' if n != 1 else ''}",
            why="\n".join(problems),
            hint="paths are relative to the profile's directory; @NAME/... is relative to "
            "fetched source NAME",
        )
    return ResolvedPaths(tuple(sources), tuple(includes), tuple(mounts))


def _expand(base: Path, text: str) -> list[Path]:
    pattern = Path(text).expanduser()
    full = pattern if pattern.is_absolute() else base / pattern
    if glob.has_magic(str(full)):
        return [Path(p).resolve() for p in sorted(glob.glob(str(full), recursive=True))]
    return [full.resolve()] if full.exists() else []


def summary(profile: Profile, paths: ResolvedPaths, fetched: Mapping[str, Path]) -> str:
    """What `crossjit profile check` prints: the profile as crossjit understood it."""
    t, ex, sr = profile.target, profile.executor, profile.sysroot
    lines = [f"profile {profile.name} ({profile.file}): ok"]
    target = t.triple + (f", cpu {t.cpu}" if t.cpu else "")
    target += " (this host's: no target key)" if profile.host_target else ""
    lines.append(f"  target    {target}{', ' + ' '.join(t.features) if t.features else ''}")
    if sr is None:
        lines.append("  sysroot   none (the compiler's default headers)")
    elif sr.recipe:
        extra = f" + {', '.join(sr.packages)}" if sr.packages else ""
        lines.append(f"  sysroot   recipe {sr.recipe}{extra}")
    else:
        lines.append(f"  sysroot   {sr.path}")
    if ex is None:
        lines.append("  executor  local (spawned on this host)")
    else:
        if ex.ssh is not None:
            lines.append(f"  executor  ssh:{ex.ssh} (a device, over your OpenSSH)")
        else:
            lines.append(f"  executor  {ex.variant} over {ex.channel}")
        if ex.env:
            lines.append(f"            env {', '.join(sorted(ex.env))}")
        if ex.workdir:
            lines.append(f"            workdir {ex.workdir}")
        if ex.dlopen:
            lines.append(f"            dlopen {', '.join(ex.dlopen)}")
        if ex.ports:
            ports = ", ".join(f"{p.host}:{p.container}" for p in ex.ports)
            lines.append(f"            ports {ports} (host network)")
        for host, path in paths.mounts:
            lines.append(f"            mount {host} -> {path} (read-only)")
        if ex.tls:
            from crossjit.project.plan import container_name, tls_folder  # rare: lazily

            made = tls_folder(container_name(profile.name))
            lines.append(f"            tls {made} -> {ex.tls} (self-signed cert.pem + key.pem, "
                         "made at the first start; read-only)")
    for name, spec in profile.fetch.items():
        where = f" -> {fetched[name]}" if name in fetched else " (not fetched; --fetch)"
        lines.append(f"  fetch     {name}: {type(spec).__name__} pinned {spec.pin[:16]}{where}")
    lines.append(f"  sources   {len(paths.sources)} file(s)")
    lines.extend(f"            {s}" for s in paths.sources)
    if paths.include_dirs:
        lines.append(f"  include   {', '.join(str(d) for d in paths.include_dirs)}")
    flags = [f"-O{profile.opt}", *(["-g"] if profile.debug else [])]
    flags += [f"-D{d}" for d in profile.defines] + list(profile.cflags)
    lines.append(f"  flags     {' '.join(flags)}")
    if profile.compiler_launcher:
        lines.append(f"  launcher  {' '.join(profile.compiler_launcher)} "
                     "(CROSSJIT_COMPILER_LAUNCHER overrides)")
    if profile.args:
        lines.append(f"  args      {' '.join(profile.args)}")
    return "\n".join(lines)

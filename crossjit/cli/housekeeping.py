"""`crossjit clean`: the cache and every crossjit-labelled container (and, on request, image)."""

from __future__ import annotations

import shutil

from crossjit.compile import cache
from crossjit.errors import ContainerError, Progress, quiet
from crossjit.targets import executors


def clean(*, images: bool = False, progress: Progress | None = None) -> str:
    """Remove leftovers; a one-paragraph report. Works without an engine (cache only)."""
    say = progress or quiet
    lines = []
    from crossjit.targets import containers

    try:
        engine = containers.connect(timeout=5)
    except ContainerError as err:
        lines.append(f"containers: skipped ({err.why or err.what})")
    else:
        names, imgs = executors.clean(engine, images=images)
        for n in names:
            say(f"removed container {n}")
        lines.append(
            f"containers: removed {len(names)}" + (f" ({', '.join(names)})" if names else "")
        )
        if images:
            lines.append(f"images: removed {len(imgs)}")
    root = cache.root()
    if root.exists():
        shutil.rmtree(root)
        lines.append(f"cache: removed {root}")
    else:
        lines.append(f"cache: {root} was empty")
    return "\n".join(lines)

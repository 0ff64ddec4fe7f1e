"""Fleet target specs: what one entry of ``--on`` or a profile's ``targets:`` names.

Pure (no I/O), shared by the schema (which reports a bad entry with file:line:key) and
``run/fleet.py``. A target is whatever ``--executor`` accepts, plus three fleet
spellings: ``local`` (the host's own executor for the profile's triple), ``local:TRIPLE``
(the host executor for another triple — AArch64 under qemu-user) and a bare container
variant (``musl`` = ``docker:musl``). ``NAME=SPEC`` names an entry on the command line.
"""

from __future__ import annotations

import re

from crossjit.records import record

LOCAL = "local"
VARIANTS = ("musl", "debian", "alpine")
KINDS = ("local", "spawn", "tcp", "docker", "ssh")
FORMS = ("local, local:TRIPLE, musl|debian|alpine, docker:NAME, spawn:PATH [ARGS...], "
         "tcp:HOST:PORT or ssh:[USER@]HOST[:PORT]")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_TRIPLE = re.compile(r"[A-Za-z0-9_.]+(-[A-Za-z0-9_.]+){1,3}")
_SSH = re.compile(r"(?:[A-Za-z0-9._][A-Za-z0-9._-]*@)?(?:\[[0-9A-Fa-f:.]+\]|"
                  r"[A-Za-z0-9][A-Za-z0-9._-]*)(?::[0-9]{1,5})?")


class BadTargetSpec(ValueError):
    """Why a spec is not one; the caller adds where it was written."""


@record(frozen=True)
class TargetSpec:
    """One fleet target, normalised. ``executor`` is what ``crossjit run -e`` gets, or
    None for ``local`` (the session picks the host executor for the triple)."""

    name: str
    kind: str  # one of KINDS
    executor: str | None
    triple: str | None = None  # None: decided by the target (probe) or the profile

    @property
    def text(self) -> str:
        """The spec as one would write it again."""
        if self.kind == LOCAL:
            return f"local:{self.triple}" if self.triple else LOCAL
        assert self.executor is not None
        return self.executor


def check_triple(text: str) -> str:
    if not _TRIPLE.fullmatch(text):
        raise BadTargetSpec(f"{text!r} is not a target triple (ARCH-OS[-ENV], e.g. "
                            "aarch64-linux-musl)")
    return text


def check_name(text: str) -> str:
    if not _NAME.fullmatch(text):
        raise BadTargetSpec(f"{text!r} is not a target name (letters, digits, . _ -)")
    return text


def parse(text: str, *, name: str | None = None, triple: str | None = None) -> TargetSpec:
    """``text`` → a TargetSpec (raises BadTargetSpec saying why not)."""
    text = text.strip()
    if triple is not None:
        check_triple(triple)
    kind, sep, rest = text.partition(":")
    if text == LOCAL or (kind == LOCAL and sep):
        if sep:
            if triple is not None and triple != rest:
                raise BadTargetSpec(f"{text!r} and target {triple!r} disagree")
            triple = check_triple(rest)
        return TargetSpec(name or triple or LOCAL, LOCAL, None, triple)
    if text in VARIANTS:
        return TargetSpec(name or text, "docker", f"docker:{text}", triple)
    if kind == "docker" and sep:
        return TargetSpec(name or check_name(rest), "docker", text, triple)
    if kind == "ssh" and sep:
        if not _SSH.fullmatch(rest):
            raise BadTargetSpec(f"{text!r}: expected ssh:[USER@]HOST[:PORT]")
        return TargetSpec(name or rest, "ssh", text, triple)
    if kind == "tcp" and sep:
        host, colon, port = rest.rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise BadTargetSpec(f"{text!r}: expected tcp:HOST:PORT")
        return TargetSpec(name or rest, "tcp", text, triple)
    if kind == "spawn":
        words = rest.split()
        auto = words[-1].rsplit("/", 1)[-1] if words else "spawn"
        # an executor's path names it, not its qemu wrapper's
        exe = next((w for w in reversed(words) if "executor" in w), None)
        auto = exe.rsplit("/", 1)[-1] if exe else auto
        return TargetSpec(name or auto, "spawn", text, triple)
    raise BadTargetSpec(f"{text!r} is not a target; use {FORMS}")


def parse_cli(text: str) -> TargetSpec:
    """One ``--on`` item: ``[NAME=]SPEC``. A NAME has no ``:``, so ``spawn:… key=v`` is
    still a spec."""
    head, eq, rest = text.partition("=")
    if eq and _NAME.fullmatch(head):
        return parse(rest, name=head)
    return parse(text)


def split_cli(values: list[str]) -> list[str]:
    """``--on a,b --on c`` → ``[a, b, c]`` (a spec holding a comma goes in a profile)."""
    return [item.strip() for v in values for item in v.split(",") if item.strip()]


def unique_names(specs: list[TargetSpec]) -> list[TargetSpec]:
    """Give repeated automatic names a ``#N`` suffix, so each output line's prefix names
    exactly one target."""
    seen: dict[str, int] = {}
    out = []
    for s in specs:
        n = seen.get(s.name, 0) + 1
        seen[s.name] = n
        out.append(s if n == 1 else TargetSpec(f"{s.name}#{n}", s.kind, s.executor, s.triple))
    return out

"""crossjit's error hierarchy.

Every error carries three parts so the CLI can print one helpful paragraph:
*what* failed, *why* (the cause, e.g. clang's diagnostics or the list of missing
symbols) and a *hint* (what the user can do). Only ``cli.py`` prints them and
chooses the exit status (125 for all of crossjit's own failures).
"""

from __future__ import annotations

from collections.abc import Callable

EXIT_CROSSJIT_FAILURE = 125

#: How library code reports progress and warnings: a callback the caller passes in
#: (``cli.progress`` prints to stderr); library code never prints.
Progress = Callable[[str], None]


def quiet(_msg: str) -> None:
    """The progress callback that reports nothing."""


class CrossjitError(Exception):
    """Base class: a failure of crossjit itself (not of the user's program)."""

    exit_code: int = EXIT_CROSSJIT_FAILURE

    def __init__(self, what: str, *, why: str | None = None, hint: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.why = why
        self.hint = hint

    def render(self) -> str:
        """The paragraph shown to the user."""
        parts = [f"error: {self.what}"]
        if self.why:
            parts.append(self.why.rstrip())
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.render()


class NotSupportedError(CrossjitError):
    """A feature that is recognised but not implemented yet."""


class UsageError(CrossjitError):
    """Bad command-line input (unknown input kind, bad executor spec, ...)."""


class ProfileError(CrossjitError):
    """A profile YAML file is malformed or invalid (names file, key path and line)."""


class ToolchainError(CrossjitError):
    """No usable compiler, or the compiler failed to run."""


class CompileError(ToolchainError):
    """clang rejected a source file; ``why`` holds its diagnostics."""


class CodegenError(CrossjitError):
    """llvmlite could not parse, verify, optimise or emit a module."""


class LinkError(CrossjitError):
    """The JIT linker rejected the inputs (bad object, unsupported relocation, range...)."""


class UnresolvedSymbolsError(LinkError):
    """Symbols that no object, library or the executor process defines.

    ``missing`` maps each symbol to the objects that reference it, so the message
    can list every missing symbol at once.
    """

    def __init__(self, missing: dict[str, list[str]], *, hint: str | None = None) -> None:
        lines = [
            f"  {name}  (needed by {', '.join(sorted(set(users)))})"
            for name, users in sorted(missing.items())
        ]
        super().__init__(
            f"{len(missing)} unresolved symbol{'s' if len(missing) != 1 else ''}",
            why="\n".join(lines),
            hint=hint
            or "define them in your sources, or load the library that provides them "
            "with --dlopen LIB",
        )
        self.missing = missing


class ExecutorError(CrossjitError):
    """The executor could not be started, reached, or failed a request."""


class ExecutorTimeout(ExecutorError):
    """A wait on the executor passed its deadline."""


class ExecutorDisconnected(ExecutorError):
    """The executor closed the connection or died (``exit_status`` or ``signal`` if
    known; ``signal_as_status``: a signal N shows as status 128+N, as with docker exec;
    ``lost``: the channel itself broke — a dropped SSH connection —, so how the executor
    ended says nothing about the program)."""

    def __init__(
        self,
        what: str,
        *,
        why: str | None = None,
        hint: str | None = None,
        exit_status: int | None = None,
        signal: int | None = None,
        signal_as_status: bool = False,
        lost: bool = False,
    ) -> None:
        super().__init__(what, why=why, hint=hint)
        self.exit_status = exit_status
        self.signal = signal
        self.signal_as_status = signal_as_status
        self.lost = lost


class ProtocolError(ExecutorError):
    """The peer sent bytes that do not follow the ORC wire protocol."""


class DialectError(ProtocolError):
    """The executor speaks a protocol dialect crossjit does not know."""


class RemoteError(ExecutorError):
    """The executor answered a call with an error (in-band or an empty result)."""


class ContainerError(CrossjitError):
    """Docker engine, image or container failures."""


def signal_name(num: int) -> str:
    """SIGSEGV for 11: how crash and disconnect messages name a signal."""
    import signal

    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"

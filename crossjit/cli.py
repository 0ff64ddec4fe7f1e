"""crossjit's command line (Typer).

The only module that prints errors and chooses exit codes: every command body runs
inside ``_guard``, which turns a ``CrossjitError`` into its one-paragraph message on
stderr and exit status 125 (the convention of ``docker run``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from crossjit import __version__
from crossjit.errors import EXIT_CROSSJIT_FAILURE, CrossjitError

app = typer.Typer(
    name="crossjit",
    help="Remote cross-JIT of C and C++: compile and link on this machine, "
    "run in an LLVM ORC executor on the target (a container, a device, another libc).",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def progress(msg: str) -> None:
    """Progress lines for long steps go to stderr so program stdout stays clean."""
    _stderr(f"crossjit: {msg}")


@contextmanager
def _guard() -> Iterator[None]:
    try:
        yield
    except CrossjitError as err:
        _stderr(err.render())
        raise typer.Exit(err.exit_code) from None
    except KeyboardInterrupt:
        _stderr("crossjit: interrupted")
        raise typer.Exit(130) from None


def _exit(status: int) -> NoReturn:
    raise typer.Exit(status)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[
        bool, typer.Option("--version", help="Print crossjit's version and exit.")
    ] = False,
) -> None:
    if version:
        print(f"crossjit {__version__}")
        raise typer.Exit(0)


@app.command(
    context_settings={"allow_interspersed_args": True},
    epilog="Example: crossjit jit argc_sub1.c -- a b c   (exits with 3)",
)
def jit(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Sources (.c .cpp .cc .cxx), LLVM IR (.ll .bc) or ELF objects (.o). "
            "Arguments after -- are passed to the program.",
            show_default=False,
        ),
    ],
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor",
            "-e",
            help="Where to run: spawn:PATH (a local executor child; default: Debian's "
            "llvm-jitlink-executor), tcp:HOST:PORT, or docker:VARIANT.",
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="Target triple (default: the executor's own triple)."),
    ] = None,
    opt: Annotated[int, typer.Option("-O", min=0, max=3, help="Optimisation level.")] = 0,
    debug: Annotated[bool, typer.Option("-g", help="Emit debug information.")] = False,
    include: Annotated[
        list[Path] | None, typer.Option("-I", help="Add an include directory.")
    ] = None,
    define: Annotated[
        list[str] | None, typer.Option("-D", help="Define a macro: NAME or NAME=VALUE.")
    ] = None,
    dlopen: Annotated[
        list[str] | None,
        typer.Option("--dlopen", help="Load a shared library in the executor (repeatable)."),
    ] = None,
    sysroot: Annotated[
        Path | None, typer.Option("--sysroot", help="Compile against this target sysroot.")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show each step and its timing.")
    ] = False,
) -> None:
    """Compile, JIT-link and run INPUT... in an executor; exit with the program's status."""
    program_args = _args_after_dashdash()
    # Typer hands us the arguments after `--` too; they belong to the program.
    inputs = inputs[: len(inputs) - len(program_args)] if program_args else inputs
    with _guard():
        from crossjit.session import JitRequest, run_jit

        request = JitRequest(
            inputs=tuple(inputs),
            program_args=tuple(program_args),
            executor=executor,
            target=target,
            opt_level=opt,
            debug=debug,
            include_dirs=tuple(include or ()),
            defines=tuple(define or ()),
            dlopen=tuple(dlopen or ()),
            sysroot=sysroot,
        )
        status = run_jit(request, progress=progress if verbose else None, warn=progress)
    _exit(status)


def _args_after_dashdash() -> list[str]:
    argv = sys.argv[1:]
    if "--" in argv:
        return argv[argv.index("--") + 1 :]
    return []


def main(argv: list[str] | None = None) -> None:
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    import click

    try:
        # Without standalone mode click *returns* the status of typer.Exit.
        rc = app(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        _stderr("crossjit: interrupted")
        sys.exit(130)
    except click.ClickException as exc:
        # Bad command lines are crossjit's own failures: 125, like `docker run`.
        exc.show()
        sys.exit(EXIT_CROSSJIT_FAILURE)
    sys.exit(rc if isinstance(rc, int) else 0)


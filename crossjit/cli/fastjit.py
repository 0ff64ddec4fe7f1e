"""`crossjit jit` without the CLI framework: the cold path of the commonest command.

A fresh process spends ~25 ms importing typer and click before any work
(docs/benchmarks.md), more than a third of what `llvm-jitlink` needs for a whole link and
run. For a `jit` command line made only of the options below, ``parse`` builds the
arguments app.py's `jit` would get and ``execute`` runs them (app.py's `jit` calls it
too, so both paths share one body). Anything else — `--help`, a typo, an option's bad
value, no input — makes ``parse`` return None and the launcher hands the command to
typer, which owns the messages for bad command lines.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of every start-up
if TYPE_CHECKING:
    from crossjit.run.session import JitRequest

# Option spelling -> (its key in parse's result, how it takes its value). "one": a value, the last
# given wins (as click does); "many": repeatable; "flag": no value.
_OPTIONS: dict[str, tuple[str, str]] = {
    "-e": ("executor", "one"), "--executor": ("executor", "one"),
    "--target": ("target", "one"), "-O": ("opt_level", "one"), "-g": ("debug", "flag"),
    "-I": ("include_dirs", "many"), "-D": ("defines", "many"),
    "--dlopen": ("dlopen", "many"), "-l": ("libs", "many"), "-L": ("lib_dirs", "many"),
    "--sysroot": ("sysroot", "one"), "-j": ("jobs", "one"), "--jobs": ("jobs", "one"),
    "-v": ("verbose", "flag"), "--verbose": ("verbose", "flag"),
}


def parse(argv: list[str]) -> dict[str, object] | None:
    """``argv`` after `jit` → keyword arguments for ``request``; None: let typer do it."""
    values: dict[str, object] = {}
    many: dict[str, list[str]] = {}
    inputs: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            break
        if not arg.startswith("-") or arg == "-":
            inputs.append(arg)
            continue
        name, value = arg, None
        if arg.startswith("--"):
            name, eq, rest = arg.partition("=")
            value = rest if eq else None
        elif len(arg) > 2:  # -O2, -Ifoo, -lm: click's attached short-option values
            name, value = arg[:2], arg[2:]
        spec = _OPTIONS.get(name)
        if spec is None:
            return None
        field, how = spec
        if how == "flag":
            if value is not None:
                return None
            values[field] = True
            continue
        if value is None:
            if i >= len(argv):
                return None
            value = argv[i]
            i += 1
        if how == "many":
            many.setdefault(field, []).append(value)
        else:
            values[field] = value
    level = values.get("opt_level", "0")
    jobs = str(values.get("jobs", "1"))
    if not inputs or level not in ("0", "1", "2", "3") or not (jobs.isdigit() and int(jobs)):
        return None  # click says why
    return {**values, **many, "opt_level": int(str(level)), "inputs": inputs,
            "program_args": argv[i:]}


def request(values: dict[str, object]) -> JitRequest:
    """The JitRequest for ``parse``'s (or typer's) values."""
    from pathlib import Path

    from crossjit.run.session import JitRequest

    def many(field: str) -> tuple[str, ...]:
        return tuple(values.get(field) or ())  # type: ignore[arg-type]

    sysroot = values.get("sysroot")
    return JitRequest(
        inputs=tuple(Path(p) for p in many("inputs")),
        program_args=many("program_args"),
        executor=values.get("executor"),  # type: ignore[arg-type]
        target=values.get("target"),  # type: ignore[arg-type]
        opt_level=values.get("opt_level", 0),  # type: ignore[arg-type]
        debug=bool(values.get("debug")),
        include_dirs=tuple(Path(p) for p in many("include_dirs")),
        defines=many("defines"),
        dlopen=many("dlopen"),
        sysroot=Path(str(sysroot)) if sysroot is not None else None,
        libs=many("libs"),
        lib_dirs=tuple(Path(p) for p in many("lib_dirs")),
    )


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def progress(msg: str) -> None:
    """Progress lines for long steps go to stderr so program stdout stays clean."""
    _stderr(f"crossjit: {msg}")


def _start_executor_early(values: dict[str, object]) -> None:
    """The default executor starts while this process imports what links and loads the
    program (run/starting.py; the launcher did so already for `--executor spawn:…`).
    Not for --target (it may need an emulator) nor when an input is missing (that error
    comes first, with no executor started for nothing)."""
    import os

    if values.get("target") or values.get("executor") is not None:
        return
    if not all(os.path.isfile(p) for p in values.get("inputs") or ()):  # type: ignore[attr-defined]
        return
    from crossjit.run import starting

    starting.early(None)


def execute(values: dict[str, object]) -> int:
    """Run the command; its exit status. A CrossjitError is its one paragraph on stderr
    and its exit code (125), Ctrl-C is 130 — exactly as app.py's other commands."""
    from crossjit.errors import CrossjitError

    if values.get("jobs") is not None:  # -j N is $CROSSJIT_JOBS=N (as in app.py)
        import os

        from crossjit.compile.build import JOBS_ENV

        os.environ[JOBS_ENV] = str(values["jobs"])
    try:
        _start_executor_early(values)
        from crossjit.run.session import run_jit

        verbose = bool(values.get("verbose"))
        return run_jit(request(values), progress=progress if verbose else None,
                       warn=progress)
    except CrossjitError as err:
        _stderr(err.render())
        return err.exit_code
    except KeyboardInterrupt:
        _stderr("crossjit: interrupted")
        return 130


def main(argv: list[str]) -> int | None:
    """``argv`` after `jit`: the exit status, or None when typer must take the command."""
    values = parse(argv)
    return None if values is None else execute(values)

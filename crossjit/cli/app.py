"""crossjit's command line (Typer).

The only module that prints errors and chooses exit codes: every command body runs
inside ``_guard``, which turns a ``CrossjitError`` into its one-paragraph message on
stderr and exit status 125 (the convention of ``docker run``).
"""

from __future__ import annotations

import copy
import functools
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import click
import typer
import typer.core
import typer.main

from crossjit import __version__
from crossjit.errors import (
    EXIT_CROSSJIT_FAILURE,
    CrossjitError,
    ExecutorError,
    NotSupportedError,
    UsageError,
)

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


def _terminate_like_interrupt() -> None:
    """SIGTERM (docker stop, systemd, a test harness) unwinds like Ctrl-C, so the
    session's cleanup runs (the container `run` started is removed); exits 143."""
    import signal

    def stop(signum: int, _frame: object) -> None:
        signal.signal(signum, signal.SIG_IGN)  # a second SIGTERM must not cut cleanup short
        _stderr("crossjit: terminated")
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


# Options shared by the commands that build and run inputs (jit, debug).
OptLevel = Annotated[int, typer.Option("-O", min=0, max=3, help="Optimisation level.")]
IncludeDirs = Annotated[list[Path] | None, typer.Option("-I", help="Add an include directory.")]
Defines = Annotated[
    list[str] | None, typer.Option("-D", help="Define a macro: NAME or NAME=VALUE.")
]
Dlopen = Annotated[
    list[str] | None,
    typer.Option("--dlopen", help="Load a shared library in the executor (repeatable)."),
]
Libs = Annotated[
    list[str] | None,
    typer.Option("-l", help="Link library NAME: libNAME.a is linked in, libNAME.so "
                 "dlopened (searched in -L dirs, then the sysroot or this host)."),
]
LibDirs = Annotated[list[Path] | None, typer.Option("-L", help="Add a library directory.")]
SysrootDir = Annotated[
    Path | None, typer.Option("--sysroot", help="Compile against this target sysroot.")
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show each step.")]
Jobs = Annotated[
    int | None,
    typer.Option("--jobs", "-j", min=1, show_default=False,
                 help="Compile and generate code for N inputs at once (default: "
                 "$CROSSJIT_JOBS, else the CPUs available); at most N compiler children "
                 "run at once."),
]


def _set_jobs(jobs: int | None) -> None:
    """-j N is $CROSSJIT_JOBS=N for this command (build.default_jobs reads it), so it
    reaches every build the command does (watch rebuilds too) without more plumbing."""
    if jobs is not None:
        from crossjit.compile.build import JOBS_ENV

        os.environ[JOBS_ENV] = str(jobs)


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
    short_help="Compile, link and run C/C++, IR or objects in an executor.",
    epilog="Example: crossjit jit argc_sub1.c -- a b c   (exits with 3)",
)
def jit(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Sources (.c .cpp .cc .cxx), LLVM IR (.ll .bc), ELF objects (.o) or "
            "static archives (.a). "
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
            "llvm-jitlink-executor), tcp:HOST:PORT, docker:VARIANT, or "
            "ssh:[USER@]HOST[:PORT] (a device reached with your OpenSSH; docs/targets.md).",
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="Target triple (default: the executor's own triple); "
                     "aarch64-linux-gnu|musl without --executor starts an AArch64 executor "
                     "under qemu-aarch64-static."),
    ] = None,
    opt: OptLevel = 0,
    debug: Annotated[bool, typer.Option("-g", help="Emit debug information.")] = False,
    include: IncludeDirs = None,
    define: Defines = None,
    dlopen: Dlopen = None,
    lib: Libs = None,
    lib_dir: LibDirs = None,
    sysroot: SysrootDir = None,
    jobs: Jobs = None,
    verbose: Verbose = False,
) -> None:
    """Compile, JIT-link and run INPUT... in an executor; exit with the program's status."""
    from crossjit.cli import fastjit  # its body, shared with the launcher's typer-free path

    inputs, program_args = _split_program_args(inputs)
    _set_jobs(jobs)
    _exit(fastjit.execute({
        "inputs": inputs, "program_args": program_args, "executor": executor,
        "target": target, "opt_level": opt, "debug": debug, "include_dirs": include,
        "defines": define, "dlopen": dlopen, "libs": lib, "lib_dirs": lib_dir,
        "sysroot": sysroot, "verbose": verbose,
    }))


@app.command(
    context_settings={"allow_interspersed_args": True},
    short_help="Run inputs or a profile with gdb or lldb attached.",
    epilog="Example: crossjit debug seed.c --batch seed.gdb   (seed.gdb: break sub1, "
    "continue, print x, set var x = 42, continue)",
)
def debug(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Sources (.c .cpp .cc .cxx), LLVM IR (.ll .bc) or ELF objects (.o), always "
            "built with -g. Arguments after -- are passed to the program.",
            show_default=False,
        ),
    ],
    breakpoints: Annotated[
        list[str] | None,
        typer.Option("--break", "-b", help="Break at this function (repeatable); set before "
                     "the code is loaded, resolved when it is."),
    ] = None,
    debugger: Annotated[
        str, typer.Option("--debugger", help="gdb or lldb (the newest lldb-N on PATH).")
    ] = "gdb",
    batch: Annotated[
        Path | None,
        typer.Option("--batch", help="Run this debugger command file unattended, as gdb -x "
                     "/ lldb -s would: its breakpoints are pending until the code is "
                     "loaded, its first run/continue lets the program go. Exits with the "
                     "program's status."),
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option("--executor", "-e", help="A local executor, spawn:PATH (default: "
                     "Debian's llvm-jitlink-executor), or an executor container started by "
                     "`crossjit executor up`: docker:musl, docker:debian, docker:alpine."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="Target triple (default: the executor's own); "
                     "aarch64-linux-gnu|musl runs under qemu and is debugged through its "
                     "gdbstub (gdb-multiarch or lldb)."),
    ] = None,
    opt: OptLevel = 0,
    include: IncludeDirs = None,
    define: Defines = None,
    dlopen: Dlopen = None,
    lib: Libs = None,
    lib_dir: LibDirs = None,
    sysroot: SysrootDir = None,
    jobs: Jobs = None,
    verbose: Verbose = False,
) -> None:
    """Run INPUT... with gdb or lldb attached to the executor before any JIT'd code runs."""
    from crossjit.cli import fastjit

    inputs, program_args = _split_program_args(inputs)
    _set_jobs(jobs)
    with _guard():
        from crossjit.debug.debugger import DebugRequest, run_debug

        profiles = [p for p in inputs if p.suffix in (".yaml", ".yml")]
        if profiles and len(inputs) != 1:
            raise UsageError("crossjit debug takes one profile, or sources, not both")
        request = DebugRequest(
            jit=fastjit.request({
                "inputs": inputs, "program_args": program_args, "executor": executor,
                "target": target, "opt_level": opt, "debug": True, "include_dirs": include,
                "defines": define, "dlopen": dlopen, "libs": lib, "lib_dirs": lib_dir,
                "sysroot": sysroot,
            }),
            debugger=debugger,
            breakpoints=tuple(breakpoints or ()),
            batch=batch,
            profile=profiles[0] if profiles else None,
        )
        status = run_debug(request, progress=progress if verbose else None, warn=progress)
    _exit(status)


def _json_lines() -> Callable[[dict[str, object]], None]:
    """--json's sink: each event one line on stdout, written whole and flushed at once
    (events come from the watch loop and from the thread that runs the program)."""
    import json
    import threading

    lock = threading.Lock()

    def write(event: dict[str, object]) -> None:
        line = json.dumps(event, separators=(",", ":")) + "\n"
        with lock:
            sys.stdout.write(line)
            sys.stdout.flush()

    return write


@app.command(
    # The program's arguments after -- are taken from sys.argv, not parsed by click.
    context_settings={"allow_interspersed_args": True, "allow_extra_args": True},
    short_help="Build and run a profile's program (--watch: rerun on every save).",
    epilog="Example: crossjit run profiles/hello-musl.yaml -- world",
)
def run(
    profile: Annotated[Path, typer.Argument(help="The project profile (YAML).",
                                            show_default=False)],
    executor: Annotated[
        str | None,
        typer.Option("--executor", "-e", help="Run elsewhere than the profile says: "
                     "spawn:PATH, tcp:HOST:PORT, docker:VARIANT or ssh:[USER@]HOST[:PORT]."),
    ] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep a container this run had to start.")
    ] = False,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Stay resident: rebuild and restart the "
                           "program whenever a source, header or the profile changes "
                           "(docs/watch.md). Ctrl-C ends it.")
    ] = False,
    live: Annotated[
        bool, typer.Option("--live", help="With --watch: patch edited functions into the "
                           "running program, keeping its state (docs/watch.md); falls back "
                           "to a restart when kept state cannot survive the edit.")
    ] = False,
    jobs: Jobs = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="Build for this triple instead of the profile's (its "
                     "sysroot is for its own triple; another gets the default one)."),
    ] = None,
    on: Annotated[
        list[str] | None,
        typer.Option("--on", help="Run on each of these targets at once (repeatable or "
                     "comma-separated): local, local:TRIPLE, musl, docker:NAME, spawn:PATH, "
                     "tcp:HOST:PORT, ssh:HOST, NAME=SPEC, or a name from the profile's "
                     "`targets:`. A profile with `targets:` runs on them without --on.",
                     show_default=False),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line on stdout: a fleet's "
                           "outputs and statuses, or with --watch every start, reload, "
                           "refusal, error and exit (docs/watch.md#json-events).")
    ] = False,
    compare: Annotated[
        bool, typer.Option("--compare", help="Fleet: diff the targets' stdout and exit "
                           "statuses; fail naming those that disagree with the majority.")
    ] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Fleet: stop targets still running "
                                   "after this many seconds.", min=0.1)
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Build what changed, link, and run PROFILE's program on its executor.

    Arguments after -- replace the profile's args. A container the run had to start is
    removed afterwards (--keep keeps it; `crossjit executor up` starts one that stays).
    With --on (or a profile's `targets:`) the program runs on every target at once: see
    docs/targets.md, "Fleets".
    """
    args = _args_after_dashdash()
    _terminate_like_interrupt()
    _set_jobs(jobs)
    if on or _has_targets(profile, executor, watch):
        with _guard():
            from crossjit.cli import fleet as fleet_cli
            from crossjit.run import fleet

            fleet.check_options(watch=watch, executor=executor, keep=keep)
            if target is not None:
                raise UsageError("--target does not apply to a fleet",
                                 hint="give a target its triple in the profile's `targets:` "
                                 "(target: TRIPLE) or as local:TRIPLE")
            status = fleet_cli.run(profile, on or [], args=tuple(args) if "--" in sys.argv
                                   else None, as_json=as_json, compare=compare,
                                   timeout=timeout, progress=progress if verbose else None)
        _exit(status)
    if compare or timeout is not None:
        with _guard():
            raise UsageError("--compare and --timeout are for fleet runs",
                             hint="add --on TARGET,TARGET... (docs/targets.md, Fleets)")
    if target is not None and watch:
        with _guard():
            raise NotSupportedError("run --watch --target is not supported yet",
                                    hint="put the triple in the profile's `target:`")
    if (live or as_json) and not watch:
        with _guard():
            flag = "--live" if live else "--json"
            raise UsageError(f"{flag} needs --watch (or, for --json, a fleet: --on)",
                             hint=f"crossjit run PROFILE --watch {flag}")
    if watch:
        with _guard():
            from crossjit.run.watch import watch_profile

            status = watch_profile(profile, tuple(args) if "--" in sys.argv else None,
                                   executor=executor, keep=keep, say=_stderr,
                                   progress=progress if verbose else None, live=live,
                                   events=_json_lines() if as_json else None)
        _exit(status)
    with _guard():
        from crossjit.run.session import run_profile

        status = run_profile(profile, tuple(args) if "--" in sys.argv else None,
                             executor=executor, keep=keep,
                             progress=progress if verbose else None, warn=progress,
                             triple=target)
    _exit(status)


def _has_targets(profile: Path, executor: str | None, watch: bool) -> bool:
    """A profile's `targets:` make `run` a fleet run, unless -e or --watch pick one target
    (a profile that does not load says why in the run that follows)."""
    if executor is not None or watch:
        return False
    from crossjit.project.profile import load_profile

    try:
        return bool(load_profile(profile).targets)
    except CrossjitError:
        return False


@app.command(short_help="Write a commented starter profile for the sources in DIR.",
             epilog="Example: crossjit init && crossjit run crossjit.yaml")
def init(
    directory: Annotated[
        Path, typer.Argument(help="The project's folder.", metavar="[DIR]")
    ] = Path("."),
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing crossjit.yaml.")
    ] = False,
    name: Annotated[
        str | None, typer.Option("--name", help="The profile's name (default: DIR's name).")
    ] = None,
) -> None:
    """Write DIR/crossjit.yaml listing DIR's C/C++ sources (hidden and build folders
    skipped): this host's target and the local executor; the musl container is a
    commented alternative. Refuses to overwrite the file without --force."""
    with _guard():
        from crossjit.project.starter import write_starter

        dest, sources = write_starter(directory, force=force, name=name)
        progress(f"wrote {dest} ({len(sources)} source{'s' if len(sources) != 1 else ''}); "
                 f"next: crossjit run {dest}")


_NEXT_TO_PROFILE = "\0next-to-the-profile"  # a bare --compile-commands (no PATH can hold NUL)


@app.command(short_help="Compile a profile's sources into the cache (only what changed).")
def build(
    profile: Annotated[Path, typer.Argument(help="The project profile (YAML).",
                                            show_default=False)],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print what was compiled as JSON on stdout.")
    ] = False,
    compile_commands: Annotated[
        str | None,
        typer.Option("--compile-commands", show_default=False,
                     metavar="[PATH]",
                     help="Also write compile_commands.json (for clangd) with the exact "
                     "clang commands for the profile's target: into PATH (a directory, or "
                     "a .json file), by default next to the profile. Put it after PROFILE."),
    ] = None,
    jobs: Jobs = None,
) -> None:
    """Compile PROFILE's sources into the cache (in parallel; only what changed)."""
    _set_jobs(jobs)
    with _guard():
        import json

        from crossjit.run.session import build_profile

        cc = None
        if compile_commands is not None:
            from crossjit.compile.commands import destination

            given = None if compile_commands == _NEXT_TO_PROFILE else Path(compile_commands)
            cc = destination(given, profile.parent).absolute()
        result = build_profile(profile, progress=progress, compile_commands=cc)
        compiled = [str(p) for p in result.compiled]
        generated = [str(s.input) for s in result.steps if s.generated]
        if json_out:
            print(json.dumps({"inputs": [str(s.input) for s in result.steps],
                              "compiled": compiled, "generated": generated}))
        else:
            progress(f"{len(result.steps)} inputs, {len(compiled)} compiled, "
                     f"{len(generated)} code-generated, the rest from the cache")
    _exit(0)


def _split_program_args(inputs: list[Path]) -> tuple[list[Path], list[str]]:
    """Typer hands the arguments after `--` to INPUTS too; they belong to the program."""
    program_args = _args_after_dashdash()
    return (inputs[: len(inputs) - len(program_args)] if program_args else inputs), program_args


def _args_after_dashdash() -> list[str]:
    argv = sys.argv[1:]
    if "--" in argv:
        return argv[argv.index("--") + 1 :]
    return []


# --- profiles, sysroots, executor containers (docs/profiles.md, docs/containers.md) -------

profile_app = typer.Typer(help="Check project profiles.", no_args_is_help=True)
sysroot_app = typer.Typer(help="Target sysroots built from images/sysroot/.", no_args_is_help=True)
executor_app = typer.Typer(help="Executor containers.", no_args_is_help=True)
app.add_typer(profile_app, name="profile")
app.add_typer(sysroot_app, name="sysroot")
app.add_typer(executor_app, name="executor")
daemon_app = typer.Typer(
    help="A resident crossjit that keeps its imports warm: commands start in ~20 ms "
    "instead of ~50 ms. The first command starts one (CROSSJIT_DAEMON=0: never); it "
    "exits after 15 min idle (CROSSJIT_DAEMON_IDLE) or when crossjit's code changes.",
    no_args_is_help=True)
app.add_typer(daemon_app, name="daemon")


@daemon_app.command("start")
def daemon_start() -> None:
    """Start the daemon in the background (no-op if it runs)."""
    with _guard():
        from crossjit.cli import daemon
        from crossjit.cli.launcher import socket_path

        pid = daemon.start()
        print(f"crossjit daemon {pid} on {socket_path()}")


@daemon_app.command("stop")
def daemon_stop() -> None:
    """Stop the daemon."""
    with _guard():
        from crossjit.cli import daemon

        pid = daemon.stop()
        print(f"stopped crossjit daemon {pid}" if pid else "no crossjit daemon was running")


@daemon_app.command("status")
def daemon_status() -> None:
    """Say whether the daemon runs (exit 0) or not (exit 1)."""
    with _guard():
        from crossjit.cli import daemon

        st = daemon.status()
        if st is None:
            print("not running")
        else:
            how = "started by a command" if st.auto else "started by `crossjit daemon start`"
            idle = f"exits after {st.idle_s:g} s idle" if st.idle_s else "no idle exit"
            stale = "; stale: crossjit changed, the next command replaces it" if st.stale else ""
            print(f"crossjit daemon {st.pid} on {st.socket} ({how}; {idle}{stale})")
    _exit(0 if st else 1)


ProfileArg = Annotated[Path, typer.Argument(help="The profile YAML file.", show_default=False)]
ProfileOpt = Annotated[
    Path | None, typer.Option("--profile", "-p", help="Take the settings from this profile.")
]


@profile_app.command("check")
def profile_check(
    profile: ProfileArg,
    fetch: Annotated[
        bool, typer.Option("--fetch", help="Also download and verify fetched sources.")
    ] = False,
) -> None:
    """Validate PROFILE and print what it describes."""
    with _guard():
        from crossjit.project import sources
        from crossjit.project.profile import load_profile

        p = load_profile(profile)
        fetched = sources.fetch_all(p, progress) if fetch else {}
        print(sources.summary(p, sources.resolve(p, fetched), fetched))


ArchOpt = Annotated[
    str | None,
    typer.Option("--arch", help="CPU of the sysroot: x86_64 or aarch64 (default: this host's; "
                 "with --profile, the profile's target).", show_default=False),
]


@sysroot_app.command("build")
def sysroot_build(
    name: Annotated[
        str | None, typer.Argument(help="Recipe (images/sysroot/NAME).", show_default=False)
    ] = None,
    package: Annotated[
        list[str] | None,
        typer.Option("--package", help="Add a -dev package (repeatable).", show_default=False),
    ] = None,
    profile: ProfileOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if up to date.")] = False,
    arch: ArchOpt = None,
) -> None:
    """Build a sysroot image and export it into the cache."""
    with _guard():
        from crossjit.targets import sysroot

        recipe, packages, cpu = _sysroot_request(name, package or [], profile, arch)
        print(sysroot.build(recipe, packages, progress=progress, force=force, arch=cpu))


def _sysroot_request(name: str | None, packages: list[str], profile: Path | None,
                     arch: str | None) -> tuple[str, list[str], str | None]:
    if profile is not None:
        from crossjit.project.profile import load_profile

        p = load_profile(profile)
        s = p.sysroot
        if s is None or s.recipe is None:
            raise UsageError(f"profile {profile} names no sysroot recipe")
        # The profile's target decides the CPU unless --arch says otherwise.
        return name or s.recipe, [*s.packages, *packages], arch or p.target.triple
    if name is None:
        raise UsageError("which sysroot?", hint="crossjit sysroot build NAME, or --profile P")
    return name, packages, arch


@sysroot_app.command("list")
def sysroot_list() -> None:
    """Built sysroots, and the recipes available."""
    with _guard():
        from crossjit.project import recipes
        from crossjit.targets import sysroot

        built = {sysroot.key_of(m.recipe, m.arch): m for m in sysroot.list_built()}
        for key in sorted(set(recipes.sysroot_recipes()) | set(built)):
            m = built.get(key)
            if m is None:
                print(f"{key:16} not built")
                continue
            stale = sysroot.staleness(m.recipe, m.packages, m.arch)
            state = f"stale: {stale}" if stale else "ready"
            pkgs = ", ".join(m.packages) or "-"
            print(f"{key:16} {state:8} packages: {pkgs}  {sysroot.path_of(m.recipe, m.arch)}")


@sysroot_app.command("path")
def sysroot_path(
    name: Annotated[str, typer.Argument(help="Recipe name.", show_default=False)],
    arch: ArchOpt = None,
) -> None:
    """Print the folder of a built sysroot (for --sysroot)."""
    with _guard():
        from crossjit.targets import sysroot

        m = sysroot.Manifest.read(sysroot.path_of(name, arch))
        print(sysroot.require(name, m.packages if m else (), arch))


@sysroot_app.command("rm")
def sysroot_rm(
    name: Annotated[str, typer.Argument(help="Recipe name.", show_default=False)],
    arch: ArchOpt = None,
) -> None:
    """Delete a built sysroot from the cache."""
    with _guard():
        from crossjit.targets import sysroot

        if not sysroot.remove(name, arch):
            raise UsageError(f"sysroot {sysroot.key_of(name, arch)} is not built",
                             hint="see `crossjit sysroot list`")
        progress(f"removed sysroot {sysroot.key_of(name, arch)}")


@executor_app.command("up")
def executor_up(
    variant: Annotated[
        str | None, typer.Argument(help="musl, debian or alpine.", show_default=False)
    ] = None,
    profile: ProfileOpt = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the Setup handshake.")
    ] = 30.0,
) -> None:
    """Build the executor image and start a hardened container; ready = handshake done."""
    with _guard():
        from crossjit.project import sources
        from crossjit.project.profile import load_profile
        from crossjit.targets.container import config_of, profile_container

        p = load_profile(profile) if profile else None
        mounts = sources.resolve(p, {}).mounts if p else ()
        place = profile_container(config_of(p, mounts, variant))
        info = place.up(progress=progress, deadline=timeout)
        print(f"{place.name}: ready ({info.triple}, {info.dialect})")


def _container_name(name: str | None, profile: Path | None) -> str | None:
    from crossjit.project.plan import container_name
    from crossjit.targets.container import VARIANTS

    if profile is not None:
        from crossjit.project.profile import load_profile

        return container_name(load_profile(profile).name)
    if name in VARIANTS:
        return container_name(name)
    return name


@executor_app.command("down")
def executor_down(
    name: Annotated[
        str | None,
        typer.Argument(help="Container or variant (default: all executors).", show_default=False),
    ] = None,
    profile: ProfileOpt = None,
) -> None:
    """Stop and remove executor containers."""
    with _guard():
        from crossjit.targets import container

        target = _container_name(name, profile)
        if target:
            if not container.container_target(target).down():
                raise ExecutorError(f"no executor container {target}")
            removed = [target]
        else:
            removed = container.down_all()
        for n in removed:
            progress(f"removed {n}")


@executor_app.command("status")
def executor_status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Executor containers and their state."""
    with _guard():
        import json

        from crossjit.targets import container

        rows = container.status()
        if as_json:
            print(json.dumps(rows, indent=2))
            return
        if not rows:
            print("no executor containers (start one: crossjit executor up musl)")
        for r in rows:
            print(f"{r['name']:28} {r['variant']:7} {r['status']:9} {r['image']}")


@executor_app.command("logs")
def executor_logs(
    name: Annotated[str, typer.Argument(help="Container or variant.", show_default=False)],
    tail: Annotated[int | None, typer.Option("--tail", help="Only the last N lines.")] = None,
) -> None:
    """The container's own output (sessions' program output goes to `crossjit run`)."""
    with _guard():
        from crossjit.targets.container import container_target

        target = _container_name(name, None)
        assert target is not None
        sys.stdout.buffer.write(container_target(target).logs(tail))
        sys.stdout.flush()


@app.command(short_help="Check the engine, compiler, executors and sysroots.")
def doctor() -> None:
    """Report the Docker engine, clang, llvmlite, executors, binfmt and sysroots."""
    with _guard():
        from crossjit.cli import doctor as checks

        for c in checks.run():
            print(f"{'ok' if c.ok else '--':2}  {c.name:22} {c.detail}")
            if c.hint and not c.ok:
                print(f"    {'':22} hint: {c.hint}")


@app.command()
def clean(
    images: Annotated[
        bool, typer.Option("--images", help="Also remove crossjit's Docker images.")
    ] = False,
) -> None:
    """Remove crossjit's caches and every leftover crossjit container."""
    with _guard():
        from crossjit.cli import housekeeping

        report = housekeeping.clean(images=images, progress=progress)
        print(report)


class _LazyGroup(typer.core.TyperGroup):
    """The root command, whose subcommands are converted from typer to click on first use.

    typer inspects every command's signature to build its click command (~30 ms for all
    of them): a command line needs one, ``--help`` none (the listing takes only names and
    help texts), so each is built when asked for. The daemon builds them all once.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lazy: dict[str, Callable[[], click.Command]] = {}
        self._summaries: dict[str, click.Command] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self._lazy)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self._lazy:
            built = self._lazy[cmd_name]()
            after = _AFTER_BUILD.get(cmd_name)
            self.commands[cmd_name] = after(built) if after else built
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        built, self.commands = self.commands, {**self._summaries, **self.commands}
        try:
            super().format_commands(ctx, formatter)
        finally:
            self.commands = built


def _lazy_group(root: typer.Typer) -> click.Command:
    """What ``typer.main.get_command(root)`` returns, with the subcommands built lazily."""
    tm = typer.main
    short, markup = root.pretty_exceptions_short, root.rich_markup_mode
    lazy: dict[str, Callable[[], click.Command]] = {}
    summaries: dict[str, click.Command] = {}
    for info in root.registered_commands:
        assert info.callback is not None
        name = info.name or tm.get_command_name(info.callback.__name__)
        lazy[name] = functools.partial(tm.get_command_from_info, info,
                                       pretty_exceptions_short=short, rich_markup_mode=markup)
        doc = inspect.cleandoc(info.help) if info.help else inspect.getdoc(info.callback)
        summaries[name] = click.Command(name, help=doc, short_help=info.short_help,
                                        hidden=info.hidden, deprecated=info.deprecated)
    for sub in root.registered_groups:
        solved = tm.solve_typer_info_defaults(sub)
        assert solved.name
        lazy[solved.name] = functools.partial(tm.get_group_from_info, sub,
                                              pretty_exceptions_short=short,
                                              rich_markup_mode=markup)
        summaries[solved.name] = click.Command(solved.name, help=solved.help,
                                               short_help=solved.short_help,
                                               hidden=solved.hidden,
                                               deprecated=solved.deprecated)
    # The root alone: typer builds its options and callback from a copy without children.
    bare = copy.copy(root)
    bare.registered_commands, bare.registered_groups = [], []
    bare.info = copy.copy(root.info)
    bare.info.cls = _LazyGroup
    group = tm.get_group(bare)
    assert isinstance(group, _LazyGroup)
    group._lazy, group._summaries = lazy, summaries
    return group


@functools.cache
def command() -> click.Command:
    """The click command of the app; its subcommands are built on first use (see
    _LazyGroup). ``build_all`` builds every one now (the daemon, before it forks)."""
    return _lazy_group(app)


def _optional_value(cmd: click.Command, name: str, bare: str) -> click.Command:
    """Let an option's value be left out (``--opt`` alone means ``bare``): click can,
    typer cannot declare it, so its click option is replaced by an equivalent one."""
    for i, p in enumerate(cmd.params):
        if p.name == name and isinstance(p, click.Option):
            cmd.params[i] = click.Option(p.opts, is_flag=False, flag_value=bare, default=None,
                                         help=p.help, metavar=p.metavar, show_default=False)
            return cmd
    raise AssertionError(f"no option {name} in {cmd.name}")


# Adjustments typer cannot declare, made to a subcommand when it is built.
_AFTER_BUILD: dict[str, Callable[[click.Command], click.Command]] = {
    "build": lambda cmd: _optional_value(cmd, "compile_commands", _NEXT_TO_PROFILE),
}


def build_all() -> None:
    group = command()
    assert isinstance(group, click.Group)
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        if isinstance(sub, click.Group):
            sub.list_commands(ctx)


def status_of(argv: list[str]) -> int:
    """``main(argv)``'s exit status, returned instead of exiting: for a process forked to
    run one command (the daemon's child, a fleet's target)."""
    try:
        main(argv)
        return 0
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except KeyboardInterrupt:
        print("crossjit: interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> None:
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    try:
        # Without standalone mode click *returns* the status of typer.Exit.
        rc = command().main(args=sys.argv[1:], prog_name="crossjit", standalone_mode=False)
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


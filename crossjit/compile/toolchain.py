"""The only module that runs clang: discovery, argv building (pure) and cached compiles
(through compile/resident.py's forked clang when `run --watch` started one).

Sources become LLVM bitcode for the *target* triple; code generation happens later in
``codegen.py`` with llvmlite's LLVM, so the host compiler's backend never matters.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from crossjit.compile import cache as cachedir
from crossjit.errors import CompileError, ToolchainError
from crossjit.records import field, record, replace

if TYPE_CHECKING:
    from crossjit.compile.resident import ResidentClang


def which(name: str) -> str | None:
    """``shutil.which(name)``, without importing shutil (which imports bz2 and lzma:
    ~2.5 ms of every start): ``name`` itself when it has a folder, else the first
    executable file of that name on $PATH."""
    if os.path.dirname(name):
        return name if _is_executable(name) else None
    path = os.environ.get("PATH", os.defpath)
    for folder in dict.fromkeys(path.split(os.pathsep)) if path else ():
        candidate = os.path.join(folder, name)
        if _is_executable(candidate):
            return candidate
    return None


def _is_executable(path: str) -> bool:
    return os.access(path, os.F_OK | os.X_OK) and not os.path.isdir(path)


# json and tempfile are imported by the functions that need them: a `jit` of objects
# imports this module for its options (tests/integration/test_startup_imports.py).

C_SUFFIXES = frozenset({".c"})
CXX_SUFFIXES = frozenset({".cc", ".cpp", ".cxx", ".c++", ".C"})
SOURCE_SUFFIXES = C_SUFFIXES | CXX_SUFFIXES
# The newest bitcode llvmlite's bundled LLVM can read.
MAX_CLANG_MAJOR = 22
COMPILE_TIMEOUT_S = 600


@record(frozen=True)
class Compiler:
    """A clang driver: ``argv_prefix`` runs it (a path, or python -m ziglang cc)."""

    argv_prefix: tuple[str, ...]
    cxx_argv_prefix: tuple[str, ...]
    version: str
    major: int
    origin: str  # how it was found, for `crossjit doctor` and error messages
    is_zig: bool = False

    @property
    def identity(self) -> str:
        return f"{' '.join(self.argv_prefix)}|{self.version}"


@record(frozen=True)
class CompileOptions:
    target: str
    opt_level: int = 0
    debug: bool = False
    include_dirs: tuple[Path, ...] = ()
    defines: tuple[str, ...] = ()
    sysroot: Path | None = None
    extra_cflags: tuple[str, ...] = field(default=())
    # A compiler launcher (ccache, sccache, distcc ...) put before clang's argv, as CMake's
    # CMAKE_<LANG>_COMPILER_LAUNCHER; $CROSSJIT_COMPILER_LAUNCHER overrides it. Not part of
    # any cache key: a launcher must produce what the compiler alone would.
    launcher: tuple[str, ...] = ()


def is_cxx(path: Path) -> bool:
    return path.suffix in CXX_SUFFIXES


def zig_target(triple: str) -> str:
    """zig spells triples without a vendor: x86_64-pc-linux-gnu -> x86_64-linux-gnu."""
    parts = triple.split("-")
    if len(parts) == 4:
        parts = [parts[0], parts[2], parts[3]]
    elif len(parts) == 3 and parts[1] in ("pc", "unknown"):
        parts = [parts[0], parts[2], "gnu"]
    return "-".join(parts)


def compile_argv(compiler: Compiler, source: Path, output: Path, opts: CompileOptions,
                 depfile: Path | None = None) -> list[str]:
    """clang argv for one source → bitcode (pure; unit-tested)."""
    prefix = compiler.cxx_argv_prefix if is_cxx(source) else compiler.argv_prefix
    argv = list(prefix)
    if compiler.is_zig:
        # zig cc turns on UBSan by default in debug builds; its runtime is not linked here.
        argv += ["-target", zig_target(opts.target), "-fno-sanitize=all"]
    else:
        argv.append(f"--target={opts.target}")
    if opts.sysroot is not None:
        argv.append(f"--sysroot={opts.sysroot}")
    # PIC: every reference to an executor symbol goes through the GOT, so libc may be
    # anywhere in the target's address space.
    argv += ["-fPIC", "-emit-llvm", "-c"]
    if opts.target.startswith("aarch64"):
        # clang calls libgcc.a's __aarch64_ldadd4_acq_rel & co. for atomics on Linux by
        # default; no shared library exports them, so nothing could resolve them here.
        argv.append("-mno-outline-atomics")
    if opts.opt_level == 0:
        argv.append("-O0")
    else:
        # Emit unoptimised IR *without* optnone; llvmlite runs the -ON pipeline later.
        argv += [f"-O{opts.opt_level}", "-Xclang", "-disable-llvm-passes"]
    if opts.debug:
        argv.append("-g")
    for inc in opts.include_dirs:
        argv.append(f"-I{inc}")
    for d in opts.defines:
        argv.append(f"-D{d}")
    argv += list(opts.extra_cflags)
    if depfile is not None:
        argv += ["-MD", "-MF", str(depfile)]
    argv += [str(source), "-o", str(output)]
    return argv


_VERSION_RE = re.compile(r"clang version (\d+)\.(\d+)\.(\d+)")


def _binary_stamp(prefix: tuple[str, ...]) -> str | None:
    """Identifies the compiler binary's exact file, so its --version can be cached."""
    target = prefix[-1] if prefix[0] != sys.executable else prefix[2]
    try:
        if prefix[0] == sys.executable:  # python -m ziglang cc: the wheel is the compiler
            import ziglang

            target = ziglang.__file__
        st = os.stat(os.path.realpath(target))
    except (OSError, ImportError):
        return None
    return f"{os.path.realpath(target)}|{st.st_mtime_ns}|{st.st_size}"


def _version_text(prefix: tuple[str, ...]) -> tuple[int, str]:
    """`clang --version` (exit status, output), cached per binary: it costs ~50 ms a run."""
    import json

    stamp = _binary_stamp(prefix)
    memo = cachedir.root() / "compilers" / f"{_sha(json.dumps([prefix, stamp]).encode())}.txt"
    if stamp is not None and memo.exists():
        return 0, memo.read_text()
    try:
        out = subprocess.run([*prefix, "--version"], capture_output=True, text=True,
                             timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolchainError(f"cannot run the compiler {' '.join(prefix)}", why=str(exc)) from exc
    if out.returncode == 0 and stamp is not None and _VERSION_RE.search(out.stdout):
        cachedir.atomic_write(memo, out.stdout.encode())
    return out.returncode, out.stdout + out.stderr


def _probe(prefix: tuple[str, ...], cxx: tuple[str, ...], origin: str, is_zig: bool) -> Compiler:
    rc, text = _version_text(prefix)
    m = _VERSION_RE.search(text)
    if rc != 0 or not m:
        raise ToolchainError(
            f"{' '.join(prefix)} does not look like clang",
            why=text.strip()[:500],
            hint="set CROSSJIT_CLANG to a clang binary",
        )
    major = int(m.group(1))
    if major > MAX_CLANG_MAJOR:
        raise ToolchainError(
            f"clang {m.group(0).split()[-1]} ({origin}) writes bitcode newer than crossjit's "
            f"code generator (LLVM {MAX_CLANG_MAJOR}) can read",
            hint=f"use clang {MAX_CLANG_MAJOR} or older via CROSSJIT_CLANG",
        )
    return Compiler(prefix, cxx, m.group(0), major, origin, is_zig)


def _clangs_on_path() -> list[str]:
    """`clang`, then `clang-NN` from newest to oldest (readable by llvmlite)."""
    found: dict[int, str] = {}
    for d in os.environ.get("PATH", "").split(os.pathsep):
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            if not name.startswith("clang-"):
                continue
            m = re.fullmatch(r"clang-(\d+)", name)
            if m and int(m.group(1)) <= MAX_CLANG_MAJOR:
                found.setdefault(int(m.group(1)), os.path.join(d, name))
    ordered = [found[k] for k in sorted(found, reverse=True)]
    plain = which("clang")
    return ([plain] if plain else []) + ordered


def _cxx_for(clang: str) -> str:
    p = Path(clang)
    cand = p.with_name(p.name.replace("clang", "clang++", 1))
    return str(cand) if cand.exists() else clang


def needs_bundled_libc(target: str, sysroot: Path | None) -> bool:
    """A musl target without a sysroot: the host's headers are glibc's."""
    return sysroot is None and "musl" in target.split("-")[-1]


_ZIG_ARCH_DIRS = {"x86_64": "x86", "aarch64": "aarch64", "riscv64": "riscv", "arm": "arm"}


def bundled_musl_includes(target: str) -> tuple[Path, ...]:
    """The musl headers the ziglang wheel ships, in the order zig cc searches them."""
    try:
        import ziglang
    except ImportError:
        raise ToolchainError(
            f"no musl headers to compile for {target}",
            why="no sysroot was given and the ziglang package (which bundles musl "
            "headers) is not installed",
            hint="crossjit sysroot build debian-musl and pass it, or pip install ziglang",
        ) from None
    arch = target.split("-")[0]
    base = Path(ziglang.__file__).parent / "lib" / "libc" / "include"
    dirs = [base / f"{arch}-linux-musl", base / "generic-musl",
            base / f"{_ZIG_ARCH_DIRS.get(arch, arch)}-linux-any", base / "any-linux-any"]
    return tuple(d for d in dirs if d.is_dir())


def _zig_compiler() -> Compiler:
    zig = (sys.executable, "-m", "ziglang")
    return _probe((*zig, "cc"), (*zig, "c++"), "ziglang wheel", True)


_FOUND: dict[tuple[object, ...], Compiler] = {}


def find_compiler() -> Compiler:
    """CROSSJIT_CLANG, else clang / clang-NN on PATH, else the ziglang wheel's clang.

    Remembered per CROSSJIT_CLANG, PATH and the PATH folders' mtimes (a compiler
    installed or removed changes its folder's), in this process (a daemon finds it once,
    before it forks) and in the cache for the next process (listing PATH and reading
    the memo of `clang --version` cost ~4 ms of each cold start)."""
    path = os.environ.get("PATH", "")
    stamps = []
    for d in path.split(os.pathsep):
        try:
            stamps.append(os.stat(d).st_mtime_ns)
        except OSError:
            stamps.append(-1)
    key = (os.environ.get("CROSSJIT_CLANG"), path, *stamps)
    found = _FOUND.get(key)
    if found is None:
        memo = cachedir.root() / "compilers" / f"found-{_sha(repr(key).encode())}.txt"
        found = _recall_compiler(memo)
        if found is None:
            found = _find_compiler()
            _remember_compiler(memo, found)
        _FOUND[key] = found
    return found


# A found compiler on disk: its binary's stamp, then one field per line (the prefixes'
# words NUL-separated). The stamp is checked on reading: a clang rewritten in place
# leaves its folder's mtime alone.
def _remember_compiler(memo: Path, c: Compiler) -> None:
    stamp = _binary_stamp(c.argv_prefix)
    if stamp is None:
        return  # nothing to check a memo against
    fields = (stamp, "\0".join(c.argv_prefix), "\0".join(c.cxx_argv_prefix), c.version,
              str(c.major), c.origin, "1" if c.is_zig else "0")
    if any("\n" in f for f in fields):
        return  # not in this format
    with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
        cachedir.atomic_write(memo, "\n".join(fields).encode())


def _recall_compiler(memo: Path) -> Compiler | None:
    try:
        stamp, argv, cxx, version, major, origin, is_zig = memo.read_text().split("\n")
        c = Compiler(tuple(argv.split("\0")), tuple(cxx.split("\0")), version, int(major),
                     origin, is_zig == "1")
    except (OSError, ValueError):  # none yet, or not this format
        return None
    return c if _binary_stamp(c.argv_prefix) == stamp else None


def _find_compiler() -> Compiler:
    env = os.environ.get("CROSSJIT_CLANG")
    if env:
        path = which(env) or env
        if not Path(path).exists():
            raise ToolchainError(f"CROSSJIT_CLANG={env} does not exist")
        return _probe((path,), (_cxx_for(path),), "CROSSJIT_CLANG", False)
    for clang in _clangs_on_path():
        try:
            return _probe((clang,), (_cxx_for(clang),), "PATH", False)
        except ToolchainError:
            continue
    return _zig_compiler()


LAUNCHER_ENV = "CROSSJIT_COMPILER_LAUNCHER"


def launcher_argv(opts: CompileOptions) -> tuple[str, ...]:
    """The launcher clang runs under: $CROSSJIT_COMPILER_LAUNCHER when set (this
    machine's choice wins; set it empty for none), else the profile's."""
    env = os.environ.get(LAUNCHER_ENV)
    if env is None:
        words = opts.launcher
    else:
        try:
            words = tuple(shlex.split(env))
        except ValueError as exc:
            raise ToolchainError(f"{LAUNCHER_ENV} cannot be split into words",
                                 why=str(exc)) from None
    if words and which(words[0]) is None:
        origin = LAUNCHER_ENV if env is not None else "the profile's compiler_launcher"
        raise ToolchainError(
            f"the compiler launcher {words[0]!r} ({origin}) is not installed",
            hint="install it (apt-get install ccache), or remove the launcher setting")
    return words


def compile_options_for(opts: CompileOptions, compiler: Compiler) -> CompileOptions:
    """Point a host clang at bundled musl headers when a musl target has no sysroot."""
    if compiler.is_zig or not needs_bundled_libc(opts.target, opts.sysroot):
        return opts  # zig cc finds its own musl headers
    flags: list[str] = ["-nostdlibinc"]
    for d in bundled_musl_includes(opts.target):
        flags += ["-isystem", str(d)]
    return replace(opts, extra_cflags=(*flags, *opts.extra_cflags))


# --- compiling with a content-addressed cache -------------------------------------------


@record(frozen=True)
class CompileResult:
    source: Path
    bitcode: Path
    cached: bool
    # Every other file the compile read (clang's depfile), e.g. for `run --watch`.
    headers: tuple[Path, ...] = ()


def _sha(data: bytes) -> str:
    return cachedir.digest(data)


# Hashes of files by their stat signature, for a resident process (watch) that looks up
# the same sources and headers on every save (Mongoose: ~1 MB hashed per edit). Only
# recorded for files last modified over RACY_NS ago — as git treats "racily clean"
# entries: a write within the file system's timestamp granularity may keep mtime and
# size, so a recent file is always hashed again.
_SHA_MEMO: dict[str, tuple[tuple[int, int, int, int], str]] = {}
RACY_NS = 2_000_000_000


def _file_sha(path: Path) -> str | None:
    try:
        st = os.stat(path)
        sig = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
        memo = _SHA_MEMO.get(str(path))
        if memo is not None and memo[0] == sig:
            return memo[1]
        sha = _sha(path.read_bytes())
    except OSError:
        return None
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > RACY_NS:
        _SHA_MEMO[str(path)] = (sig, sha)
    return sha


def _parse_depfile(text: str) -> list[str]:
    body = text.split(":", 1)[1] if ":" in text else ""
    body = body.replace("\\\n", " ")
    deps = re.split(r"(?<!\\) +", body.strip())
    return [d.replace("\\ ", " ") for d in deps if d]


RESIDENT_ENV = "CROSSJIT_RESIDENT_CLANG"  # 0: watch execs clang for every compile
_RESIDENT: list[ResidentClang] = []  # the one `run --watch` started (resident.py)


def start_resident(compiler: Compiler | None = None) -> bool:
    """Compile by forking a resident clang from now on (a watch session: ~24 ms less per
    compile). False when it cannot be used here; compiles then exec clang as always."""
    from crossjit.compile.resident import ResidentClang

    if os.environ.get(RESIDENT_ENV, "1") == "0":
        return False
    compiler = compiler or find_compiler()
    if compiler.is_zig or len(compiler.argv_prefix) != 1 or _RESIDENT:
        return bool(_RESIDENT)
    clang, cxx = compiler.argv_prefix[0], compiler.cxx_argv_prefix[0]
    # clang++ is the same binary: its driver mode comes from argv[0], which the child gets.
    same = os.path.realpath(which(cxx) or cxx) == os.path.realpath(which(clang) or clang)
    server = ResidentClang(clang, (cxx,) if same else ())
    if not server.start():
        return False
    _RESIDENT.append(server)
    return True


def stop_resident() -> None:
    while _RESIDENT:
        _RESIDENT.pop().close()


def _run_clang(argv: list[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of one clang run: forked from the resident clang
    when there is one and it is free, else exec'd."""
    for server in _RESIDENT:
        done = server.run(argv, timeout=COMPILE_TIMEOUT_S)
        if done is not None:
            return done[0], "", done[1]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S,
                          check=False)
    return proc.returncode, proc.stdout, proc.stderr


def compile_to_bitcode(source: Path, opts: CompileOptions, compiler: Compiler | None = None,
                       on_compile: Callable[[], None] | None = None) -> CompileResult:
    """Compile one source to bitcode, reusing the cache when nothing it read changed.
    ``on_compile`` is called when clang really has to run (not on a cache hit).

    Cache lookup is ccache's "direct mode": the key covers compiler identity, argv and the
    source; its manifest lists every header the last compile read with their hashes.
    """
    compiler = compiler or find_compiler()
    opts = compile_options_for(opts, compiler)
    source = source.resolve()
    src_sha = _file_sha(source)
    if src_sha is None:
        try:
            source.read_bytes()
        except OSError as exc:
            raise CompileError(f"cannot read source {source}", why=exc.strerror) from exc
        raise CompileError(f"cannot read source {source}")
    key_argv = compile_argv(compiler, Path("SRC"), Path("OUT"), opts)
    # NUL-separated: no argv word or path holds one, and the first and the last two
    # fields are single words, so the argv between them is unambiguous.
    key = _sha("\0".join([compiler.identity, *key_argv, str(source), src_sha]).encode())
    store = cachedir.subdir("bitcode")
    manifest = store / f"{key}.manifest"
    recalled = _read_manifest(manifest)
    if recalled is not None:
        bc, read = store / recalled[0], recalled[1]
        if bc.exists() and all(_file_sha(Path(h)) == s for h, s in read.items()):
            return CompileResult(source, bc, cached=True, headers=tuple(Path(h) for h in read))
    import tempfile  # only now: a cache hit does not need it

    launcher = launcher_argv(opts)
    prefix = _pch_prefix(source, compiler, opts, launcher)
    pch_file = _pch_ready(compiler, source, opts, prefix) if prefix is not None else None
    with tempfile.TemporaryDirectory(prefix="crossjit-cc-") as tmp:
        out = Path(tmp) / "out.bc"
        dep = Path(tmp) / "out.d"
        # zig cc writes no output when asked for a depfile; its headers never change.
        argv = [*launcher,
                *compile_argv(compiler, source, out, opts,
                              depfile=None if compiler.is_zig else dep)]
        if on_compile is not None:
            on_compile()
        try:
            returncode, stdout, stderr = -1, "", ""
            if pch_file is not None:
                returncode, stdout, stderr = _run_clang(_with_pch(argv, source, pch_file))
                if returncode != 0:  # the PCH's fault or the source's: clang says, without it
                    _drop_pch(pch_file)
            if returncode != 0:
                returncode, stdout, stderr = _run_clang(argv)
        except subprocess.TimeoutExpired:
            raise CompileError(f"compiling {source} took longer than {COMPILE_TIMEOUT_S} s") \
                from None
        except OSError as exc:
            raise ToolchainError(f"cannot run {argv[0]}", why=str(exc)) from exc
        if returncode != 0 or not out.exists():
            raise CompileError(
                f"compiling {source} failed ({compiler.origin}: {compiler.version})",
                why=stderr.strip() or stdout.strip() or f"exit status {returncode}",
            )
        if stderr.strip():
            sys.stderr.write(stderr)  # warnings: clang's own words, unchanged
        data = out.read_bytes()
        headers: dict[str, str] = {}
        if dep.exists():
            ours = _pch_store() if pch_file is not None else None
            for d in _parse_depfile(dep.read_text()):
                p = Path(d)
                if not p.is_absolute():
                    p = (Path.cwd() / p)
                if p.resolve() == source or p.parent == ours:
                    continue  # the PCH's prefix header is ours, not the user's
                sha = _file_sha(p)
                if sha is not None:
                    headers[str(p)] = sha
    bc_name = f"{_sha(data)}.bc"
    cachedir.atomic_write(store / bc_name, data)
    _write_manifest(manifest, bc_name, headers)
    if prefix is not None and pch_file is None:
        _prepare_pch_soon(compiler, source, opts, prefix, src_sha, data)
    return CompileResult(source, store / bc_name, cached=False,
                         headers=tuple(Path(h) for h in headers))


# --- the precompiled prefix of a source (compile/pch.py), while a resident clang runs ------

PCH_ENV = "CROSSJIT_PCH"  # 0: no precompiled prefix (the resident clang still forks)
_PCH_BUSY: set[str] = set()  # keys being prepared in the background
_PCH_LOCK = threading.Lock()


def _pch_store() -> Path:
    return cachedir.subdir("pch")


def _pch_prefix(source: Path, compiler: Compiler, opts: CompileOptions,
                launcher: Sequence[str]) -> str | None:
    """The source's include prefix when a PCH may be used: a watch session's resident
    clang, no launcher, no -g (DWARF would name the PCH's header)."""
    if (not _RESIDENT or compiler.is_zig or launcher or opts.debug
            or os.environ.get(PCH_ENV, "1") == "0"):
        return None
    from crossjit.compile import pch  # only with a resident clang: not at start-up

    try:
        return pch.include_prefix(source.read_text(errors="replace"))
    except OSError:
        return None


def _pch_key(compiler: Compiler, source: Path, opts: CompileOptions, prefix: str) -> str:
    from crossjit.compile import pch

    return pch.key(compiler.identity, compile_argv(compiler, Path("SRC"), Path("OUT"), opts),
                   str(source.parent), prefix)


# A compile's manifest: the bitcode's name, then "SHA PATH" for each header it read.
# Text, not JSON: this is read on every cold start (json's import alone is ~1 ms).
def _write_manifest(manifest: Path, bitcode: str, headers: dict[str, str]) -> None:
    if any("\n" in h for h in headers):
        return  # a header path with a newline: compiled again next time, not cached wrong
    lines = [bitcode, *(f"{sha} {h}" for h, sha in headers.items())]
    cachedir.atomic_write(manifest, "\n".join(lines).encode())


def _read_manifest(manifest: Path) -> tuple[str, dict[str, str]] | None:
    try:
        bitcode, *lines = manifest.read_text().split("\n")
        headers: dict[str, str] = {}
        for line in lines:
            sha, path = line.split(" ", 1)
            headers[path] = sha
    except (OSError, ValueError):  # none yet, or not this format
        return None
    return (bitcode, headers) if bitcode else None


def _pch_ready(compiler: Compiler, source: Path, opts: CompileOptions, prefix: str
               ) -> Path | None:
    """The verified PCH of this prefix, if the headers it read are unchanged."""
    import json

    k = _pch_key(compiler, source, opts, prefix)
    meta_path = _pch_store() / f"{k}.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return None
    if not all(_file_sha(Path(h)) == sha for h, sha in meta.get("headers", {}).items()):
        with contextlib.suppress(OSError):
            meta_path.unlink()  # a header changed: prepared again after this compile
        return None
    path = _pch_store() / f"{k}.pch"
    return path if meta.get("verified") and path.exists() else None


def _drop_pch(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.with_suffix(".json").unlink()


def _with_pch(argv: Sequence[str], source: Path, pch_file: Path) -> list[str]:
    at = len(argv) - 1 - list(reversed(argv)).index(str(source))
    return [*argv[:at], "-include-pch", str(pch_file), *argv[at:]]


def _prepare_pch_soon(compiler: Compiler, source: Path, opts: CompileOptions, prefix: str,
                      src_sha: str, bitcode: bytes) -> None:
    """Build and check the PCH on a thread, off this compile's path (the next edit uses
    it): compile the prefix as a header, then the source with it, and keep the PCH only
    if that bitcode is byte-identical to ``bitcode``, the ordinary compile's."""
    k = _pch_key(compiler, source, opts, prefix)
    with _PCH_LOCK:
        if k in _PCH_BUSY:
            return
        _PCH_BUSY.add(k)

    def work() -> None:
        try:
            _prepare_pch(compiler, source, opts, prefix, src_sha, bitcode, k)
        except Exception:  # an optimisation: without it every compile is an ordinary one
            pass
        finally:
            with _PCH_LOCK:
                _PCH_BUSY.discard(k)

    threading.Thread(target=work, daemon=True, name="crossjit-pch").start()


def _prepare_pch(compiler: Compiler, source: Path, opts: CompileOptions, prefix: str,
                 src_sha: str, bitcode: bytes, k: str) -> None:
    import json
    import tempfile

    store = _pch_store()
    header = store / f"{k}.h"
    cachedir.atomic_write(header, prefix.encode())
    with tempfile.TemporaryDirectory(prefix="crossjit-pch-") as tmp:
        made, dep, out = Path(tmp) / "p.pch", Path(tmp) / "p.d", Path(tmp) / "out.bc"
        argv = compile_argv(compiler, header, made, opts, depfile=dep)
        at = argv.index(str(header))
        lang = "c++-header" if is_cxx(source) else "c-header"
        # quoted includes resolve as from the source's folder, where its own would
        argv[at:at] = ["-x", lang, "-iquote", str(source.parent)]
        rc, _, _ = _run_clang(argv)
        headers: dict[str, str] = {}
        verified = False
        if rc == 0 and made.exists():
            for d in _parse_depfile(dep.read_text()) if dep.exists() else []:
                p = Path(d)
                sha = _file_sha(p) if p != header else None
                if sha is not None:
                    headers[str(p)] = sha
            cachedir.atomic_write(store / f"{k}.pch", made.read_bytes())
            argv = _with_pch(compile_argv(compiler, source, out, opts), source,
                             store / f"{k}.pch")
            rc, _, _ = _run_clang(argv)
            verified = (rc == 0 and out.exists() and out.read_bytes() == bitcode
                        and _file_sha(source) == src_sha)
    cachedir.atomic_write(store / f"{k}.json",
                          json.dumps({"headers": headers, "verified": verified}).encode())

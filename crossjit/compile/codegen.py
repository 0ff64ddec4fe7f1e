"""The only module that imports llvmlite: IR → verified, optimised ELF relocatable object.

One LLVM (the one bundled in llvmlite) generates code for every target triple, so the
host compiler's backend does not matter. Objects are cached by content and by everything
that shapes them (``cache_key``).

LLVM ends the process on some errors (``report_fatal_error`` aborts; an error diagnostic
without a handler calls ``exit(1)``), and llvmlite offers no way to install a fatal-error
handler. So a cache miss generates code in a forked child (``isolated``): the child's
death becomes a ``CodegenError`` naming the input, with what LLVM wrote on stderr.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from crossjit import arch_name
from crossjit.compile import cache as cachedir
from crossjit.errors import CodegenError, NotSupportedError, signal_name
from crossjit.records import record

_LOCK = threading.Lock()  # llvmlite's target registry init is not thread-safe
_FORK_LOCK = threading.Lock()  # one codegen fork at a time (isolated), not one codegen

#: Target machine settings every object is generated with. PIC + small code model: the
#: JIT linker routes external references through a GOT and keeps the image within ±2 GiB.
TARGET_MACHINE: dict[str, str] = {"reloc": "pic", "codemodel": "small"}
#: Bump when code generation changes in a way the settings above do not show (a new
#: pass, another IR rewrite), so objects an older crossjit cached are not reused.
CODEGEN_VERSION = 2
#: How long one module's code generation may take (a huge TU at -O2 takes minutes).
TIMEOUT_S = float(os.environ.get("CROSSJIT_CODEGEN_TIMEOUT", "1800"))


@record(frozen=True)
class CodegenOptions:
    triple: str
    opt_level: int = 0
    cpu: str = ""
    features: str = ""
    # --live: one section per function (compile/sections.py), so that every reference to
    # a function carries a relocation the linker can route through its live stub.
    live: bool = False


def _llvm() -> Any:
    import llvmlite.binding as llvm

    return llvm


_READY = threading.Event()


def _init() -> None:
    """Initialise LLVM's targets once. Under the lock, so that no thread forks a codegen
    child (isolated) while another is half-way through initialising LLVM's registries."""
    if _READY.is_set():
        return
    llvm = _llvm()
    with _LOCK:
        if _READY.is_set():
            return
        llvm.initialize_all_targets()
        llvm.initialize_all_asmprinters()
        # llvmlite exports only the host's assembler (for inline asm); see _reject_inline_asm.
        if hasattr(llvm, "initialize_all_asmparsers"):
            llvm.initialize_all_asmparsers()
        else:
            llvm.initialize_native_asmparser()
        _READY.set()


def warm_up() -> None:
    """Load llvmlite and its targets now (the daemon does, so its children need not)."""
    _init()


_WARMING = threading.Event()


def warm_up_soon() -> None:
    """Load llvmlite on a thread, once: a compile is starting and its codegen follows, so
    the ~20 ms of loading libLLVM overlap clang instead of following it."""
    if _WARMING.is_set():
        return
    _WARMING.set()
    threading.Thread(target=_init, daemon=True, name="crossjit-llvm-warm-up").start()


def llvm_version() -> str:
    return ".".join(str(x) for x in _llvm().llvm_version_info)


def cache_key(data: bytes, opts: CodegenOptions) -> str:
    """Everything that shapes an object: the IR, the options, the target machine
    settings, crossjit's codegen version and llvmlite's (which pins its LLVM). Reading
    llvmlite's version does not load libLLVM, so a cache hit costs no llvmlite start-up."""
    import llvmlite

    parts = [data, repr(opts).encode(), repr(sorted(TARGET_MACHINE.items())).encode(),
             str(CODEGEN_VERSION).encode(), llvmlite.__version__.encode()]
    llc = foreign_backend(opts.triple)  # another CPU: inline asm goes through this llc
    if llc is not None:
        parts.append(f"backend {llc}".encode())
    if opts.live:  # and the IR rewrite that --live adds (compile/sections.py)
        from crossjit.compile.sections import REVISION

        parts.append(f"live-revision {REVISION}".encode())
    return cachedir.digest(b"\0".join(parts))


def _target_machine(opts: CodegenOptions) -> Any:
    llvm = _llvm()
    _init()
    try:
        target = llvm.Target.from_triple(opts.triple)
    except RuntimeError as exc:
        raise CodegenError(
            f"llvmlite's LLVM {llvm_version()} cannot generate code for {opts.triple}",
            why=str(exc),
        ) from exc
    return target.create_target_machine(
        cpu=opts.cpu, features=opts.features, opt=min(opts.opt_level, 3), **TARGET_MACHINE,
    )


def _parse(data: bytes, name: str) -> Any:
    llvm = _llvm()
    try:
        if data[:2] == b"BC" or data[:4] == b"\xde\xc0\x17\x0b":
            mod = llvm.parse_bitcode(data)
        else:
            mod = llvm.parse_assembly(data.decode("utf-8"))
    except (RuntimeError, UnicodeDecodeError) as exc:
        raise CodegenError(
            f"cannot read LLVM IR from {name}",
            why=str(exc).strip(),
            hint="bitcode must come from LLVM 22 or older (crossjit's code generator)",
        ) from exc
    try:
        mod.verify()
    except RuntimeError as exc:
        raise CodegenError(f"invalid LLVM IR in {name}", why=str(exc).strip()) from exc
    return mod


def _optimise(mod: Any, tm: Any, level: int, per_function: bool = False) -> None:
    if level == 0:
        return
    llvm = _llvm()
    pto = llvm.PipelineTuningOptions(speed_level=level)
    pb = llvm.create_pass_builder(tm, pto)
    if per_function:
        # --live: a function's callers must not depend on its body (a reload replaces it
        # under a running caller), so no inliner and no interprocedural passes (IPSCCP
        # would fold a constant return value into the caller): each function alone.
        always = llvm.create_new_module_pass_manager()
        always.add_always_inliner_pass()  # always_inline is the user's (or intrinsics') word
        always.run(mod, pb)
        fpm = pb.getFunctionPassManager()
        for fn in mod.functions:
            if not fn.is_declaration:
                fpm.run(fn, pb)
        return
    mpm = pb.getModulePassManager()
    mpm.run(mod, pb)


# `call ... asm "..."` (inline assembly) or `module asm "..."` in textual IR.
_INLINE_ASM = re.compile(
    rb'(^module asm "|\basm (sideeffect |alignstack |inteldialect |unwind )*")', re.MULTILINE
)


def _same_arch_as_host(triple: str) -> bool:
    return arch_name(triple) == arch_name(os.uname().machine)


def _has_inline_asm(mod: Any) -> bool:
    return _INLINE_ASM.search(str(mod).encode()) is not None


def foreign_backend(triple: str) -> str | None:
    """llc for a module with inline assembly for another CPU (None: this host's CPU, or
    none installed). llvmlite's LLVM has only this host's asm parser, which LLVM needs
    even to print inline asm (the integrated assembler checks it). So such a module is
    optimised by llvmlite as any other, then handed as bitcode to Debian's newest llc —
    the whole LLVM backend with every target's asm parser — with the same target
    machine settings. Cheap: a cache key asks it without loading libLLVM."""
    if _same_arch_as_host(triple):
        return None
    import glob

    found = {}
    for path in glob.glob("/usr/lib/llvm-*/bin/llc"):
        m = re.fullmatch(r"/usr/lib/llvm-(\d+)/bin/llc", path)
        if m and os.access(path, os.X_OK):
            found[int(m.group(1))] = path
    return found[max(found)] if found else None


def _llc_object(bitcode: bytes, name: str, opts: CodegenOptions) -> bytes:
    """The object of an optimised module, by llc (see ``foreign_backend``)."""
    import subprocess
    import tempfile

    llc = foreign_backend(opts.triple)
    want = _llvm().llvm_version_info[0]
    if llc is None:
        raise NotSupportedError(
            f"{name} contains inline assembly for {opts.triple}, which needs Debian's llc",
            why=f"llvmlite's LLVM only includes an assembler for this host's CPU "
            f"({os.uname().machine}); crossjit generates such modules with llc "
            "(/usr/lib/llvm-N/bin/llc), and there is none",
            hint=f"apt-get install llvm-{want}, or move the assembly into a .o built with "
            "clang --target and pass that object",
        )
    argv = [llc, f"-mtriple={opts.triple}", f"-O{min(opts.opt_level, 3)}",
            f"-relocation-model={TARGET_MACHINE['reloc']}",
            f"-code-model={TARGET_MACHINE['codemodel']}", "-filetype=obj"]
    if opts.cpu:
        argv.append(f"-mcpu={opts.cpu}")
    if opts.features:
        argv.append(f"-mattr={opts.features}")
    with tempfile.TemporaryDirectory(prefix="crossjit-llc-") as tmp:
        out = Path(tmp) / "out.o"  # llc removes its output when it fails
        try:
            done = subprocess.run([*argv, "-o", str(out), "-"], input=bitcode,
                                  capture_output=True, timeout=TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CodegenError(f"code generation failed for {name}",
                               why=f"{llc}: {exc}") from None
        if done.returncode != 0:
            raise CodegenError(
                f"code generation failed for {name} ({opts.triple}, inline assembly: by "
                f"{llc})",
                why=done.stderr.decode(errors="replace").strip(),
                hint=f"llc must be of LLVM {want} or newer (llvmlite's bitcode); an "
                "error about an instruction comes from an asm statement of the source")
        return out.read_bytes()


def _with_function_sections(mod: Any, name: str) -> Any:
    from crossjit.compile.sections import add_function_sections

    text, count = add_function_sections(str(mod))
    return _parse(text.encode(), name) if count else mod


def ir_to_object(data: bytes, name: str, opts: CodegenOptions) -> bytes:
    """Parse, verify, optimise and emit one module, in this process (no cache). An LLVM
    fatal error ends this process: use ``isolated`` unless that is what you want."""
    tm = _target_machine(opts)
    mod = _parse(data, name)
    foreign_asm = not _same_arch_as_host(opts.triple) and _has_inline_asm(mod)
    if opts.live:
        mod = _with_function_sections(mod, name)
    mod.triple = opts.triple
    mod.data_layout = str(tm.target_data)
    try:
        _optimise(mod, tm, opts.opt_level, per_function=opts.live)
        if foreign_asm:  # llc has the asm parser llvmlite lacks: see foreign_backend()
            return _llc_object(mod.as_bitcode(), name, opts)
        obj: bytes = tm.emit_object(mod)
    except RuntimeError as exc:
        raise CodegenError(f"code generation failed for {name}", why=str(exc).strip()) from exc
    return obj


# --- isolation: LLVM's fatal errors end a forked child, not crossjit -------------------------


def _explain(stderr: str, opts: CodegenOptions) -> str | None:
    if "don't have an asm parser for this target" in stderr:
        return (f"llvmlite's LLVM has no assembler for {opts.triple}, so inline assembly "
                "for this target is not supported yet: remove it (#ifdef) or pass an "
                ".o built by a native compiler")
    return "LLVM's message says what it rejected in this input; crossjit ran nothing"


def _child(data: bytes, name: str, opts: CodegenOptions, out: int, framed: bool = False
           ) -> None:
    """In the forked child: the object or the CodegenError, pickled, to ``out``
    (``framed``: after its 8-byte length, for the resident worker)."""
    import pickle  # imported by the parent before the fork (isolated): a dict lookup
    try:
        result: tuple[str, Any] = ("ok", ir_to_object(data, name, opts))
    except (CodegenError, NotSupportedError) as exc:
        result = ("error", (type(exc).__name__, exc.what, exc.why, exc.hint))
    except BaseException as exc:  # reported by the parent, never lost
        result = ("error", ("CodegenError", f"code generation failed for {name}", repr(exc),
                            None))
    payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    if framed:
        payload = len(payload).to_bytes(8, "little") + payload
    view = memoryview(payload)
    while view:
        view = view[os.write(out, view):]


def _read_all(fd: int, deadline: float, name: str, pid: int) -> bytes:
    """Everything ``fd`` gives until end of file, by ``deadline``."""
    return _read_deadline(fd, None, deadline, name, pid) or b""


def isolated(data: bytes, name: str, opts: CodegenOptions) -> bytes:
    """``ir_to_object`` in a forked child, so that an LLVM fatal error (abort, exit)
    becomes a CodegenError naming the input instead of ending crossjit. LLVM's own
    messages (stderr) are passed through, or quoted in the error when it failed."""
    if not hasattr(os, "fork"):
        return ir_to_object(data, name, opts)
    # Imported here, not at start-up (a cache hit needs none of them), and before the
    # fork, so the child imports nothing.
    import faulthandler
    import pickle  # noqa: F401 - for _child
    import select  # noqa: F401 - for _read_all
    import signal
    import tempfile

    _init()  # before the fork: every child inherits the initialised targets
    with tempfile.TemporaryFile() as err:
        # Several threads run codegen at once (build.py): a pipe's write end must exist in
        # the parent only while its own fork happens, or a sibling forked meanwhile would
        # hold it open and this read would wait for that sibling's end too.
        with _FORK_LOCK:
            rfd, wfd = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: never returns into the caller's code
                status = 0
                try:
                    os.close(rfd)
                    os.dup2(err.fileno(), 2)
                    faulthandler.disable()  # its traceback of LLVM's abort: only noise
                    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: just die
                    _child(data, name, opts, wfd)
                except BaseException:  # e.g. the parent is gone
                    status = 1
                finally:
                    os._exit(status)
            os.close(wfd)
        try:
            payload = _read_all(rfd, time.monotonic() + TIMEOUT_S, name, pid)
        except BaseException:  # Ctrl-C, deadline: the child must not outlive us
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
            raise
        finally:
            os.close(rfd)
            _, wstatus = os.waitpid(pid, 0)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if payload and os.WIFEXITED(wstatus) and os.WEXITSTATUS(wstatus) == 0:
        return _unpickled(payload, stderr)
    raise _failure(wstatus, stderr, name, opts)


def _unpickled(payload: bytes, stderr: str) -> bytes:
    """The child's reply: the object, or its CrossjitError raised here."""
    import pickle

    kind, value = pickle.loads(payload)
    if stderr:
        # LLVM's warnings (e.g. about inline asm), as it wrote them; like clang's.
        os.write(2, stderr.encode())
    if kind == "ok":
        obj: bytes = value
        return obj
    error, what, why, hint = value  # the child's CrossjitError, by class name
    raise (NotSupportedError if error == "NotSupportedError" else CodegenError)(
        what, why=why, hint=hint)


def _failure(wstatus: int, stderr: str, name: str, opts: CodegenOptions) -> CodegenError:
    """The error for a child that LLVM ended."""
    if os.WIFSIGNALED(wstatus):
        fate = f"LLVM was killed by {signal_name(os.WTERMSIG(wstatus))}"
    else:
        fate = f"LLVM ended the process with status {os.WEXITSTATUS(wstatus)}"
    return CodegenError(
        f"code generation failed for {name}: {fate}",
        why=stderr.strip() or "LLVM printed nothing",
        hint=_explain(stderr, opts),
    )


# --- a resident worker for `run --watch`: the same isolation without a fork per module --------


class _Worker:
    """A child forked once that generates code for one module per request.

    A fork per module costs ~20 ms more than the codegen of a small one here (a parent
    with libLLVM and a watch session mapped: page tables copied, then every page LLVM
    touches copied again); a warm child pays that once. Isolation is the same: an LLVM
    fatal error ends the worker, which is reported like ``isolated``'s child and
    replaced by a fresh one for the next module.
    Requests and replies: 8-byte length + pickle over two pipes.
    """

    def __init__(self) -> None:
        import pickle
        import signal
        import tempfile  # noqa: F401 - the worker imports nothing after the fork

        _init()
        with _FORK_LOCK:  # as in isolated(): no sibling may inherit these pipes' ends
            to_child, self._req = os.pipe()
            self._rep, from_child = os.pipe()
            pid = os.fork()
            if pid == 0:
                status = 0
                try:
                    # Only its pipes and stdio: a copy of an executor's socket or pipe held
                    # here for the whole session would keep that executor from seeing EOF.
                    try:
                        open_fds = [int(n) for n in os.listdir("/proc/self/fd")]
                    except OSError:
                        open_fds = list(range(3, 1024))
                    for fd in open_fds:
                        if fd not in (0, 1, 2, to_child, from_child):
                            with contextlib.suppress(OSError):
                                os.close(fd)
                    signal.signal(signal.SIGINT, signal.SIG_DFL)
                    import faulthandler

                    faulthandler.disable()
                    while True:
                        head = _read_exact(to_child, 8)
                        if head is None:
                            break
                        data, name, opts, err_path = pickle.loads(
                            _read_exact(to_child, int.from_bytes(head, "little")) or b"")
                        fd = os.open(err_path, os.O_WRONLY)
                        os.dup2(fd, 2)  # LLVM's messages for this module
                        os.close(fd)
                        _child(data, name, opts, from_child, framed=True)
                except BaseException:
                    status = 1
                finally:
                    os._exit(status)
            os.close(to_child)
            os.close(from_child)
        self.pid = pid
        self.lock = threading.Lock()

    def generate(self, data: bytes, name: str, opts: CodegenOptions) -> bytes:
        import pickle
        import tempfile

        with tempfile.NamedTemporaryFile(prefix="crossjit-cg-") as err:
            req = pickle.dumps((data, name, opts, err.name), protocol=pickle.HIGHEST_PROTOCOL)
            payload: bytes | None = None
            try:
                os.write(self._req, len(req).to_bytes(8, "little"))
                view = memoryview(req)
                while view:
                    view = view[os.write(self._req, view):]
                head = _read_deadline(self._rep, 8, time.monotonic() + TIMEOUT_S, name,
                                      self.pid)
                if head is not None:
                    payload = _read_deadline(self._rep, int.from_bytes(head, "little"),
                                             time.monotonic() + TIMEOUT_S, name, self.pid)
            except OSError:
                payload = None
            except BaseException:  # Ctrl-C, deadline: no worker left half-way
                self.close()
                raise
            stderr = Path(err.name).read_text(errors="replace")
        if payload is None:  # LLVM ended the worker: reported as isolated() does
            _, wstatus = os.waitpid(self.pid, 0)
            self.pid = 0
            raise _failure(wstatus, stderr, name, opts)
        return _unpickled(payload, stderr)

    def close(self) -> None:
        for fd in (self._req, self._rep):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, 9)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = 0


_WORKER: list[_Worker] = []  # at most one: `run --watch` (start_worker)
_WORKERS_ON = threading.Event()


def start_worker() -> None:
    """Generate code in a resident worker from now on (a watch session)."""
    _WORKERS_ON.set()


def stop_worker() -> None:
    _WORKERS_ON.clear()
    while _WORKER:
        _WORKER.pop().close()


def _generate(data: bytes, name: str, opts: CodegenOptions) -> bytes:
    """In the resident worker when one is on (and not busy with another module, or
    given up on), else in a forked child of its own."""
    if not _WORKERS_ON.is_set() or not hasattr(os, "fork"):
        return isolated(data, name, opts)
    if not _WORKER:
        _WORKER.append(_Worker())
    worker = _WORKER[0]
    if not worker.lock.acquire(blocking=False):
        return isolated(data, name, opts)
    try:
        return worker.generate(data, name, opts)
    finally:
        worker.lock.release()
        if not worker.pid:  # it died (LLVM's fatal error): a fresh one next time
            with contextlib.suppress(ValueError):
                _WORKER.remove(worker)
            worker.close()


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_deadline(fd: int, n: int | None, deadline: float, name: str, pid: int
                   ) -> bytes | None:
    """``n`` bytes from ``fd`` (None: all until end of file) by ``deadline`` — the child
    ``pid`` is killed past it; None at an early end of file (the worker died)."""
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN)
    chunks: list[bytes] = []
    left = n
    while left is None or left:
        wait = deadline - time.monotonic()
        if wait <= 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
            raise CodegenError(f"code generation for {name} did not finish in {TIMEOUT_S:g} s",
                               hint="raise CROSSJIT_CODEGEN_TIMEOUT for very large modules")
        if not poller.poll(max(1, int(wait * 1000))):
            continue
        chunk = os.read(fd, 1 << 20 if left is None else min(left, 1 << 20))
        if not chunk:
            return b"".join(chunks) if left is None else None
        chunks.append(chunk)
        if left is not None:
            left -= len(chunk)
    return b"".join(chunks)


# cache_key by the IR file's stat signature and the options: a watch session looks up
# mongoose.c's ~1 MB of bitcode on every save.
_KEY_MEMO: dict[tuple[object, ...], str] = {}
_RACY_NS = 2_000_000_000


def object_for(ir_path: Path, opts: CodegenOptions, name: str | None = None
               ) -> tuple[bytes, bool]:
    """The object for an IR file, from the cache when the same IR was compiled before.
    ``name``: the input to name in errors (the source the IR came from)."""
    store = cachedir.subdir("objects")
    try:
        st = os.stat(ir_path)
        sig = (str(ir_path), st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, opts)
        key = _KEY_MEMO.get(sig)
        if key is not None and (store / f"{key}.o").exists():
            return (store / f"{key}.o").read_bytes(), True
        data = ir_path.read_bytes()
    except OSError as exc:
        raise CodegenError(f"cannot read {ir_path}", why=exc.strerror) from exc
    key = cache_key(data, opts)
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _RACY_NS:
        _KEY_MEMO[sig] = key  # (toolchain._file_sha says why only older files)
    hit = store / f"{key}.o"
    if hit.exists():
        return hit.read_bytes(), True
    obj = _generate(data, name or str(ir_path), opts)
    cachedir.atomic_write(hit, obj)
    return obj, False

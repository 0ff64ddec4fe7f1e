"""The only module that imports llvmlite: IR → verified, optimised ELF relocatable object.

One LLVM (the one bundled in llvmlite) generates code for every target triple, so the
host compiler's backend does not matter. Objects are cached by content.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from crossjit.compile import cache as cachedir
from crossjit.errors import CodegenError

_LOCK = threading.Lock()  # llvmlite's target registry init is not thread-safe


@dataclass(frozen=True)
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


@cache
def _init() -> None:
    llvm = _llvm()
    with _LOCK:
        llvm.initialize_all_targets()
        llvm.initialize_all_asmprinters()
        llvm.initialize_all_asmparsers() if hasattr(llvm, "initialize_all_asmparsers") else None


def warm_up() -> None:
    """Load llvmlite and its targets now (the daemon does, so its children need not)."""
    _init()


def llvm_version() -> str:
    return ".".join(str(x) for x in _llvm().llvm_version_info)


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
    # PIC + small code model: the JIT linker routes external references through a GOT.
    return target.create_target_machine(
        cpu=opts.cpu, features=opts.features, opt=min(opts.opt_level, 3), reloc="pic",
        codemodel="small",
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


def _with_function_sections(mod: Any, name: str) -> Any:
    from crossjit.compile.sections import add_function_sections

    text, count = add_function_sections(str(mod))
    return _parse(text.encode(), name) if count else mod


def ir_to_object(data: bytes, name: str, opts: CodegenOptions) -> bytes:
    """Parse, verify, optimise and emit one module (no cache)."""
    tm = _target_machine(opts)
    mod = _parse(data, name)
    if opts.live:
        mod = _with_function_sections(mod, name)
    mod.triple = opts.triple
    mod.data_layout = str(tm.target_data)
    try:
        _optimise(mod, tm, opts.opt_level, per_function=opts.live)
        obj: bytes = tm.emit_object(mod)
    except RuntimeError as exc:
        raise CodegenError(f"code generation failed for {name}", why=str(exc).strip()) from exc
    return obj


def object_for(ir_path: Path, opts: CodegenOptions) -> tuple[bytes, bool]:
    """The object for an IR file, from the cache when the same IR was compiled before."""
    try:
        data = ir_path.read_bytes()
    except OSError as exc:
        raise CodegenError(f"cannot read {ir_path}", why=exc.strerror) from exc
    # llvmlite's own version stands for its LLVM's; reading it does not load libLLVM,
    # so a cache hit costs no llvmlite start-up.
    import llvmlite

    parts = [data, repr(opts).encode(), llvmlite.__version__.encode()]
    if opts.live:
        from crossjit.compile.sections import REVISION

        parts.append(f"live-revision {REVISION}".encode())
    key = hashlib.sha256(b"\0".join(parts)).hexdigest()
    store = cachedir.subdir("objects")
    hit = store / f"{key}.o"
    if hit.exists():
        return hit.read_bytes(), True
    obj = ir_to_object(data, str(ir_path), opts)
    cachedir.atomic_write(hit, obj)
    return obj, False

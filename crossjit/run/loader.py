"""Link objects against an executor and load them into it.

The only place where the sans-IO linker meets the ORC client: resolve externals in
the executor process and its libraries, reserve memory, fix up at the reserved address,
finalize segments (registering .eh_frame so C++ exceptions unwind through JIT'd frames).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from crossjit.compile.build import ObjectFile
from crossjit.errors import ExecutorError, LinkError, Progress
from crossjit.link import LinkedImage, Linker, Prot
from crossjit.link.archive import is_archive
from crossjit.orc.client import OrcClient
from crossjit.orc.messages import SegmentRequest


@dataclass
class LoadedProgram:
    image: LinkedImage
    handle: int  # what deallocate() takes
    dylibs: list[str] = field(default_factory=list)
    # Debug objects registered with the GDB JIT interface (see debugobj.py): their
    # allocation and address range, None when nothing was registered.
    debug_handle: int | None = None
    debug_range: tuple[int, int] | None = None

    def symbol(self, name: str) -> int:
        try:
            return self.image.symbols[name]
        except KeyError:
            raise LinkError(f"the linked program defines no symbol {name!r}") from None


def implicit_libraries(triple: str, has_cxx: bool) -> list[str]:
    """What a native link adds on its own (libm, the C++ runtime); best effort."""
    libs: list[str] = []
    if triple.endswith("gnu"):
        libs.append("libm.so.6")
    if has_cxx:
        libs += ["libstdc++.so.6", "libgcc_s.so.1"]
    return libs


def open_libraries(client: OrcClient, explicit: Sequence[str], implicit: Sequence[str],
                   warn: Progress | None) -> list[tuple[str, int]]:
    """The process itself first, then each library (explicit ones must load)."""
    handles: list[tuple[str, int]] = [("<executor process>", client.open_dylib(None))]
    for lib in explicit:
        try:
            handles.append((lib, client.open_dylib(lib)))
        except ExecutorError as exc:
            raise ExecutorError(
                f"the executor could not load --dlopen {lib}",
                why=exc.why or exc.what,
                hint="give a path or soname that exists on the target",
            ) from exc
    for lib in implicit:
        if lib in explicit:
            continue
        try:
            handles.append((lib, client.open_dylib(lib)))
        except ExecutorError:
            if warn:
                warn(f"note: {lib} is not available in the executor; skipped")
    return handles


def resolve_externals(client: OrcClient, handles: Sequence[tuple[str, int]],
                      names: Sequence[str]) -> dict[str, int | None]:
    resolved: dict[str, int | None] = dict.fromkeys(names)
    pending = list(names)
    for _, handle in handles:
        if not pending:
            break
        addrs = client.lookup(handle, pending, required=False)
        for name, addr in zip(pending, addrs, strict=True):
            if addr:
                resolved[name] = addr
        pending = [n for n in pending if resolved[n] is None]
    return resolved


# Per executor connection: the symbols of its resident image (runtime/resident.c).
_RESIDENT: weakref.WeakKeyDictionary[OrcClient, dict[str, int]] = weakref.WeakKeyDictionary()


def resident(client: OrcClient, obj: ObjectFile) -> dict[str, int]:
    """Load ``obj`` into the executor once per connection and never release it: code
    the C library may still call after a program's memory is gone (its exit hook).
    Its externals resolve in the executor process only (the C library's own exit)."""
    known = _RESIDENT.get(client)
    if known is None:
        linker = Linker(arch=client.info.triple, page_size=client.info.page_size)
        linker.add_object(obj.name, obj.data)
        plan = linker.plan()
        handles = [("<executor process>", client.open_dylib(None))]
        resolved = resolve_externals(client, handles, [e.name for e in plan.externals])
        image = plan.finish(client.reserve(plan.reservation_size), resolved)
        client.finalize([SegmentRequest(s.addr, s.size, int(s.prot), s.content)
                         for s in image.segments], [])
        known = _RESIDENT[client] = dict(image.symbols)
    return known


def load(client: OrcClient, objects: Sequence[ObjectFile], *, dlopen: Sequence[str] = (),
         implicit: Sequence[str] = (), progress: Progress | None = None,
         warn: Progress | None = None, debug: bool = False,
         preloaded: Mapping[str, int] | None = None, live: bool = False) -> LoadedProgram:
    """``preloaded``: symbols already in the executor (a resident image), which win
    over the executor's lookups. ``live``: every function behind a stub + slot, for
    run/live.py's reloads."""
    linker = Linker(arch=client.info.triple, page_size=client.info.page_size, live=live)
    for obj in objects:
        if is_archive(obj.data):
            linker.add_archive(obj.name, obj.data)
        else:
            linker.add_object(obj.name, obj.data)
    plan = linker.plan()
    handles = open_libraries(client, dlopen, implicit, warn)
    pre = preloaded or {}
    names = [ext.name for ext in plan.externals if ext.name not in pre]
    resolved = resolve_externals(client, handles, names)
    resolved.update({ext.name: pre[ext.name] for ext in plan.externals if ext.name in pre})
    # A failed link leaves the reservation behind; the executor frees it at hangup.
    base = client.reserve(plan.reservation_size)
    image = plan.finish(base, resolved)
    actions = []
    if image.eh_frame is not None:
        actions.append(client.eh_frame_actions(*image.eh_frame))
    if progress:
        total = sum(s.size for s in image.segments)
        progress(f"loading {total} bytes at {base:#x} ({client.info.dialect})")
    segments = [SegmentRequest(s.addr, s.size, int(s.prot), s.content) for s in image.segments]
    handle = client.finalize(segments, actions)
    program = LoadedProgram(image, handle, [n for n, _ in handles[1:]])
    if debug:
        register_debug_objects(client, program, linker.inputs, progress)
    return program


DEBUG_UNREGISTER_SYMBOL = "__crossjit_jit_debug_unregister"  # runtime/jitdebug.c
TLS_TEARDOWN_SYMBOL = "__crossjit_tls_teardown"  # runtime/tls.c


def register_debug_objects(client: OrcClient, program: LoadedProgram,
                           inputs: dict[str, bytes], progress: Progress | None = None) -> None:
    """Load a debug object per input with DWARF (read-only, own allocation) and register
    it with the GDB JIT interface. After the code's finalize, so a debugger that plants
    breakpoints when notified plants them in code that is already in place."""
    from crossjit.link import debugobj

    image = program.image
    debug = image.debug_sections()
    if not any(debugobj.has_debug_info(secs) for secs in debug.values()):
        return
    # Objects without DWARF too (crossjit's runtime): their symbols and .eh_frame let
    # the debugger name and unwind through every JIT'd frame.
    blobs = [debugobj.build_debug_object(data, debugobj.section_addresses(image.sections, name),
                                         debug.get(name, {}))
             for name, data in inputs.items()]
    page = client.info.page_size
    offsets, size = [], 0
    for b in blobs:
        offsets.append(size)
        size += (len(b) + 15) & -16
    size = (size + page - 1) & -page
    base = client.reserve(size)
    content = b"".join(b.ljust((len(b) + 15) & -16, b"\0") for b in blobs)
    actions = [client.gdb_register_action(base + off, len(b))
               for off, b in zip(offsets, blobs, strict=True)]
    if progress:
        progress(f"registering {len(blobs)} debug object(s), {size} bytes at {base:#x}")
    program.debug_handle = client.finalize(
        [SegmentRequest(base, size, int(Prot.READ), content)], actions)
    program.debug_range = (base, base + size)


def unload(client: OrcClient, program: LoadedProgram) -> None:
    """Release the program; debug objects are deregistered first (LLVM's executors
    cannot), so no debugger is left with an entry pointing at released memory."""
    if program.debug_handle is not None and program.debug_range is not None:
        helper = program.image.symbols.get(DEBUG_UNREGISTER_SYMBOL)
        if helper is not None:
            lo, hi = program.debug_range
            client.run_as_main(helper, ["unregister", f"{lo:#x}", f"{hi:#x}"], timeout=30)
            client.deallocate([program.debug_handle])
        # Without the helper the object stays mapped until the executor exits.
        program.debug_handle = None
    teardown = program.image.symbols.get(TLS_TEARDOWN_SYMBOL)
    if teardown is not None:
        # Deletes the TLS keys first: a thread exiting later must not call released code.
        client.run_as_main(teardown, ["teardown"], timeout=30)
    client.deallocate([program.handle])

"""Link objects against an executor and load them into it.

The only place where the sans-IO linker meets the ORC client: resolve externals in
the executor process and its libraries, reserve memory, fix up at the reserved address,
finalize segments (registering .eh_frame so C++ exceptions unwind through JIT'd frames).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence

from crossjit.compile.build import ObjectFile
from crossjit.errors import ExecutorDisconnected, ExecutorError, LinkError, Progress
from crossjit.link import LinkedImage, Linker, LinkPlan, Prot
from crossjit.link.archive import is_archive
from crossjit.orc.client import OrcClient, Reply, gather
from crossjit.orc.messages import SegmentRequest
from crossjit.records import field, record


@record
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
    libs = [*explicit, *(lib for lib in implicit if lib not in explicit)]
    return _opened(_send_opens(client, libs), explicit, warn)


def _send_opens(client: OrcClient, libs: Sequence[str], process: bool = True,
                ) -> list[tuple[str | None, Reply[int]]]:
    """Every dlopen in flight at once (None: the executor process, first)."""
    first: list[tuple[str | None, Reply[int]]] = []
    if process:
        first.append((None, client.send_open_dylib(None)))
    return [*first, *((lib, client.send_open_dylib(lib)) for lib in libs)]


def _opened(opens: Sequence[tuple[str | None, Reply[int]]], explicit: Sequence[str],
            warn: Progress | None) -> list[tuple[str, int]]:
    """The handles of ``_send_opens``, in its order; all are waited for before an
    explicit library that did not load is reported."""
    handles: list[tuple[str, int]] = []
    failed: list[tuple[str, ExecutorError]] = []
    for lib, reply in opens:
        try:
            handles.append((lib or "<executor process>", reply.get()))
        except ExecutorError as exc:
            if lib is None or isinstance(exc, ExecutorDisconnected):
                raise
            failed.append((lib, exc))
    for lib, err in failed:
        if lib in explicit:
            raise ExecutorError(
                f"the executor could not load --dlopen {lib}",
                why=err.why or err.what,
                hint="give a path or soname that exists on the target",
            ) from err
        if warn:
            warn(f"note: {lib} is not available in the executor; skipped")
    return handles


def _send_lookups(client: OrcClient, handles: Sequence[tuple[str, int]],
                  names: Sequence[str], process_only: Sequence[str] = ()
                  ) -> list[tuple[list[str], Reply[list[int | None]]]]:
    """One lookup per handle, all in flight at once: (the names asked, the reply).
    Every handle gets every name (a name the process has is also looked up in the
    libraries: cheaper than a round trip per library); ``process_only`` names go to the
    first handle, the process, alone."""
    sent = []
    for i, (_, handle) in enumerate(handles):
        asked = list(dict.fromkeys([*names, *process_only])) if i == 0 else list(names)
        if asked:
            sent.append((asked, client.send_lookup(handle, asked, required=False)))
    return sent


def _merged(lookups: Sequence[tuple[list[str], Reply[list[int | None]]]]
            ) -> dict[str, int | None]:
    """Each name's address in the first handle that has it (None: in none), as a
    search in handle order finds it. Every reply is waited for before an error."""
    gather(reply for _, reply in lookups)
    resolved: dict[str, int | None] = {}
    for asked, reply in lookups:
        for name, addr in zip(asked, reply.get(), strict=True):
            if resolved.get(name) is None:
                resolved[name] = addr
    return resolved


def resolve_externals(client: OrcClient, handles: Sequence[tuple[str, int]],
                      names: Sequence[str]) -> dict[str, int | None]:
    """Each name's address in the first handle that has it."""
    found = _merged(_send_lookups(client, handles, names))
    return {n: found.get(n) for n in names}


# Per executor connection: the symbols of its resident image (runtime/resident.c).
_RESIDENT: weakref.WeakKeyDictionary[OrcClient, dict[str, int]] = weakref.WeakKeyDictionary()


@record(frozen=True)
class Prepared:
    """The link plans of a load, made before the executor is asked anything (while it
    boots, for the triple and page size it is expected to report)."""

    triple: str
    page_size: int
    live: bool
    objects: tuple[ObjectFile, ...]
    plan: LinkPlan
    inputs: dict[str, bytes]  # the linker's inputs, for the debug objects
    resident: LinkPlan | None


def prepare(objects: Sequence[ObjectFile], *, triple: str, page_size: int,
            live: bool = False, resident: ObjectFile | None = None) -> Prepared:
    linker = Linker(arch=triple, page_size=page_size, live=live)
    for obj in objects:
        if is_archive(obj.data):
            linker.add_archive(obj.name, obj.data)
        else:
            linker.add_object(obj.name, obj.data)
    res_plan = None
    if resident is not None:
        res_linker = Linker(arch=triple, page_size=page_size)
        res_linker.add_object(resident.name, resident.data)
        res_plan = res_linker.plan()
    plan = linker.plan()  # before .inputs: it pulls the archive members in
    return Prepared(triple, page_size, live, tuple(objects), plan, linker.inputs, res_plan)


def load(client: OrcClient, objects: Sequence[ObjectFile], *, dlopen: Sequence[str] = (),
         implicit: Sequence[str] = (), progress: Progress | None = None,
         warn: Progress | None = None, debug: bool = False,
         preloaded: Mapping[str, int] | None = None, live: bool = False,
         resident: ObjectFile | None = None, prepared: Prepared | None = None,
         ) -> LoadedProgram:
    """``preloaded``: symbols already in the executor, which win over the executor's
    lookups. ``resident``: an object loaded once per connection and never released
    (runtime/resident.c: code the C library may still call after a program's memory is
    gone, its exit hook); a separate link whose externals resolve in the executor
    process only (the C library's own exit), loaded together with the first program.
    ``live``: every function behind a stub + slot, for run/live.py's reloads.
    ``prepared``: ``prepare(objects, ...)`` done earlier; used if it was made for this
    executor's triple and page size (and ``live``), else made again.

    Three round trips, each a batch of calls in flight together: the handles of the
    process and the --dlopen libraries with the reservations, then one lookup per
    handle, then the finalizes. ``implicit`` libraries are opened (one more round trip)
    only for names the others lack: LLVM's executors have libm and the C++ runtime
    loaded already, and every call costs an emulated executor real work."""
    info = client.info
    known = _RESIDENT.get(client) if resident is not None else None
    if prepared is None or (prepared.triple, prepared.page_size, prepared.live) != (
            info.triple, info.page_size, live) or (
            resident is not None and known is None and prepared.resident is None):
        prepared = prepare(objects, triple=info.triple, page_size=info.page_size, live=live,
                           resident=resident if known is None else None)
    plan = prepared.plan
    res_plan = prepared.resident if resident is not None and known is None else None
    pre = dict(preloaded or {})
    if known is not None:
        pre = {**known, **pre}

    opens = _send_opens(client, dlopen)
    # A failed link leaves the reservations behind; the executor frees them at hangup.
    reserves = [client.send_reserve(plan.reservation_size)]
    if res_plan is not None:
        reserves.append(client.send_reserve(res_plan.reservation_size))
    handles = _opened(opens, dlopen, warn)
    bases = gather(reserves)
    base = bases[0]

    ours = res_plan.defined if res_plan is not None else frozenset()
    names = [ext.name for ext in plan.externals if ext.name not in pre and ext.name not in ours]
    res_names = [e.name for e in res_plan.externals] if res_plan is not None else []
    lookups = _send_lookups(client, handles, names, res_names)
    found = _merged(lookups)
    missing = [n for n in names if found.get(n) is None]
    extra = [lib for lib in implicit if lib not in dlopen]
    if missing and extra:
        more = _opened(_send_opens(client, extra, process=False), (), warn)
        found.update({n: a for n, a in _merged(_send_lookups(client, more, missing)).items()
                      if a is not None})
        handles += more

    images = []
    if res_plan is not None:
        in_process = (dict(zip(lookups[0][0], lookups[0][1].get(), strict=True))
                      if lookups else {})
        res_image = res_plan.finish(bases[1], {n: in_process.get(n) for n in res_names})
        pre = {**res_image.symbols, **pre}
        images.append(res_image)
    image = plan.finish(base, {e.name: pre[e.name] if e.name in pre else found.get(e.name)
                               for e in plan.externals})
    actions = []
    if image.eh_frame is not None:
        actions.append(client.eh_frame_actions(*image.eh_frame))
    if progress:
        total = sum(s.size for s in image.segments)
        progress(f"loading {total} bytes at {base:#x} ({client.info.dialect})")
    # Both finalizes in flight together: the program's code calls the resident's only
    # once it runs.
    finalizes = [client.send_finalize([SegmentRequest(s.addr, s.size, int(s.prot), s.content)
                                       for s in img.segments], []) for img in images]
    segments = [SegmentRequest(s.addr, s.size, int(s.prot), s.content) for s in image.segments]
    finalizes.append(client.send_finalize(segments, actions))
    done = gather(finalizes)
    if images:
        _RESIDENT[client] = dict(images[0].symbols)
    program = LoadedProgram(image, done[-1], [n for n, _ in handles[1:]])
    if debug:
        register_debug_objects(client, program, prepared.inputs, progress)
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

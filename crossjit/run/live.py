"""Live reload: swap changed functions into the running program (`run --watch --live`).

The program was loaded with ``loader.load(..., live=True)``: every function is reached
through a stub and an RW slot (link/live.py). A reload links only the objects whose
bytes changed *against the running program* (its stubs, kept storage and symbols; the
executor's libraries for the rest), loads that patch into a new reservation next to it,
and switches every affected slot in one ``write_uint64s``. Old code stays mapped: a call
in flight finishes in the old version, and its bytes are counted as retired.

The executor serves these calls while ``run_as_main`` is outstanding (the client
multiplexes; crossjit-executor and LLVM's executors run ``main`` on its own thread).
Anything kept state cannot survive raises :class:`LiveRefusal`; watch then restarts.
"""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Sequence
from pathlib import Path

from crossjit.compile.build import ObjectFile
from crossjit.elf import DwarfFacts, dwarf_facts
from crossjit.errors import CrossjitError, LinkError, NotSupportedError
from crossjit.link import Linker, Prot
from crossjit.link.arch import get_arch
from crossjit.link.live import LiveMap, LiveRefusal
from crossjit.link.objfile import (
    SHF_TLS,
    SHN_UNDEF,
    STB_LOCAL,
    STT_FUNC,
    STT_GNU_IFUNC,
    STT_TLS,
    parse_object,
)
from crossjit.link.objfile import (
    ObjectFile as ParsedObject,
)
from crossjit.orc.client import OrcClient
from crossjit.orc.messages import SegmentRequest
from crossjit.records import field, record
from crossjit.run import loader

__all__ = ["LiveProgram", "LiveRefusal", "Reload", "refusal_line", "refusal_paragraph"]

RELOAD_POINT = "crossjit_reload_point"  # runtime/include/crossjit.h
RELOAD_PENDING = "__crossjit_reload_pending"  # runtime/crt.c


@record(frozen=True)
class Reload:
    """What one reload did, for its report line and ``--json`` event."""

    files: tuple[str, ...]
    replaced: int  # functions whose slot now points at a new body
    new_functions: int
    kept: int  # writable data sections bound to the storage in use
    new_variables: int
    patch_bytes: int  # mapped for this patch
    retired_bytes: int  # old code bodies no longer reached through their slots
    ms: float
    deferred: bool = False  # applied at the program's next crossjit_reload_point()
    # ms per step of ``ms``: link (plan, symbol lookups, fixups), load (reserve, segments
    # over the wire, finalize — the executor's instruction-cache flush), switch (the slots)
    phases: dict[str, float] = field(default_factory=dict)

    def line(self, total_ms: float | None = None) -> str:
        """``reloaded main.c: 2 functions, 1 variable kept, 43 ms``."""
        names = ", ".join(Path(f).name for f in self.files)
        parts = [f"{self.replaced} function{'s' if self.replaced != 1 else ''}"]
        if self.new_functions:
            parts.append(f"{self.new_functions} new function"
                         f"{'s' if self.new_functions != 1 else ''}")
        parts.append(f"{self.kept} variable{'s' if self.kept != 1 else ''} kept")
        if self.new_variables:
            parts.append(f"{self.new_variables} new variable"
                         f"{'s' if self.new_variables != 1 else ''}")
        ms = self.ms if total_ms is None else total_ms
        when = "; applied at the next crossjit_reload_point()" if self.deferred else ""
        return f"reloaded {names}: {', '.join(parts)}, {ms:.0f} ms{when}"


@record
class LiveProgram:
    """The running live program's link state, patched by :meth:`reload`."""

    client: OrcClient
    program: loader.LoadedProgram
    objects: dict[str, bytes]  # by object name: what the running code was built from
    dlopen: tuple[str, ...] = ()
    implicit: tuple[str, ...] = ()
    running: LiveMap = field(default_factory=LiveMap)
    patches: list[int] = field(default_factory=list)  # finalize handles
    patch_bases: list[int] = field(default_factory=list)  # where each patch was mapped
    patch_programs: list[loader.LoadedProgram] = field(default_factory=list)
    patch_bytes: int = 0
    retired_bytes: int = 0
    _libs: list[tuple[str, int]] | None = None
    _facts: dict[bytes, DwarfFacts | None] = field(default_factory=dict)  # by object bytes
    _last_table: int = 0  # the previous reload table (crossjit_reload_point mode)

    @classmethod
    def start(cls, client: OrcClient, program: loader.LoadedProgram,
              objects: Sequence[ObjectFile], dlopen: Sequence[str] = (),
              implicit: Sequence[str] = ()) -> LiveProgram:
        live = program.image.live
        if live is None:
            raise LinkError("the program was not linked for live reload (loader.load live=True)")
        lp = cls(client, program, {o.name: o.data for o in objects}, tuple(dlopen),
                 tuple(implicit))
        lp.running.merge(live)
        lp.running.symbols = {**program.image.symbols, **live.symbols}
        return lp

    def reload(self, objects: Sequence[ObjectFile]) -> Reload | None:
        """Patch the running program with the objects that changed; None if none did."""
        t0 = time.perf_counter()
        if {o.name for o in objects} != set(self.objects):
            gone = sorted(set(self.objects) - {o.name for o in objects})
            added = sorted({o.name for o in objects} - set(self.objects))
            raise LiveRefusal(
                "the program's list of inputs changed",
                why=(f"removed: {', '.join(gone)}; " if gone else "")
                + (f"added: {', '.join(added)}" if added else ""))
        changed = [o for o in objects if self.objects[o.name] != o.data]
        if not changed:
            return None
        self._check_removed(changed)
        client = self.client
        linker = Linker(arch=client.info.triple, page_size=client.info.page_size,
                        running=self.running)
        for o in changed:
            try:
                linker.add_object(o.name, o.data)
            except NotSupportedError as err:
                raise LiveRefusal(f"the reloaded unit uses something live reload cannot "
                                  f"patch: {err.what}", obj=o.name, why=err.why) from err
        plan = linker.plan()
        assert plan.live is not None
        self._check_dwarf(changed, {name for d in plan.live.kept for name, _, _ in d.symbols})
        resolved: dict[str, int | None] = {}
        pending = []
        for ext in plan.externals:
            addr = self.running.symbols.get(ext.name)
            if addr is None:
                pending.append(ext.name)
            resolved[ext.name] = addr
        if pending:
            resolved.update(loader.resolve_externals(client, self._libraries(), pending))
        t_looked = time.perf_counter()
        base = client.reserve(plan.reservation_size)
        t_reserved = time.perf_counter()
        try:
            image = plan.finish(base, resolved)
        except LinkError as err:
            if "out of range" not in err.render():
                raise
            raise LiveRefusal(
                f"the patch was mapped at {base:#x}, out of reach of the running program",
                why=err.why or err.what,
                hint="the executor placed the new code further than ±2 GiB from the data "
                "it must use") from err
        live = image.live
        assert live is not None
        t_linked = time.perf_counter()
        actions = [client.eh_frame_actions(*image.eh_frame)] if image.eh_frame else []
        handle = client.finalize(
            [SegmentRequest(s.addr, s.size, int(s.prot), s.content) for s in image.segments],
            actions)
        patch = loader.LoadedProgram(image, handle)
        if self.program.debug_handle is not None:
            # Before the slots switch: a debugger plants pending breakpoints in the new
            # bodies while nothing can reach them yet.
            loader.register_debug_objects(client, patch, {o.name: o.data for o in changed})
        deferred = self.uses_reload_point
        t_loaded = time.perf_counter()
        if live.slot_writes and deferred:
            self._publish(live.slot_writes)
        elif live.slot_writes:
            # Every slot at once: no caller sees half of a reload.
            client.write_uint64s(live.slot_writes)
        t_switched = time.perf_counter()
        self.patches.append(handle)
        self.patch_bases.append(base)
        self.patch_programs.append(patch)
        self.running.merge(live)
        for o in changed:
            self.objects[o.name] = o.data
        size = sum(s.size for s in image.segments)
        self.patch_bytes += size
        self.retired_bytes += live.retired_bytes
        phases = {"link": (t_looked - t0) + (t_linked - t_reserved),
                  "load": (t_reserved - t_looked) + (t_loaded - t_linked),
                  "switch": t_switched - t_loaded}
        return Reload(tuple(o.name for o in changed), len(live.replaced), len(live.functions),
                      len(live.kept), len(live.new_data), size, live.retired_bytes,
                      (time.perf_counter() - t0) * 1000, deferred,
                      {k: round(v * 1000, 2) for k, v in phases.items()})

    @property
    def uses_reload_point(self) -> bool:
        """The program calls crossjit_reload_point(): reloads apply there, not at once."""
        return any(RELOAD_POINT in imports for name, imports in self.running.imports.items()
                   if not name.startswith("<crossjit"))

    def _publish(self, writes: Sequence[tuple[int, int]]) -> None:
        """Map the slot writes as a table (runtime/crt.c's struct crossjit_reload) and
        publish it with one pointer store; the program applies it at its next
        crossjit_reload_point()."""
        client = self.client
        pending = self.program.symbol(RELOAD_PENDING)
        words = [self._last_table, 0, len(writes)] + [v for pair in writes for v in pair]
        data = struct.pack(f"<{len(words)}Q", *words)
        page = client.info.page_size
        size = (len(data) + page - 1) // page * page
        addr = client.reserve(size)
        self.patches.append(client.finalize(
            [SegmentRequest(addr, size, int(Prot.READ | Prot.WRITE), data)]))
        client.write_uint64s([(pending, addr)])
        self._last_table = addr
        self.patch_bytes += size

    def _dwarf(self, data: bytes) -> DwarfFacts | None:
        if data not in self._facts:
            self._facts = {data: dwarf_facts(data),
                           **{k: v for k, v in self._facts.items() if k in
                              self.objects.values()}}
        return self._facts[data]

    def _check_dwarf(self, changed: Sequence[ObjectFile], kept: set[str]) -> None:
        """With DWARF in the old and the new unit (-g): a kept variable whose type or the
        layout of a struct it holds or points to changed; a prototype changed while an
        unchanged unit calls the function."""
        names = {o.name for o in changed}
        for o in changed:
            if b".debug_info" not in o.data:
                continue
            old, new = self._dwarf(self.objects[o.name]), self._dwarf(o.data)
            if old is None or new is None:
                continue
            for name in sorted(kept & old.variables.keys() & new.variables.keys()):
                a, b = old.variables[name], new.variables[name]
                was = dict(a.structs)
                for agg, layout in b.structs:
                    if agg in was and was[agg] != layout:
                        raise LiveRefusal(
                            f"the layout of {agg} changed, and kept variable '{name}' "
                            f"holds or points to one", symbol=name, obj=o.name, line=b.line,
                            why=f"was {was[agg]}; now {layout}")
                if a.shape != b.shape:
                    raise LiveRefusal(f"the type of kept variable '{name}' changed",
                                      symbol=name, obj=o.name, line=b.line,
                                      why=f"was {a.shape}; now {b.shape}")
            for name in sorted(old.functions.keys() & new.functions.keys()):
                a, b = old.functions[name], new.functions[name]
                if a.shape == b.shape:
                    continue
                users = self._callers(name, names)
                if users:
                    raise LiveRefusal(
                        f"the signature of '{name}' changed while unchanged code calls it",
                        symbol=name, obj=o.name, line=b.line,
                        why=f"{a.shape} -> {b.shape}; called from {', '.join(users)}")

    def _callers(self, name: str, reloaded: set[str]) -> list[str]:
        """The loaded units outside ``reloaded`` that call function ``name``, sorted."""
        return sorted(u for u, imports in self.running.imports.items()
                      if u not in reloaded and name in imports)

    def program_at(self, pc: int | None) -> loader.LoadedProgram:
        """The first image or the patch whose code holds ``pc`` (crash reports name the
        function and line from that link)."""
        for p in self.patch_programs:
            if pc is not None and any(s.addr <= pc < s.addr + s.size for s in p.image.segments):
                return p
        return self.program

    def _libraries(self) -> list[tuple[str, int]]:
        if self._libs is None:
            self._libs = loader.open_libraries(self.client, self.dlopen, self.implicit, None)
        return self._libs

    def _check_removed(self, changed: Sequence[ObjectFile]) -> None:
        """A global function gone from a reloaded unit that unchanged code still calls."""
        arch = get_arch(self.client.info.triple)
        names = {o.name for o in changed}
        for o in changed:
            obj = parse_object(o.name, o.data, machine=arch.elf_machine,
                               machine_label=arch.name)
            _check_unit(obj)
            defined = {rs.name for rs in obj.symbols[1:]
                       if rs.type == STT_FUNC and rs.shndx != SHN_UNDEF and rs.bind != STB_LOCAL}
            for (scope, name), f in self.running.functions.items():
                if scope or f.obj != o.name or name in defined:
                    continue
                users = self._callers(name, names)
                if users:
                    raise LiveRefusal(
                        f"function '{name}' was removed but loaded code still calls it",
                        symbol=name, obj=o.name,
                        why=f"referenced by {', '.join(users)}")


def _check_unit(obj: ParsedObject) -> None:
    """TLS and IFUNCs in a reloaded unit: a patch cannot give a running thread new TLS
    blocks, nor re-run a resolver for callers already bound."""
    for rs in obj.symbols[1:]:
        if rs.shndx == SHN_UNDEF:
            continue
        if rs.type == STT_TLS or (0 < rs.shndx < len(obj.sections)
                                  and obj.sections[rs.shndx].flags & SHF_TLS):
            raise LiveRefusal(f"'{rs.name}' is a thread-local variable, which live reload "
                              "cannot patch", symbol=rs.name, obj=obj.name)
        if rs.type == STT_GNU_IFUNC:
            raise LiveRefusal(f"'{rs.name}' is an indirect function (IFUNC), which live "
                              "reload cannot patch", symbol=rs.name, obj=obj.name)


def _line_of(path: str, symbol: str) -> int | None:
    """The first line of the source that names ``symbol`` (a function static ``f.n``:
    its ``n``) — where the declaration usually is; None when unreadable."""
    ident = symbol.rsplit(".", 1)[-1]
    if not ident:
        return None
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return None
    pat = re.compile(rf"\b{re.escape(ident)}\b")
    for i, line in enumerate(lines, 1):
        if pat.search(line) and not line.lstrip().startswith(("//", "/*", "*")):
            return i
    return None


def refusal_line(err: CrossjitError) -> int | None:
    """The source line a refusal names (DWARF's, else the first naming the symbol)."""
    obj = getattr(err, "obj", "") or ""
    symbol = getattr(err, "symbol", "") or ""
    if not (obj and symbol):
        return None
    return getattr(err, "line", 0) or _line_of(obj, symbol)


def refusal_paragraph(err: CrossjitError) -> str:
    """One paragraph: which file and symbol (and line), why, then that watch restarts."""
    obj = getattr(err, "obj", "") or ""
    where = Path(obj).name if obj else "live reload"
    line = refusal_line(err)
    if line is not None:
        where = f"{where}:{line}"
    text = f"{where}: kept state can't survive this edit: {err.what}"
    if err.why:
        text += f" ({err.why.strip()})"
    return text + "; restarting (state lost)"

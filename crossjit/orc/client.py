"""``OrcClient``: typed, synchronous calls to an LLVM ORC executor.

Each call sends one CallWrapper and waits (with a deadline) for its Result, answering
executor→controller calls in between. Calls may come from several threads (a live reload
sends ``finalize``/``write_uint64s`` while another thread waits in ``run_as_main``):
whichever waiting thread holds the *reader* role reads frames and files each Result
under its sequence number; the others wait on a condition for theirs. The differences between
LLVM releases are looked up in the detected ``Dialect`` record, so callers see one API.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar

from crossjit.errors import (
    ExecutorDisconnected,
    ExecutorError,
    ExecutorTimeout,
    NotSupportedError,
    ProtocolError,
    RemoteError,
)
from crossjit.orc import messages as m
from crossjit.orc import sps
from crossjit.orc.connection import (
    Connection,
    ConnectionClosed,
    HangupReceived,
    IncomingCall,
    Received,
    ResultReceived,
    SetupReceived,
    State,
)
from crossjit.orc.dialect import (
    DYLIB,
    MEM,
    WRITE_NAMES,
    Dialect,
    EntryPoint,
    detect_dialect,
    parse_setup,
)
from crossjit.orc.messages import SegmentRequest
from crossjit.orc.spec import (  # re-exported: the client's callers import them here
    ExecutorSpec as ExecutorSpec,
)
from crossjit.orc.spec import (
    find_default_executor as find_default_executor,
)
from crossjit.orc.spec import (
    llvm_executors as llvm_executors,
)
from crossjit.orc.spec import (
    split_wrapper as split_wrapper,
)
from crossjit.orc.spec import start as start_transport
from crossjit.orc.sps import NO_CALL, AllocActionPair, Failure, WrapperCall
from crossjit.orc.transport import SocketTransport, connect_tcp, spawn_executor
from crossjit.records import record

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

DEFAULT_TIMEOUT = 30.0
#: handler for executor→controller calls: argument bytes → result bytes (b"" = OOB error)
Handler = Callable[[bytes], bytes]


class _Default:
    """Sentinel: "use the client's default timeout" (``None`` means no deadline)."""


_DEFAULT = _Default()
Timeout = float | None | _Default


# ---------------------------------------------------------------------------------------
# The client


class Reply(Generic[T_co]):
    """The answer to a call already sent: ``get()`` waits for it (with the call's
    deadline) once and then returns, or raises, the same every time."""

    __slots__ = ("_done", "_error", "_fetch", "_value")

    def __init__(self, fetch: Callable[[], T_co]) -> None:
        self._fetch = fetch
        self._done = False
        self._value: T_co | None = None
        self._error: BaseException | None = None

    def get(self) -> T_co:
        if not self._done:
            try:
                self._value = self._fetch()
            except BaseException as e:
                self._error = e
            self._done = True
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # T_co itself may be None


def gather(replies: Iterable[Reply[T]]) -> list[T]:
    """Every reply's value; all are waited for (so none is left unread), then the first
    error is raised."""
    waited = list(replies)
    first: BaseException | None = None
    values: list[T] = []
    for r in waited:
        try:
            values.append(r.get())
        except BaseException as e:
            first = first or e
    if first is not None:
        raise first
    return values


@record(frozen=True, slots=True)
class ExecutorInfo:
    """What the executor's Setup message told us."""

    triple: str
    page_size: int
    dialect: str  # "llvm-14", "llvm-16", "llvm-17", "llvm-22", "llvm-23"
    llvm: str  # LLVM releases of the dialect record, e.g. "18-21"
    bootstrap: dict[str, int]
    bootstrap_map: dict[str, bytes] | None
    record: Dialect


class OrcClient:
    """Host side of one session with an executor. See ``docs/internals.md``."""

    def __init__(self, transport: SocketTransport, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Take over ``transport`` and wait (up to ``timeout``) for the executor's Setup."""
        self.timeout = timeout
        self.handlers: dict[int, Handler] = {}
        self.transport = transport
        self._conn = Connection()
        self._closed = False
        self._exit_status: int | None = None
        self._broken: ExecutorError | None = None
        self._process_handle: int | None = None  # open_dylib(None), asked once
        self._entries: dict[str, int | None] = {}  # _resolve_entry's process lookups
        self._reservations: dict[int, int] = {}  # base -> size
        self._init_keys: dict[int, int] = {}  # 22+: init key -> reservation base
        # Multiplexing (see the module doc): _lock guards the connection state and the
        # fields below, _send_lock keeps frames from different threads whole.
        self._lock = threading.Lock()
        self._cv = threading.Condition(self._lock)
        self._send_lock = threading.Lock()
        self._waiting: set[int] = set()  # our calls in flight
        self._results: dict[int, bytes] = {}  # answers not yet taken by their caller
        self._reading = False  # a thread is reading frames for everyone
        try:
            self.info = self._handshake(time.monotonic() + timeout)
        except BaseException:
            self.close()
            raise
        self.dialect = self.info.record

    # ---- construction helpers ------------------------------------------------------
    @classmethod
    def spawn(
        cls, path: str, args: Sequence[str] = (), *, timeout: float = DEFAULT_TIMEOUT,
        wrapper: Sequence[str] = (),
    ) -> OrcClient:
        return cls(spawn_executor(path, args, wrapper=wrapper), timeout=timeout)

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = 10.0,
    ) -> OrcClient:
        return cls(connect_tcp(host, port, timeout=connect_timeout), timeout=timeout)

    @classmethod
    def open(
        cls,
        spec: ExecutorSpec | str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = 10.0,
    ) -> OrcClient:
        """Spawn or connect, as ``spec`` says."""
        if isinstance(spec, str):
            spec = ExecutorSpec.parse(spec)
        return cls(start_transport(spec, connect_timeout=connect_timeout), timeout=timeout)

    def __enter__(self) -> OrcClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- wire plumbing ---------------------------------------------------------------
    def _handshake(self, deadline: float) -> ExecutorInfo:
        while True:
            for ev in self._receive(deadline, "its Setup message"):
                if isinstance(ev, SetupReceived):
                    setup = parse_setup(ev.payload)
                    d = detect_dialect(setup)
                    return ExecutorInfo(
                        triple=setup.triple,
                        page_size=setup.page_size,
                        dialect=d.name,
                        llvm=d.llvm,
                        bootstrap=setup.bootstrap,
                        bootstrap_map=setup.bootstrap_map,
                        record=d,
                    )

    def _receive(self, deadline: float | None, waiting_for: str) -> list[Received]:
        """Read one chunk and return its events; raises on EOF, timeout or violations."""
        try:
            chunk = self.transport.recv(deadline)
        except ExecutorTimeout:
            raise ExecutorTimeout(
                f"the executor did not send {waiting_for} in time",
                why=f"no answer within the deadline ({self.transport.description})",
                hint="the executor may be stuck; a longer timeout helps if it is just slow",
            ) from None
        if not chunk:
            closed: ConnectionClosed = self._conn.receive_eof()
            where = " in the middle of a message" if closed.mid_message else ""
            err = self.transport.disconnected(f"while waiting for {waiting_for}{where}")
            self._broken = err
            raise err
        try:
            with self._lock:
                return self._conn.receive_data(chunk)
        except ProtocolError as e:
            self._broken = e
            raise

    def _answer(self, call: IncomingCall) -> None:
        handler = self.handlers.get(call.tag)
        result = b""
        if handler is not None:
            try:
                result = handler(call.payload)
            except Exception:
                result = b""  # an OOB error for the JIT'd caller; we must still answer
        with self._lock:
            data = self._conn.send_result(call.seq, result)
        with self._send_lock:
            self.transport.send(data)

    def call(self, tag: int, payload: bytes, *, what: str, timeout: Timeout = _DEFAULT) -> bytes:
        """Send a CallWrapper to ``tag`` and return the Result payload."""
        return self.send_call(tag, payload, what=what, timeout=timeout).get()

    def send_call(self, tag: int, payload: bytes, *, what: str, timeout: Timeout = _DEFAULT,
                  ) -> Reply[bytes]:
        """Send a CallWrapper to ``tag`` now; the Result payload is the Reply's ``get()``.

        Calls sent one after another without waiting are in flight together (the
        protocol numbers them): an emulated executor's round trips then overlap.
        LLVM's executors may run them concurrently, so only independent calls."""
        if self._closed:
            raise ExecutorError(f"cannot {what}: the connection to the executor is closed")
        if self._broken is not None:
            raise ExecutorError(f"cannot {what}: the session already failed", why=str(self._broken))
        t = self.timeout if isinstance(timeout, _Default) else timeout
        deadline = None if t is None else time.monotonic() + t
        with self._lock:
            seq, data = self._conn.send_call(tag, payload)
            self._waiting.add(seq)
        try:
            with self._send_lock:
                self.transport.send(data, deadline)
        except BaseException as e:
            self._forget(seq)
            if isinstance(e, ExecutorDisconnected):
                self._broken = e
            raise
        return Reply(lambda: self._collect(seq, deadline, what))

    def _collect(self, seq: int, deadline: float | None, what: str) -> bytes:
        try:
            return self._await(seq, deadline, what)
        except ExecutorDisconnected as e:
            self._broken = e
            raise
        finally:
            self._forget(seq)

    def _forget(self, seq: int) -> None:
        with self._lock:
            self._waiting.discard(seq)
            self._results.pop(seq, None)  # a late answer nobody wants any more

    def _await(self, seq: int, deadline: float | None, what: str) -> bytes:
        """Wait for the Result of ``seq``: as the reader, or until the reader files it."""
        while True:
            with self._cv:
                while True:
                    if seq in self._results:
                        return self._results.pop(seq)
                    if self._broken is not None:
                        raise self._broken
                    if not self._reading:
                        self._reading = True
                        break
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise ExecutorTimeout(
                            f"the executor did not send the answer to {what} in time",
                            why=f"no answer within the deadline ({self.transport.description})",
                            hint="the executor may be stuck; a longer timeout helps if it is "
                            "just slow",
                        )
                    self._cv.wait(left)
            try:
                if self._read_until(seq, deadline, what):
                    with self._lock:
                        return self._results.pop(seq)
            finally:
                with self._cv:
                    self._reading = False
                    self._cv.notify_all()

    def _read_until(self, seq: int, deadline: float | None, what: str) -> bool:
        """Read frames, filing Results for every waiting caller, until ``seq``'s is in."""
        while True:
            with self._lock:
                if seq in self._results:
                    return True
            for ev in self._receive(deadline, f"the answer to {what}"):
                if isinstance(ev, ResultReceived):
                    with self._cv:
                        if ev.seq in self._waiting:
                            self._results[ev.seq] = ev.payload
                            self._cv.notify_all()
                        # else: the late answer to a call that timed out; nobody wants it
                elif isinstance(ev, IncomingCall):
                    self._answer(ev)
                elif isinstance(ev, HangupReceived):
                    err = ExecutorDisconnected(
                        f"the executor hung up while we waited for the answer to {what}"
                    )
                    self._broken = err
                    raise err

    def _tag(self, name: str) -> int:
        try:
            return self.info.bootstrap[name]
        except KeyError:
            raise NotSupportedError(
                f"the executor does not publish {name}", why=f"dialect {self.info.dialect}"
            ) from None

    def _decode(self, codec: sps.Codec[T], payload: bytes, what: str) -> T:
        if not payload:
            raise RemoteError(
                f"the executor could not decode the arguments of {what}",
                why="it answered with an empty (out-of-band error) result",
                hint=f"crossjit may have picked the wrong dialect ({self.info.dialect})",
            )
        try:
            return codec.decode(payload)
        except sps.SPSDecodeError as e:
            raise ProtocolError(
                f"cannot decode the executor's answer to {what}", why=str(e)
            ) from None

    def _invoke(
        self,
        name: str,
        args: bytes,
        result: sps.Codec[Any],
        what: str,
        timeout: Timeout = _DEFAULT,
    ) -> Any:
        """Call a bootstrap wrapper; unwrap Error/Expected failures into ``RemoteError``."""
        return self._send_invoke(name, args, result, what, timeout).get()

    def _send_invoke(self, name: str, args: bytes, result: sps.Codec[Any], what: str,
                     timeout: Timeout = _DEFAULT) -> Reply[Any]:
        """``_invoke`` sent now, answered by the Reply's ``get()``."""
        sent = self.send_call(self._tag(name), args, what=what, timeout=timeout)

        def value() -> Any:
            v = self._decode(result, sent.get(), what)
            if isinstance(v, Failure):
                raise RemoteError(f"{what} failed in the executor", why=v.message)
            return v

        return Reply(value)

    @property
    def _mem_inst(self) -> int:
        return self.info.bootstrap[MEM + "Instance"]

    # ---- memory --------------------------------------------------------------------------
    def reserve(self, size: int) -> int:
        """Reserve ``size`` bytes (rounded up to pages by the executor), RW until finalized."""
        return self.send_reserve(size).get()

    def send_reserve(self, size: int) -> Reply[int]:
        """``reserve`` sent now; the base is the Reply's ``get()``."""
        sent = self._send_invoke(
            MEM + "reserve_wrapper",
            m.RESERVE_ARGS.encode((self._mem_inst, size)),
            m.RESERVE_RESULT,
            f"reserve({size:#x})",
        )

        def base() -> int:
            b: int = sent.get()
            self._reservations[b] = size
            return b

        return Reply(base)

    def finalize(
        self, segments: Sequence[SegmentRequest], actions: Sequence[AllocActionPair] = ()
    ) -> int:
        """Copy segments in, set protections, run the actions' finalize halves.

        Returns the handle ``deallocate`` takes (14-19: the reservation base; 22+: the
        executor's init key).
        """
        return self.send_finalize(segments, actions).get()

    def send_finalize(
        self, segments: Sequence[SegmentRequest], actions: Sequence[AllocActionPair] = ()
    ) -> Reply[int]:
        """``finalize`` sent now (for segments of separate reservations: each its own
        call); the handle is the Reply's ``get()``."""
        d = self.dialect
        for a in actions:
            if a.finalize.fn == 0 and d.memory_api == "finalize":
                # 14-19 call the address 0 and crash (doc §5.3).
                raise NotSupportedError(
                    "an allocation action without a finalize call",
                    why=f"dialect {d.name} (LLVM {d.llvm}) would call address 0",
                )
        for s in segments:
            if len(s.content) > s.size:
                raise ValueError(f"segment at {s.addr:#x}: content larger than size")
        lt = d.prot_lifetime_bit
        req = (
            [
                (m.wire_prot(s.prot, s.finalize_lifetime, lt), s.addr, s.size, s.content)
                for s in segments
            ],
            list(actions),
        )
        args = m.FINALIZE_ARGS.encode((self._mem_inst, req))
        what = f"finalize of {len(segments)} segments"
        if d.memory_api == "finalize":
            done = self._send_invoke(MEM + "finalize_wrapper", args, m.FINALIZE_RESULT, what)
            lowest = min((s.addr for s in segments), default=0)

            def handle() -> int:
                done.get()
                return lowest

            return Reply(handle)
        sent = self._send_invoke(MEM + "initialize_wrapper", args, m.INITIALIZE_RESULT, what)

        def init_key() -> int:
            key: int = sent.get()
            self._init_keys[key] = self._slab_of(key)
            return key

        return Reply(init_key)

    def _slab_of(self, addr: int) -> int:
        for base, size in self._reservations.items():
            if base <= addr < base + max(size, 1):
                return base
        return addr

    def deallocate(self, handles: Iterable[int]) -> None:
        """Run dealloc actions and unmap (22+: deinitialize, then release emptied slabs)."""
        hs = list(handles)
        if not hs:
            return
        if self.dialect.memory_api == "finalize":
            self._mem_addrs_call("deallocate", hs)
            for h in hs:
                self._reservations.pop(h, None)
            return
        keys = [h for h in hs if h in self._init_keys]
        if keys:
            self._mem_addrs_call("deinitialize", keys)
        slabs: list[int] = []
        for h in hs:
            base = self._init_keys.pop(h, None)
            base = h if base is None else base
            if base not in slabs and base not in self._init_keys.values():
                slabs.append(base)
        if slabs:
            self._mem_addrs_call("release", slabs)
            for b in slabs:
                self._reservations.pop(b, None)

    def _mem_addrs_call(self, op: str, addrs: list[int]) -> None:
        """The memory manager's ``op`` (deallocate/deinitialize/release) on ``addrs``."""
        self._invoke(
            MEM + op + "_wrapper",
            m.ADDRS_ARGS.encode((self._mem_inst, addrs)),
            m.ADDRS_RESULT,
            f"{op}({', '.join(map(hex, addrs))})",
        )

    def _write(self, kind: str, writes: Sequence[tuple[int, Any]]) -> None:
        # Void wrappers: an empty result is success (an OOB error is indistinguishable).
        self.call(
            self._tag(WRITE_NAMES[kind]),
            m.WRITE_ARGS[kind].encode(list(writes)),
            what=f"write_{kind}",
        )

    def write_uint8s(self, writes: Sequence[tuple[int, int]]) -> None:
        self._write("uint8s", writes)

    def write_uint16s(self, writes: Sequence[tuple[int, int]]) -> None:
        self._write("uint16s", writes)

    def write_uint32s(self, writes: Sequence[tuple[int, int]]) -> None:
        self._write("uint32s", writes)

    def write_uint64s(self, writes: Sequence[tuple[int, int]]) -> None:
        self._write("uint64s", writes)

    def write_buffers(self, writes: Sequence[tuple[int, bytes]]) -> None:
        self._write("buffers", writes)

    # ---- symbols -------------------------------------------------------------------------
    def open_dylib(self, path: str | None = None) -> int:
        """dlopen ``path`` in the executor (``None``/``""``: the executor process itself)."""
        return self.send_open_dylib(path).get()

    def send_open_dylib(self, path: str | None = None) -> Reply[int]:
        """``open_dylib`` sent now; the handle is the Reply's ``get()``. The process's
        own handle is asked for once per session."""
        if not path and self._process_handle is not None:
            known = self._process_handle
            return Reply(lambda: known)
        sent: Reply[int] = self._send_invoke(
            DYLIB + "open_wrapper",
            m.OPEN_ARGS.encode((self.info.bootstrap[DYLIB + "Instance"], path or "", 0)),
            m.OPEN_RESULT,
            f"open_dylib({path or '<process>'!r})",
        )
        if path:
            return sent

        def process() -> int:
            self._process_handle = sent.get()
            return self._process_handle

        return Reply(process)

    def lookup(self, handle: int, names: Sequence[str], required: bool = True) -> list[int | None]:
        """Addresses of ``names`` (``None`` = not found). Missing required names raise
        ``RemoteError`` naming them, whatever the dialect."""
        return self.send_lookup(handle, names, required).get()

    def send_lookup(self, handle: int, names: Sequence[str], required: bool = True,
                    ) -> Reply[list[int | None]]:
        """``lookup`` sent now; the addresses are the Reply's ``get()``."""
        d = self.dialect
        lset = [(n, required) for n in names]
        if d.lookup_has_instance:
            args = m.LOOKUP_ARGS_WITH_INSTANCE.encode(
                (self.info.bootstrap[DYLIB + "Instance"], handle, lset)
            )
        else:
            args = m.LOOKUP_ARGS_NO_INSTANCE.encode((handle, lset))
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        what = f"lookup of {shown}"
        sent = self._send_invoke(d.lookup_name, args, m.LOOKUP_RESULTS[d.lookup_shape], what)
        return Reply(lambda: self._addresses(sent.get(), names, required, what))

    @staticmethod
    def _addresses(raw: list[Any], names: Sequence[str], required: bool,
                   what: str) -> list[int | None]:
        if len(raw) != len(names):
            raise ProtocolError(
                f"the executor answered {what} with {len(raw)} results for {len(names)} names"
            )
        out: list[int | None] = []
        for r in raw:
            addr = r[0] if isinstance(r, tuple) else r  # ExecutorSymbolDef → its address
            out.append(addr or None)  # 0 = not found in every dialect
        if required:
            missing = [n for n, a in zip(names, out, strict=True) if a is None]
            if missing:
                raise RemoteError(
                    f"{what} failed in the executor",
                    why="Missing definition for " + ", ".join(missing),
                )
        return out

    # ---- running code --------------------------------------------------------------------
    def run_as_main(self, addr: int, argv: Sequence[str], *, timeout: float | None = None) -> int:
        """Call ``int main(argc, argv)`` at ``addr``; argv is passed exactly (no program name
        is prepended). No deadline by default: a server may run for ever."""
        result: int = self._decode(
            m.RUN_AS_MAIN_RESULT,
            self.call(
                self._tag(self.dialect.run_as_main),
                m.RUN_AS_MAIN_ARGS.encode((addr, list(argv))),
                what=f"run_as_main({addr:#x})",
                timeout=timeout,
            ),
            "run_as_main",
        )
        return result

    def _need(self, name: str | None, op: str) -> str:
        if name is None:
            d = self.dialect
            raise NotSupportedError(
                f"{op} is not available with this executor",
                why=f"dialect {d.name} (LLVM {d.llvm}) has no {op} wrapper",
                hint="use run_as_main, or an executor from LLVM 16 or later",
            )
        return name

    def run_as_int(self, addr: int, arg: int, *, timeout: Timeout = _DEFAULT) -> int:
        """Call ``int32_t fn(int32_t)`` at ``addr`` (LLVM 16+)."""
        name = self._need(self.dialect.run_as_int, "run_as_int")
        payload = self.call(
            self._tag(name),
            m.RUN_AS_INT_ARGS.encode((addr, arg)),
            what=f"run_as_int({addr:#x})",
            timeout=timeout,
        )
        result: int = self._decode(m.RUN_AS_INT_RESULT, payload, "run_as_int")
        return result

    def run_as_void(self, addr: int, *, timeout: Timeout = _DEFAULT) -> int:
        """Call ``int32_t fn(void)`` at ``addr`` (LLVM 16+); returns its int result."""
        name = self._need(self.dialect.run_as_void, "run_as_void")
        payload = self.call(
            self._tag(name),
            m.RUN_AS_VOID_ARGS.encode((addr,)),
            what=f"run_as_void({addr:#x})",
            timeout=timeout,
        )
        result: int = self._decode(m.RUN_AS_INT_RESULT, payload, "run_as_void")
        return result

    # ---- allocation actions --------------------------------------------------------------
    def _resolve_entry(self, candidates: Sequence[EntryPoint], purpose: str) -> int:
        for ep in candidates:
            if ep.source == "bootstrap":
                if ep.name in self.info.bootstrap:
                    return self.info.bootstrap[ep.name]
                continue
            if ep.name not in self._entries:  # once per session: fixed in the process
                self._entries[ep.name] = self.lookup(self.open_dylib(None), [ep.name],
                                                     required=False)[0]
            addr = self._entries[ep.name]
            if addr is not None:
                return addr
        d = self.dialect
        raise NotSupportedError(
            f"the executor offers no {purpose} entry point",
            why=f"dialect {d.name} (LLVM {d.llvm}); tried "
            + ", ".join(f"{e.name} ({e.source})" for e in candidates),
        )

    def eh_frame_actions(self, addr: int, size: int) -> AllocActionPair:
        """Register ``[addr, addr+size)`` as .eh_frame on finalize, deregister on dealloc.
        The range must end with the 4-byte zero terminator."""
        d = self.dialect
        reg = self._resolve_entry(d.eh_register, "EH-frame registration")
        dereg = self._resolve_entry(d.eh_deregister, "EH-frame deregistration")
        args = m.RANGE_ARGS.encode((addr, addr + size))
        return AllocActionPair(WrapperCall(reg, args), WrapperCall(dereg, args))

    def gdb_register_action(self, addr: int, size: int) -> AllocActionPair:
        """Register a debug object at ``[addr, addr+size)`` with the GDB JIT interface.
        There is no deregistration: the object must stay mapped."""
        d = self.dialect
        fn = self._resolve_entry(d.gdb_register, "GDB JIT registration")
        if d.gdb_takes_bool:
            args = m.RANGE_BOOL_ARGS.encode((addr, addr + size, True))
        else:
            args = m.RANGE_ARGS.encode((addr, addr + size))
        return AllocActionPair(WrapperCall(fn, args), NO_CALL)

    # ---- ending --------------------------------------------------------------------------
    def close(self, *, timeout: float = 5.0) -> int | None:
        """Hang up, shut the socket down; for a spawned executor, wait for it (killing it
        after ``timeout``) and return its exit status. Idempotent."""
        if self._closed:
            return self._exit_status
        self._closed = True
        hangup = b""
        if self._broken is None and self._conn.state is State.READY:
            hangup = self._conn.send_hangup()
        self._exit_status = self.transport.close(hangup, timeout)
        return self._exit_status


def connect_executor(
    spec: ExecutorSpec | str, *, timeout: float = DEFAULT_TIMEOUT, connect_timeout: float = 10.0
) -> OrcClient:
    """Spawn or connect to the executor ``spec`` names (same as ``OrcClient.open``)."""
    return OrcClient.open(spec, timeout=timeout, connect_timeout=connect_timeout)

"""SPS (Simple Packed Serialization), the argument/result encoding of ORC wrapper calls.

Pure and declarative: a *codec* object describes one SPS type and can encode a Python value
to bytes or decode it from a buffer at an offset. Codecs compose (``Sequence(Tuple(U64, U8))``),
so each wire call is described by one schema (see ``messages.py``).

Little-endian, no alignment, no tags (protocol doc §3). Speed matters because a link sends
megabytes: fixed-size element sequences are packed/unpacked with one ``struct`` call, byte
buffers are never copied element-wise, and encoding collects parts for a single ``join``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from collections.abc import Sequence as Seq
from itertools import chain
from typing import Any, Generic, TypeVar

from crossjit.records import record

T = TypeVar("T")
U = TypeVar("U")

Buffer = bytes | bytearray | memoryview

_U64 = struct.Struct("<Q")


class SPSDecodeError(ValueError):
    """Bytes that do not decode as the expected SPS type (short buffer, bad count...).

    Internal to ``crossjit.orc``: callers translate it into ``ProtocolError``,
    ``DialectError`` or ``RemoteError`` with context.
    """


@record(frozen=True, slots=True)
class Failure:
    """The failure side of SPS ``Error`` / ``Expected<T>``: the remote error message."""

    message: str


class Codec(Generic[T]):
    """One SPS type. Subclasses implement ``pack`` and ``unpack``."""

    #: struct format (without byte order) if every value has the same encoded size
    fixed_fmt: str | None = None
    #: number of flat struct fields of a fixed codec (1 for scalars)
    fixed_arity: int = 0
    #: smallest possible encoded size, used to sanity-check sequence counts
    min_size: int = 0

    def pack(self, out: list[bytes], value: T) -> None:
        raise NotImplementedError

    def unpack(self, buf: Buffer, off: int) -> tuple[T, int]:
        """Decode one value at ``off``; return it and the offset just after it."""
        raise NotImplementedError

    def encode(self, value: T) -> bytes:
        out: list[bytes] = []
        self.pack(out, value)
        return b"".join(out)

    def decode(self, buf: Buffer, *, exact: bool = False) -> T:
        """Decode a whole buffer. Trailing bytes are ignored (as LLVM does) unless ``exact``."""
        value, end = self.unpack(buf, 0)
        if exact and end != len(buf):
            raise SPSDecodeError(f"{len(buf) - end} trailing bytes after {self!r}")
        return value

    # Flat-tuple helpers used by fixed sequences; scalars override _flatten/_group.
    def _flatten(self, value: T) -> Seq[Any]:
        raise NotImplementedError

    def _group(self, flat: tuple[Any, ...], i: int) -> T:
        raise NotImplementedError


def _need(buf: Buffer, off: int, n: int, what: str) -> None:
    if off + n > len(buf):
        raise SPSDecodeError(f"need {n} bytes for {what} at offset {off}, have {len(buf) - off}")


class Scalar(Codec[int]):
    def __init__(self, name: str, fmt: str) -> None:
        self.name = name
        self.fixed_fmt = fmt
        self.fixed_arity = 1
        self._st = struct.Struct("<" + fmt)
        self.min_size = self._st.size

    def __repr__(self) -> str:
        return self.name

    def pack(self, out: list[bytes], value: int) -> None:
        try:
            out.append(self._st.pack(value))
        except struct.error as e:
            raise ValueError(f"{value!r} does not fit SPS {self.name}") from e

    def unpack(self, buf: Buffer, off: int) -> tuple[int, int]:
        _need(buf, off, self.min_size, self.name)
        return self._st.unpack_from(buf, off)[0], off + self.min_size

    def _flatten(self, value: int) -> Seq[Any]:
        return (value,)

    def _group(self, flat: tuple[Any, ...], i: int) -> int:
        return int(flat[i])


class _Bool(Codec[bool]):
    fixed_fmt = "?"
    fixed_arity = 1
    min_size = 1

    def __repr__(self) -> str:
        return "Bool"

    def pack(self, out: list[bytes], value: bool) -> None:
        out.append(b"\x01" if value else b"\x00")

    def unpack(self, buf: Buffer, off: int) -> tuple[bool, int]:
        _need(buf, off, 1, "bool")
        return buf[off] != 0, off + 1  # LLVM reads any non-zero byte as true

    def _flatten(self, value: bool) -> Seq[Any]:
        return (bool(value),)

    def _group(self, flat: tuple[Any, ...], i: int) -> bool:
        return bool(flat[i])


U8 = Scalar("U8", "B")
U16 = Scalar("U16", "H")
U32 = Scalar("U32", "I")
U64 = Scalar("U64", "Q")
I32 = Scalar("I32", "i")
I64 = Scalar("I64", "q")
Bool = _Bool()
#: ExecutorAddr is a plain u64 on the wire
ExecutorAddr = U64


def _unpack_len(buf: Buffer, off: int, what: str) -> tuple[int, int]:
    _need(buf, off, 8, f"{what} length")
    return _U64.unpack_from(buf, off)[0], off + 8


class _Bytes(Codec[bytes]):
    """``Sequence<char>`` holding raw bytes (segment content, wrapper argument buffers)."""

    min_size = 8

    def __repr__(self) -> str:
        return "Bytes"

    def pack(self, out: list[bytes], value: bytes) -> None:
        out.append(_U64.pack(len(value)))
        out.append(bytes(value) if not isinstance(value, bytes) else value)

    def unpack(self, buf: Buffer, off: int) -> tuple[bytes, int]:
        n, off = _unpack_len(buf, off, "byte string")
        _need(buf, off, n, "byte string")
        return bytes(buf[off : off + n]), off + n


class _String(Codec[str]):
    """SPS ``String``: u64 length + bytes. No NUL, no encoding check on the wire; we use UTF-8
    with surrogateescape so arbitrary bytes survive a round trip."""

    min_size = 8

    def __repr__(self) -> str:
        return "String"

    def pack(self, out: list[bytes], value: str) -> None:
        b = value.encode("utf-8", "surrogateescape")
        out.append(_U64.pack(len(b)))
        out.append(b)

    def unpack(self, buf: Buffer, off: int) -> tuple[str, int]:
        n, off = _unpack_len(buf, off, "string")
        _need(buf, off, n, "string")
        return bytes(buf[off : off + n]).decode("utf-8", "surrogateescape"), off + n


Bytes = _Bytes()
String = _String()


class Sequence(Codec[list[T]]):
    """``Sequence<T>``: u64 count, then the elements back to back."""

    min_size = 8

    def __init__(self, elem: Codec[T]) -> None:
        self.elem = elem

    def __repr__(self) -> str:
        return f"Sequence({self.elem!r})"

    def pack(self, out: list[bytes], value: Seq[T]) -> None:
        e = self.elem
        n = len(value)
        if e.fixed_fmt is not None:
            # One struct call for the whole sequence (count included).
            flat = chain.from_iterable(e._flatten(v) for v in value)
            try:
                out.append(struct.pack(f"<Q{e.fixed_fmt * n}", n, *flat))
            except struct.error as err:
                raise ValueError(f"value does not fit {self!r}: {err}") from None
            return
        out.append(_U64.pack(n))
        for v in value:
            e.pack(out, v)

    def unpack(self, buf: Buffer, off: int) -> tuple[list[T], int]:
        n, off = _unpack_len(buf, off, "sequence")
        e = self.elem
        # Reject counts the remaining bytes cannot possibly hold (garbage must not
        # make us loop or allocate for 2**64 elements).
        if e.min_size and n > (len(buf) - off) // e.min_size:
            raise SPSDecodeError(f"sequence count {n} exceeds remaining {len(buf) - off} bytes")
        if e.fixed_fmt is not None:
            st = struct.Struct("<" + e.fixed_fmt * n)
            _need(buf, off, st.size, repr(self))
            flat = st.unpack_from(buf, off)
            k = e.fixed_arity
            return [e._group(flat, i * k) for i in range(n)], off + st.size
        items: list[T] = []
        for _ in range(n):
            v, off = e.unpack(buf, off)
            items.append(v)
        return items, off


class Tuple(Codec[tuple[Any, ...]]):
    """``Tuple<A, B, ...>``: the fields back to back. Values are Python tuples."""

    def __init__(self, *fields: Codec[Any]) -> None:
        self.fields = fields
        self.min_size = sum(f.min_size for f in fields)
        # Flat tuples of scalars are "fixed" so sequences of them pack in one call.
        if all(f.fixed_fmt is not None and f.fixed_arity == 1 for f in fields):
            self.fixed_fmt = "".join(f.fixed_fmt or "" for f in fields)
            self.fixed_arity = len(fields)
            self._st: struct.Struct | None = struct.Struct("<" + self.fixed_fmt)
        else:
            self._st = None

    def __repr__(self) -> str:
        return f"Tuple({', '.join(map(repr, self.fields))})"

    def pack(self, out: list[bytes], value: Seq[Any]) -> None:
        if len(value) != len(self.fields):
            raise ValueError(f"{self!r} needs {len(self.fields)} fields, got {len(value)}")
        if self._st is not None:
            try:
                out.append(self._st.pack(*value))
            except struct.error as err:
                raise ValueError(f"value does not fit {self!r}: {err}") from None
            return
        for f, v in zip(self.fields, value, strict=True):
            f.pack(out, v)

    def unpack(self, buf: Buffer, off: int) -> tuple[tuple[Any, ...], int]:
        if self._st is not None:
            _need(buf, off, self._st.size, repr(self))
            vals = self._st.unpack_from(buf, off)
            return tuple(f._group(vals, i) for i, f in enumerate(self.fields)), off + self._st.size
        out = []
        for f in self.fields:
            v, off = f.unpack(buf, off)
            out.append(v)
        return tuple(out), off

    def _flatten(self, value: tuple[Any, ...]) -> Seq[Any]:
        return value

    def _group(self, flat: tuple[Any, ...], i: int) -> tuple[Any, ...]:
        return tuple(f._group(flat, i + j) for j, f in enumerate(self.fields))


class Optional(Codec[T | None]):
    """``Optional<T>`` (LLVM 16+): bool present, then T if present."""

    min_size = 1

    def __init__(self, elem: Codec[T]) -> None:
        self.elem = elem

    def __repr__(self) -> str:
        return f"Optional({self.elem!r})"

    def pack(self, out: list[bytes], value: T | None) -> None:
        if value is None:
            out.append(b"\x00")
        else:
            out.append(b"\x01")
            self.elem.pack(out, value)

    def unpack(self, buf: Buffer, off: int) -> tuple[T | None, int]:
        present, off = Bool.unpack(buf, off)
        if not present:
            return None, off
        return self.elem.unpack(buf, off)


class _Error(Codec[Failure | None]):
    """SPS ``Error``: ``00`` = success (None), ``01`` + String = Failure."""

    min_size = 1

    def __repr__(self) -> str:
        return "Error"

    def pack(self, out: list[bytes], value: Failure | None) -> None:
        if value is None:
            out.append(b"\x00")
        else:
            out.append(b"\x01")
            String.pack(out, value.message)

    def unpack(self, buf: Buffer, off: int) -> tuple[Failure | None, int]:
        has_error, off = Bool.unpack(buf, off)
        if not has_error:
            return None, off
        msg, off = String.unpack(buf, off)
        return Failure(msg), off


Error = _Error()


class Expected(Codec[T | Failure]):
    """SPS ``Expected<T>``: ``01`` + T on success, ``00`` + String on failure.

    Note the polarity is the opposite of ``Error``.
    """

    min_size = 1

    def __init__(self, elem: Codec[T]) -> None:
        self.elem = elem

    def __repr__(self) -> str:
        return f"Expected({self.elem!r})"

    def pack(self, out: list[bytes], value: T | Failure) -> None:
        if isinstance(value, Failure):
            out.append(b"\x00")
            String.pack(out, value.message)
        else:
            out.append(b"\x01")
            self.elem.pack(out, value)

    def unpack(self, buf: Buffer, off: int) -> tuple[T | Failure, int]:
        has_value, off = Bool.unpack(buf, off)
        if has_value:
            return self.elem.unpack(buf, off)
        msg, off = String.unpack(buf, off)
        return Failure(msg), off


class Record(Codec[T]):
    """A ``Tuple`` whose Python value is a record (fields in declaration order)."""

    def __init__(self, cls: Callable[..., T], names: Seq[str], *fields: Codec[Any]) -> None:
        self.cls = cls
        self.names = tuple(names)
        self.tuple = Tuple(*fields)
        self.min_size = self.tuple.min_size

    def __repr__(self) -> str:
        return f"Record({getattr(self.cls, '__name__', self.cls)})"

    def pack(self, out: list[bytes], value: T) -> None:
        self.tuple.pack(out, tuple(getattr(value, n) for n in self.names))

    def unpack(self, buf: Buffer, off: int) -> tuple[T, int]:
        vals, off = self.tuple.unpack(buf, off)
        return self.cls(*vals), off


# Common composite types of the ORC protocol.
ExecutorAddrRange = Tuple(U64, U64)  # (start, end) — end is exclusive
JITSymbolFlags = Tuple(U8, U8)
ExecutorSymbolDef = Tuple(U64, U8, U8)  # (addr, flags, target flags); LLVM 18+


@record(frozen=True, slots=True)
class WrapperCall:
    """A wrapper function call to run in the executor (``fn`` 0 = "no call")."""

    fn: int
    args: bytes = b""


NO_CALL = WrapperCall(0, b"")


@record(frozen=True, slots=True)
class AllocActionPair:
    """An allocation action: ``finalize`` runs when memory is finalized, ``dealloc`` at release."""

    finalize: WrapperCall
    dealloc: WrapperCall = NO_CALL


WrapperFunctionCall: Record[WrapperCall] = Record(WrapperCall, ("fn", "args"), U64, Bytes)
AllocActionCallPair: Record[AllocActionPair] = Record(
    AllocActionPair, ("finalize", "dealloc"), WrapperFunctionCall, WrapperFunctionCall
)

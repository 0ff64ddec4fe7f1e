"""One module per CPU architecture: relocation kinds, GOT/stub layout, fixups.

Each architecture module builds one :class:`Arch` record; :func:`get_arch` finds it
by name, target-triple architecture or ELF ``e_machine``. :func:`fixup_function` is the
per-edge fixup loop they share: every backend patches the generic data edges
(pointers and PC-relative deltas of .eh_frame, vtables, jump tables, debug info: most
edges) the same way; only its own kinds (x86-64's rare widths, AArch64's instruction
fields) differ, and go to the backend's ``other`` function.
"""

from __future__ import annotations

import enum
import importlib
import struct
from collections.abc import Callable, Mapping, Sequence

from crossjit import arch_name
from crossjit.errors import NotSupportedError
from crossjit.link.graph import Edge, EdgeKind
from crossjit.records import record

RangeError = tuple[Edge, int, int, int]  # edge, computed value, lo, hi
# A value that does not fit, or (edge, why): a misaligned value, the wrong instruction.
FixupError = RangeError | tuple[Edge, str]
FixupFn = Callable[
    [bytearray, int, int, Sequence[Edge], Sequence[int], int, list[FixupError]], None
]
StubGotEdge = tuple[int, int, int]  # offset in the stub, edge kind, addend


class TlsRef(enum.Enum):
    """What a thread-local edge refers to once link/tls.py rewrites it."""

    INDEX = "index"  # the target's 16-byte {&module, offset} entry (x86-64 TLSGD)
    MODULE = "module"  # the module's {&module, 0} entry (x86-64 TLSLD)
    OFFSET = "offset"  # the target's offset in the TLS module itself (DTPOFF32/64)
    # A 16-byte TLS descriptor {&resolver, &index entry} (AArch64 TLSDESC): the code calls
    # the resolver with x0 = &descriptor and gets the variable's offset from TP back.
    DESCRIPTOR = "descriptor"


@record(frozen=True, slots=True)
class TlsRules:
    """How an architecture reaches thread-local variables through crossjit's runtime."""

    transform: Mapping[int, tuple[TlsRef, int]]  # TLS edge kind -> (refers to, plain kind)
    get_addr: str | None  # the psABI's __tls_get_addr, bound to __crossjit_tls_get_addr
    # The access models refused (named in the NotSupportedError) and what to use instead.
    refused: str = "initial-exec or local-exec"
    refusal_hint: str = ""
    # DESCRIPTOR refs: the TLS descriptor resolver's code, which the linker places in the
    # image, and its edges to __crossjit_tls_get_addr (offset, kind, addend).
    resolver_code: bytes = b""
    resolver_edges: tuple[StubGotEdge, ...] = ()


@record(frozen=True, slots=True)
class Arch:
    """What the generic linker needs to know about one architecture."""

    name: str
    elf_machine: str  # pyelftools' e_machine name, e.g. "EM_X86_64"
    reloc_name: Callable[[int], str]
    edge_kind: dict[int, int]  # ELF relocation type -> edge kind
    kind_names: dict[int, str]  # arch-specific kind -> name
    none_relocs: frozenset[int]  # R_*_NONE: ignored
    tls_relocs: frozenset[int]  # -> NotSupportedError
    dynamic_relocs: frozenset[int]  # never valid in a .o -> LinkError
    unsupported_relocs: frozenset[int]  # recognised, not implemented -> NotSupportedError
    got_transform: dict[int, int]  # GOT-requesting kind -> kind once it targets the entry
    got_base_transform: dict[int, int]  # kind relative to the GOT base -> plain kind
    branch_kinds: frozenset[int]  # may go through a stub
    data_delta_kind: int  # PC-relative 32-bit data reference (may be a branch, see below)
    branch_kind: int  # what a data_delta_kind at a branch site becomes
    is_branch_site: Callable[[bytes | bytearray | memoryview, int], bool]
    got_entry_size: int
    got_entry_kind: int  # edge from a GOT entry to its target
    stub_template: bytes
    stub_align: int
    stub_got_edges: tuple[StubGotEdge, ...]  # each stub's references to its GOT entry
    eh_frame_section_types: frozenset[int]
    apply_fixups: FixupFn
    tls: TlsRules | None = None  # None: SHF_TLS sections are refused (NotSupportedError)


_MODULES = {"x86_64": "x86_64", "aarch64": "aarch64"}  # canonical name -> backend module


def get_arch(name: str) -> Arch:
    """The backend for ``name``: ``x86_64``, a triple like ``x86_64-linux-gnu``, or
    an ELF machine name like ``EM_X86_64``."""
    mod = _MODULES.get(arch_name(name))
    if mod is None:
        raise NotSupportedError(
            f"the JIT linker does not support architecture {name!r} yet",
            hint=f"supported: {', '.join(sorted(_MODULES))}",
        )
    arch: Arch = importlib.import_module(f"crossjit.link.arch.{mod}").ARCH
    return arch


# (buf, pos, kind, edge, S, A, P, GOT base, errors): patch one arch-specific edge.
OtherFixup = Callable[
    [bytearray, int, int, Edge, int, int, int, int, list[FixupError]], None
]

_M64 = (1 << 64) - 1
_I32_LO, _I32_HI = -(1 << 31), (1 << 31) - 1


def fixup_function(*, branch32: int, pointer32: tuple[int, int], other: OtherFixup) -> FixupFn:
    """The backend's ``apply_fixups``.

    ``branch32``: a kind patched exactly like Delta32 (x86-64's call/jmp rel32; the
    AArch64 backend, which has none, passes Delta32 itself). ``pointer32``: the range an
    ABS32 value must lie in (the psABIs differ on whether it may be read signed).
    """
    P64, D32, D64, P32 = EdgeKind.Pointer64, EdgeKind.Delta32, EdgeKind.Delta64, EdgeKind.Pointer32
    p32_lo, p32_hi = pointer32
    delta32 = (branch32, D32)
    pack = struct.pack_into

    def apply_fixups(
        buf: bytearray,
        pos0: int,
        block_addr: int,
        edges: Sequence[Edge],
        addrs: Sequence[int],
        got_base: int,
        errors: list[FixupError],
    ) -> None:
        """Patch ``buf`` (the block's bytes start at ``buf[pos0]``, at address ``block_addr``).

        ``addrs[sym.id]`` is each symbol's address. Values that do not fit their field
        (and, on AArch64, misaligned values and instructions that do not match their
        relocation) are appended to ``errors`` (and not written) so all of them can be
        reported at once.
        """
        for e in edges:
            k = e.kind
            S = addrs[e.target.id]
            A = e.addend
            P = block_addr + e.offset
            pos = pos0 + e.offset
            # The common kinds first, with their range checks inline (this loop is hot).
            if k in delta32:
                v = S + A - P
                if _I32_LO <= v <= _I32_HI:
                    pack("<i", buf, pos, v)
                else:
                    errors.append((e, v, _I32_LO, _I32_HI))
            elif k == P64:
                pack("<Q", buf, pos, (S + A) & _M64)
            elif k == D64:
                pack("<Q", buf, pos, (S + A - P) & _M64)
            elif k == P32:
                v = S + A
                if p32_lo <= v <= p32_hi:
                    pack("<I", buf, pos, v & 0xFFFFFFFF)
                else:
                    errors.append((e, v, p32_lo, p32_hi))
            else:
                other(buf, pos, k, e, S, A, P, got_base, errors)

    return apply_fixups

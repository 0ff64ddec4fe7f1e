"""Setup message parsing and protocol-dialect detection (protocol doc §2, §7). Pure.

LLVM's out-of-process protocol has no version field. What differs between releases is the
Setup layout (a bootstrap map was added in 17), the set of bootstrap wrapper names, and a
few argument/result shapes. Each supported dialect is one declarative ``Dialect`` record;
``detect_dialect`` picks it by the bootstrap-symbol fingerprint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from crossjit.errors import DialectError
from crossjit.orc import sps
from crossjit.records import field, record

P = "__llvm_orc_"
MEM = P + "SimpleExecutorMemoryManager_"
DYLIB = P + "SimpleExecutorDylibManager_"
DISPATCH_CTX = P + "SimpleRemoteEPC_dispatch_ctx"
DISPATCH_FN = P + "SimpleRemoteEPC_dispatch_fn"

WRITE_NAMES = {
    "uint8s": P + "bootstrap_mem_write_uint8s_wrapper",
    "uint16s": P + "bootstrap_mem_write_uint16s_wrapper",
    "uint32s": P + "bootstrap_mem_write_uint32s_wrapper",
    "uint64s": P + "bootstrap_mem_write_uint64s_wrapper",
    "buffers": P + "bootstrap_mem_write_buffers_wrapper",
}
RUN_AS_MAIN = P + "bootstrap_run_as_main_wrapper"
RUN_AS_INT = P + "bootstrap_run_as_int_function_wrapper"
RUN_AS_VOID = P + "bootstrap_run_as_void_function_wrapper"

# EH-frame / GDB entry points (doc §5.7, §5.8)
EH_REG_14 = P + "bootstrap_register_ehframe_section_wrapper"
EH_DEREG_14 = P + "bootstrap_deregister_ehframe_section_wrapper"
EH_REG_18 = "llvm_orc_registerEHFrameSectionWrapper"
EH_DEREG_18 = "llvm_orc_deregisterEHFrameSectionWrapper"
EH_REG_21 = "llvm_orc_registerEHFrameAllocAction"
EH_DEREG_21 = "llvm_orc_deregisterEHFrameAllocAction"
GDB_WRAPPER = "llvm_orc_registerJITLoaderGDBWrapper"
GDB_ACTION = "llvm_orc_registerJITLoaderGDBAllocAction"
ORC_RT_CI_MARK = "orc_rt_ci_NativeDylibManager_Instance"


@record(frozen=True, slots=True)
class Setup:
    """The executor's Setup message (``SimpleRemoteEPCExecutorInfo``)."""

    triple: str
    page_size: int
    #: ``None`` for the 3-field layout of LLVM 14–16; the bootstrap map (17+) otherwise
    bootstrap_map: dict[str, bytes] | None
    bootstrap: dict[str, int]

    @property
    def layout(self) -> str:
        if self.bootstrap_map is None:
            return "3-field Setup (triple, page size, symbols; LLVM 14-16)"
        return "4-field Setup (triple, page size, bootstrap map, symbols; LLVM 17+)"


_SYMBOLS = sps.Sequence(sps.Tuple(sps.String, sps.ExecutorAddr))
_MAP = sps.Sequence(sps.Tuple(sps.String, sps.Bytes))
SETUP_WITH_MAP = sps.Tuple(sps.String, sps.U64, _MAP, _SYMBOLS)
SETUP_WITHOUT_MAP = sps.Tuple(sps.String, sps.U64, _SYMBOLS)


def _unique(pairs: Sequence[tuple[str, int | bytes]], what: str) -> None:
    seen: set[str] = set()
    for k, _ in pairs:
        if k in seen:
            raise DialectError(
                "the executor's Setup message is invalid", why=f"duplicate {what} key {k!r}"
            )
        seen.add(k)


def parse_setup(payload: bytes) -> Setup:
    """Parse a Setup payload, detecting whether it carries the 17+ bootstrap map.

    Recipe (doc §2): try the 4-field layout and accept it only if it consumes the payload
    exactly; otherwise the 3-field layout, again exactly.
    """
    try:
        triple, page, bmap, syms = SETUP_WITH_MAP.decode(payload, exact=True)
    except sps.SPSDecodeError:
        pass
    else:
        _unique(bmap, "bootstrap map")
        _unique(syms, "bootstrap symbol")
        return Setup(triple, page, dict(bmap), dict(syms))
    try:
        triple, page, syms = SETUP_WITHOUT_MAP.decode(payload, exact=True)
    except sps.SPSDecodeError as e:
        head = payload[:48].hex()
        raise DialectError(
            "the executor's Setup message has an unknown layout",
            why=f"neither the LLVM 14-16 nor the LLVM 17+ layout fits ({e}); "
            f"{len(payload)} bytes, starting {head}",
            hint=_SUPPORTED_HINT,
        ) from None
    _unique(syms, "bootstrap symbol")
    return Setup(triple, page, None, dict(syms))


Source = Literal["bootstrap", "process"]


@record(frozen=True, slots=True)
class EntryPoint:
    """Where to find a function: a bootstrap symbol, or an export found by process lookup."""

    name: str
    source: Source


LookupShape = Literal["addr", "symdef", "opt-symdef", "opt-addr"]


@record(frozen=True, slots=True)
class Dialect:
    """Everything that differs on the wire between the LLVM releases crossjit speaks to."""

    name: str  # the dialect name crossjit reports (info.dialect)
    llvm: str  # the LLVM releases it covers
    setup_has_map: bool
    memory_api: Literal["finalize", "initialize"]
    lookup_name: str
    lookup_has_instance: bool
    lookup_shape: LookupShape
    #: what open_dylib returns (for messages / docs only)
    open_result: str
    run_as_int: str | None
    run_as_void: str | None
    #: the "finalize lifetime" protection bit 8 exists (16+)
    prot_lifetime_bit: bool
    eh_register: tuple[EntryPoint, ...]
    eh_deregister: tuple[EntryPoint, ...]
    gdb_register: tuple[EntryPoint, ...]
    gdb_takes_bool: bool
    #: bootstrap names that must be present for this dialect
    required: frozenset[str]
    #: at least one of these must be present (empty = no condition)
    any_of: frozenset[str] = field(default=frozenset())
    #: none of these may be present (tells this dialect apart from a later one)
    absent: frozenset[str] = field(default=frozenset())

    @property
    def run_as_main(self) -> str:
        return RUN_AS_MAIN

    def matches(self, setup: Setup) -> bool:
        names = setup.bootstrap.keys()
        return (
            (setup.bootstrap_map is not None) == self.setup_has_map
            and self.required <= names
            and (not self.any_of or bool(self.any_of & names))
            and not (self.absent & names)
        )

    def missing(self, setup: Setup) -> list[str]:
        return sorted(self.required - setup.bootstrap.keys())


_COMMON = frozenset(
    {
        DISPATCH_CTX,
        DISPATCH_FN,
        MEM + "Instance",
        MEM + "reserve_wrapper",
        DYLIB + "Instance",
        DYLIB + "open_wrapper",
        RUN_AS_MAIN,
        *WRITE_NAMES.values(),
    }
)
_FINALIZE_API = frozenset(
    {MEM + "finalize_wrapper", MEM + "deallocate_wrapper", DYLIB + "lookup_wrapper"}
)
_INIT_API = frozenset(
    {
        MEM + "initialize_wrapper",
        MEM + "deinitialize_wrapper",
        MEM + "release_wrapper",
        DYLIB + "resolve_wrapper",
    }
)

_B: Source = "bootstrap"
_PR: Source = "process"

LLVM_14 = Dialect(
    name="llvm-14",
    llvm="14-15",
    setup_has_map=False,
    memory_api="finalize",
    lookup_name=DYLIB + "lookup_wrapper",
    lookup_has_instance=True,
    lookup_shape="addr",
    open_result="a handle counter",
    run_as_int=None,
    run_as_void=None,
    prot_lifetime_bit=False,
    eh_register=(EntryPoint(EH_REG_14, _B),),
    eh_deregister=(EntryPoint(EH_DEREG_14, _B),),
    gdb_register=(EntryPoint(GDB_WRAPPER, _PR),),
    gdb_takes_bool=False,
    required=_COMMON | _FINALIZE_API | {EH_REG_14, EH_DEREG_14},
    absent=frozenset({RUN_AS_INT}),
)

LLVM_16 = Dialect(
    name="llvm-16",
    llvm="16",
    setup_has_map=False,
    memory_api="finalize",
    lookup_name=DYLIB + "lookup_wrapper",
    lookup_has_instance=True,
    lookup_shape="addr",
    open_result="a dlopen handle",
    run_as_int=RUN_AS_INT,
    run_as_void=RUN_AS_VOID,
    prot_lifetime_bit=True,
    eh_register=(EntryPoint(EH_REG_14, _B),),
    eh_deregister=(EntryPoint(EH_DEREG_14, _B),),
    gdb_register=(EntryPoint(GDB_WRAPPER, _PR),),
    gdb_takes_bool=False,
    required=_COMMON | _FINALIZE_API | {EH_REG_14, EH_DEREG_14, RUN_AS_INT, RUN_AS_VOID},
)

# 17 keeps 16's lookup result and EH bootstrap names (inferred, doc §11).
LLVM_17 = Dialect(
    name="llvm-17",
    llvm="17",
    setup_has_map=True,
    memory_api="finalize",
    lookup_name=DYLIB + "lookup_wrapper",
    lookup_has_instance=True,
    lookup_shape="addr",
    open_result="a dlopen handle",
    run_as_int=RUN_AS_INT,
    run_as_void=RUN_AS_VOID,
    prot_lifetime_bit=True,
    eh_register=(EntryPoint(EH_REG_14, _B), EntryPoint(EH_REG_18, _PR)),
    eh_deregister=(EntryPoint(EH_DEREG_14, _B), EntryPoint(EH_DEREG_18, _PR)),
    gdb_register=(EntryPoint(GDB_WRAPPER, _PR),),
    gdb_takes_bool=True,
    required=_COMMON | _FINALIZE_API | {RUN_AS_INT, RUN_AS_VOID},
    absent=frozenset({EH_REG_18, EH_REG_21}),
)

# 18-21: lookups return ExecutorSymbolDef; EH wrappers published in the bootstrap map under
# their export names (18-20) or as alloc actions (21). Same dialect name as 17 (doc §7).
LLVM_18 = Dialect(
    name="llvm-17",
    llvm="18-21",
    setup_has_map=True,
    memory_api="finalize",
    lookup_name=DYLIB + "lookup_wrapper",
    lookup_has_instance=True,
    lookup_shape="symdef",
    open_result="a dlopen handle",
    run_as_int=RUN_AS_INT,
    run_as_void=RUN_AS_VOID,
    prot_lifetime_bit=True,
    eh_register=(EntryPoint(EH_REG_18, _B), EntryPoint(EH_REG_21, _B), EntryPoint(EH_REG_18, _PR)),
    eh_deregister=(
        EntryPoint(EH_DEREG_18, _B),
        EntryPoint(EH_DEREG_21, _B),
        EntryPoint(EH_DEREG_18, _PR),
    ),
    gdb_register=(EntryPoint(GDB_WRAPPER, _PR),),
    gdb_takes_bool=True,
    required=_COMMON | _FINALIZE_API | {RUN_AS_INT, RUN_AS_VOID},
    any_of=frozenset({EH_REG_18, EH_REG_21}),
)

LLVM_22 = Dialect(
    name="llvm-22",
    llvm="22",
    setup_has_map=True,
    memory_api="initialize",
    lookup_name=DYLIB + "resolve_wrapper",
    lookup_has_instance=False,
    lookup_shape="opt-symdef",
    open_result="a resolver object address",
    run_as_int=RUN_AS_INT,
    run_as_void=RUN_AS_VOID,
    prot_lifetime_bit=True,
    eh_register=(EntryPoint(EH_REG_21, _B),),
    eh_deregister=(EntryPoint(EH_DEREG_21, _B),),
    gdb_register=(EntryPoint(GDB_ACTION, _B),),
    gdb_takes_bool=True,
    required=_COMMON | _INIT_API | {RUN_AS_INT, RUN_AS_VOID, EH_REG_21, EH_DEREG_21, GDB_ACTION},
    absent=frozenset({ORC_RT_CI_MARK}),
)

# The 23 layout fits 22 by its names, but resolve gained the instance argument and returns
# Optional<ExecutorAddr> (doc §5.5). Reconstructed executor only: not tested here.
LLVM_23 = Dialect(
    name="llvm-23",
    llvm="23",
    setup_has_map=True,
    memory_api="initialize",
    lookup_name=DYLIB + "resolve_wrapper",
    lookup_has_instance=True,
    lookup_shape="opt-addr",
    open_result="a resolver object address",
    run_as_int=RUN_AS_INT,
    run_as_void=RUN_AS_VOID,
    prot_lifetime_bit=True,
    eh_register=(EntryPoint(EH_REG_21, _B),),
    eh_deregister=(EntryPoint(EH_DEREG_21, _B),),
    gdb_register=(EntryPoint(GDB_ACTION, _B),),
    gdb_takes_bool=True,
    required=LLVM_22.required | {ORC_RT_CI_MARK},
)

#: in detection order: most specific first
DIALECTS: tuple[Dialect, ...] = (LLVM_23, LLVM_22, LLVM_18, LLVM_17, LLVM_16, LLVM_14)

_SUPPORTED_HINT = (
    "crossjit supports the llvm-jitlink-executor of LLVM 14/15 (dialect llvm-14), 16 (llvm-16), "
    "17-21 (llvm-17; tested with 19), 22 (llvm-22) and 23 (llvm-23, untested); "
    "upstream main after 23 changed the protocol and is not supported"
)


def detect_dialect(setup: Setup) -> Dialect:
    """Pick the dialect by bootstrap-symbol fingerprint, or raise ``DialectError``."""
    if setup.page_size <= 0 or setup.page_size & (setup.page_size - 1):
        raise DialectError(
            "the executor's Setup message is invalid",
            why=f"page size {setup.page_size} is not a power of two (triple {setup.triple!r})",
        )
    for d in DIALECTS:
        if d.matches(setup):
            return d
    same_layout = [d for d in DIALECTS if d.setup_has_map == (setup.bootstrap_map is not None)]
    closest = min(same_layout, key=lambda d: len(d.missing(setup)))
    names = "\n".join(f"    {n}" for n in sorted(setup.bootstrap))
    missing = ", ".join(closest.missing(setup)) or "(none; but a distinguishing name is off)"
    raise DialectError(
        "the executor speaks an ORC protocol dialect crossjit does not know",
        why=(
            f"triple {setup.triple!r}, page size {setup.page_size}, {setup.layout}\n"
            f"closest dialect {closest.name} (LLVM {closest.llvm}) lacks: {missing}\n"
            f"bootstrap symbols seen ({len(setup.bootstrap)}):\n{names}"
        ),
        hint=_SUPPORTED_HINT,
    )

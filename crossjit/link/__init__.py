"""The JIT linker: relocatable ELF objects → laid-out, fixed-up segments at executor addresses,
and debug objects for them; sans-IO (see docs/internals.md). Imports only errors and elf.
"""

from crossjit.link.linker import (
    ExternalRef,
    LinkedImage,
    Linker,
    LinkPlan,
    Prot,
    SectionInfo,
    Segment,
)

__all__ = ["ExternalRef", "LinkPlan", "LinkedImage", "Linker", "Prot", "SectionInfo", "Segment"]

"""The JIT linker: relocatable ELF objects -> laid-out, fixed-up segments at executor addresses.

See ``docs/internals.md`` (link section) for the contract.
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

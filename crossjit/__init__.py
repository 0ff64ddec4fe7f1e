"""crossjit: remote cross-JIT of C and C++ over LLVM ORC's out-of-process protocol."""

__version__ = "0.1.0"

# Other spellings of an architecture (triples, ELF machine names) -> its canonical name.
# Here, at the root, because every stage needs the one spelling (compile, link, project).
_ARCH_ALIASES = {"x86-64": "x86_64", "amd64": "x86_64", "em_x86_64": "x86_64",
                 "arm64": "aarch64", "em_aarch64": "aarch64"}


def arch_name(name: str) -> str:
    """The canonical architecture of ``name`` (``x86_64``, a triple such as
    ``amd64-linux-gnu``, or an ELF machine name), whether or not a backend exists."""
    key = name.lower()
    if key in _ARCH_ALIASES:
        return _ARCH_ALIASES[key]
    head = key.split("-", 1)[0]
    return _ARCH_ALIASES.get(head, head)

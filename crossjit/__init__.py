"""crossjit: remote cross-JIT of C and C++ over LLVM ORC's out-of-process protocol."""

__version__ = "0.1.0"

"""Sources → objects: clang (toolchain), llvmlite (codegen), the parallel build and its cache.
Imports only errors and elf.
"""

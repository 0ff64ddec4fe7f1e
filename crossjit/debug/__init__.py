"""Debuggers (gdb, lldb) attached to JIT'd code: a spawned or container executor under them.
Imports run and everything below it.
"""

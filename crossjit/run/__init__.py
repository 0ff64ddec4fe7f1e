"""Connect → build → link → load → run → tear down, crash reports, the `--watch` loop.
Imports targets and everything below it (project, compile, link, orc, errors, elf).
"""

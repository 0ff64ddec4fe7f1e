"""Where code runs: Docker containers, executor images and sessions, sysroots, SONAMEs, /proc.
Imports project, compile, link, orc, errors and elf.
"""

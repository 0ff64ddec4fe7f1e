"""The JIT linker: relocatable ELF objects -> laid-out, fixed-up segments at executor addresses."""

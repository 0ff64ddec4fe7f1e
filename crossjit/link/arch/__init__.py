"""One module per CPU architecture: relocation kinds, GOT/stub layout, fixups."""

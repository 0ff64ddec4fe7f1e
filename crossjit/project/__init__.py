"""What the user asked for: profiles (YAML → validated model), fetched sources, image recipes
and the pure plan of what to build and run. Imports compile, link, orc, errors and elf only.
"""

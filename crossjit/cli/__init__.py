"""The command line: the Typer app (the only place that prints errors and picks exit codes),
the stdlib-only launcher, the daemon, doctor and clean. May import every package below it.
"""

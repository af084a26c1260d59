"""The ``infra-rollback`` command's entry point.

``--version`` and the top-level ``--help`` are answered here without loading the command line: Typer and
what it imports are most of a start-up, and neither answer needs them (the help text is Typer's own,
rendered once into :mod:`rollback._help`; ``tests/test_help_imports.py`` fails when it no longer matches,
and ``UPDATE_GOLDEN=1`` rewrites it). Everything else goes to :func:`rollback.cli.main`.
"""

from __future__ import annotations

import os
import sys


def _columns() -> int:
    """The terminal width Typer's help would be wrapped to (as ``shutil.get_terminal_size`` tells it)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ is not None else 80
    except (AttributeError, ValueError, OSError):
        return 80


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        from rollback import __version__

        sys.stdout.write(f"infra-rollback {__version__}\n")
        raise SystemExit(0)
    if args in (["--help"], ["-h"]) and _columns() >= 80:   # Typer wraps at 80 columns, or narrower
        from rollback._help import TOP_HELP

        sys.stdout.write(TOP_HELP)
        raise SystemExit(0)
    from rollback.cli import main as cli_main

    cli_main(args)

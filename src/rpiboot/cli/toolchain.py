"""Helpers shared by the secure-boot toolchain commands (drop-ins and subcommands)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from rpiboot.cli.common import run_command


def run_tool(prog: str, func: Callable[[Sequence[str]], int | None],
             argv: Sequence[str] | None) -> int:
    """run_command, plus argparse's SystemExit turned into a return value (for in-process use)."""
    try:
        return run_command(prog, func, sys.argv[1:] if argv is None else list(argv))
    except SystemExit as exc:
        if exc.code is None:
            return 0
        return exc.code if isinstance(exc.code, int) else 2

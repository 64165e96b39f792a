"""Helpers shared by the secure-boot toolchain commands (drop-ins and subcommands)."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

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


def write_output(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path``: atomically for regular files, directly for devices/FIFOs
    (e.g. ``-o /dev/null`` must never be replaced)."""
    from rpiboot.fsutil import atomic_write

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        with open(path, "wb") as handle:
            handle.write(data)
        return
    atomic_write(Path(path), data)


def write_stdout(data: bytes) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()

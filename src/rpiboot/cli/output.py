"""Where command output goes: files (atomically, unless a device or FIFO) and stdout bytes."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path


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
    """Write raw bytes to stdout, after whatever text was printed before them."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()

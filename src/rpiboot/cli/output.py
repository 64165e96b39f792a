"""Where command output goes: files (atomically, unless a device or FIFO) and stdout bytes.

Commands check their outputs with :func:`check_output` (or the ``rpiboot.fsutil`` checks)
before any work, then write them with :func:`write_output`; OS errors become the project's
errors naming the user's path.
"""

from __future__ import annotations

import os
import sys


def check_output(path: str | os.PathLike[str] | None, what: str = "output file") -> None:
    """Before any work: can ``path`` be written?  (Nothing to check for stdout: None.)"""
    if path is not None:
        from rpiboot.fsutil import check_output_file

        check_output_file(path, what=what)


def write_output(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path``: atomically for regular files, directly for devices/FIFOs
    (e.g. ``-o /dev/null`` must never be replaced)."""
    from rpiboot.fsutil import atomic_write

    atomic_write(path, data)


def write_stdout(data: bytes) -> None:
    """Write raw bytes to stdout, after whatever text was printed before them."""
    try:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        raise  # the reader went away (`| head`): run_command treats it as success
    except OSError as exc:
        from rpiboot.fsutil import path_error

        raise path_error("the standard output", exc) from None

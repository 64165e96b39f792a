"""Running the host's own tools (``umount``, ``diskutil``, ``ioreg``, PowerShell) with a
time limit and bounded output; their outputs are untrusted input for the parsers.

A :data:`Runner` is what the platform finders and the safety checks call; tests pass a
function that answers with recorded outputs.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Sequence
from typing import IO

from rpiboot.record import record

TOOL_TIMEOUT_S = 30.0
MAX_OUTPUT_BYTES = 32 << 20


@record
class CommandResult:
    """A finished command: exit status (-1: could not run / timed out / too much output),
    its standard output and standard error (decoded, errors replaced)."""

    status: int
    stdout: str
    stderr: str = ""


Runner = Callable[[Sequence[str]], CommandResult]


def _read(stream: IO[bytes], limit: int) -> tuple[str, bool]:
    stream.seek(0)
    data = stream.read(limit + 1)
    return data[:limit].decode("utf-8", "replace"), len(data) > limit


def run_command(argv: Sequence[str], *, timeout: float = TOOL_TIMEOUT_S,
                limit: int = MAX_OUTPUT_BYTES) -> CommandResult:
    """Run ``argv`` (no shell, stdin closed); at most ``limit`` bytes of each output are
    kept (status -1 when there was more)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            done = subprocess.run(list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return CommandResult(-1, "", f"{argv[0]} did not finish within {timeout:g} s")
        except OSError as exc:
            return CommandResult(-1, "", f"cannot run {argv[0]}: {exc.strerror or exc}")
        stdout, too_long = _read(out, limit)
        stderr, _ = _read(err, 65536)
    if too_long:
        return CommandResult(-1, "", f"{argv[0]} printed more than {limit} bytes")
    return CommandResult(done.returncode, stdout, stderr)

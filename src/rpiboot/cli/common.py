"""What every rpiboot command shares: error reporting and the exit-code mapping."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence

from rpiboot.errors import ExitCode, RpibootError


def print_error(prog: str, err: RpibootError) -> None:
    """Print a user-facing error (and its hint) to stderr."""
    print(f"{prog}: error: {err.message}", file=sys.stderr)
    if err.hint:
        for line in err.hint.splitlines():
            print(f"  {line}", file=sys.stderr)


def run_command(
    prog: str, func: Callable[[Sequence[str]], int | None], argv: Sequence[str]
) -> int:
    """Run ``func(argv)`` and map whatever happens to one exit status of :class:`ExitCode`.

    RpibootError → its exit code with a clear message; Ctrl-C → 130; any other exception
    is a bug → 3, with the traceback only when RPIBOOT_DEBUG is set.
    """
    try:
        rc = func(argv)
    except RpibootError as err:
        print_error(prog, err)
        return int(err.exit_code)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # Output closed early (e.g. piped into `head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return int(ExitCode.OK)
    except Exception:
        if os.environ.get("RPIBOOT_DEBUG"):
            traceback.print_exc()
        else:
            exc = sys.exc_info()[1]
            print(
                f"{prog}: internal error: {type(exc).__name__}: {exc}\n"
                "  This is a bug in rpiboot. Re-run with RPIBOOT_DEBUG=1 for the traceback"
                " and report it.",
                file=sys.stderr,
            )
        return int(ExitCode.INTERNAL)
    return int(rc or 0)

"""The one contract every rpiboot command follows, and the one place errors become exit codes.

A command module defines::

    HELP = "one line"                                   # what `rpiboot -h` lists
    def build_parser(prog: str) -> argparse.ArgumentParser: ...   # errors raise UsageError
    def run(args: argparse.Namespace) -> int: ...       # raises RpibootError on failure

:func:`invoke` parses and runs one; :func:`run_command` turns whatever happens into one exit
status of :class:`~rpiboot.errors.ExitCode` (the drop-in tools use :func:`console_main`).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence

from rpiboot.errors import ExitCode, RpibootError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    import argparse
    from typing import Protocol

    class CommandModule(Protocol):
        """What a command module provides."""

        HELP: str

        def build_parser(self, prog: str) -> argparse.ArgumentParser: ...
        def run(self, args: argparse.Namespace) -> int: ...


def load(module_name: str) -> CommandModule:
    """Import a command module (lazily: only the one that runs)."""
    module: CommandModule = importlib.import_module(module_name)
    return module


def invoke(module: str | CommandModule, prog: str, argv: Sequence[str]) -> int:
    """Parse ``argv`` with the module's parser and run it; the exit status."""
    command = load(module) if isinstance(module, str) else module
    args = command.build_parser(prog).parse_args(list(argv))
    return int(command.run(args) or 0)


def print_error(prog: str, err: RpibootError) -> None:
    """Print a user-facing error (and its hint) to stderr."""
    print(f"{prog}: error: {err.message}", file=sys.stderr)
    if err.hint:
        for line in err.hint.splitlines():
            print(f"  {line}", file=sys.stderr)


def run_command(prog: str, func: Callable[[Sequence[str]], int | None],
                argv: Sequence[str]) -> int:
    """Run ``func(argv)`` and map whatever happens to one exit status of :class:`ExitCode`.

    RpibootError → its exit code with a clear message; Ctrl-C and SIGTERM → 130 (both unwind
    the command, so its temporary files are removed); ``-h`` (argparse's SystemExit) → its
    status; an OS error on a named path that a command did not translate → the path and
    what went wrong (exit 1, or 5 for permission); any other exception is a bug → 3, with
    the traceback only when RPIBOOT_DEBUG is set.
    """
    restore = sigterm_as_interrupt()
    try:
        rc = func(argv)
        _flush_stdout()
    except RpibootError as err:
        print_error(prog, err)
        return int(err.exit_code)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except SystemExit as exc:  # argparse's --help / --version
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except BrokenPipeError:
        # Output closed early (e.g. piped into `head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return int(ExitCode.OK)
    except OSError as exc:
        import errno

        from rpiboot.fspaths import path_error

        if exc.filename is not None:
            translated = path_error(exc.filename, exc, doing="access")
        elif exc.errno in (errno.ENOSPC, errno.EDQUOT):  # e.g. printing into a full disk
            translated = path_error("the output", exc)
        else:
            _report_bug(prog)
            return int(ExitCode.INTERNAL)
        print_error(prog, translated)
        return int(translated.exit_code)
    except Exception:
        _report_bug(prog)
        return int(ExitCode.INTERNAL)
    finally:
        restore()
    return int(rc or 0)


def _flush_stdout() -> None:
    """Flush what the command printed now, so a full disk behind ``> file`` is reported
    (at exit, Python would only print "Exception ignored")."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        from rpiboot.fspaths import path_error

        raise path_error("the standard output", exc) from None


def sigterm_as_interrupt() -> Callable[[], object]:
    """Make SIGTERM raise KeyboardInterrupt, like Ctrl-C, so a terminated command unwinds
    (and cleans up) the same way; returns the undo function.  Main thread only."""
    import signal

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: signals are not ours to handle
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)


def _report_bug(prog: str) -> None:
    import traceback

    if os.environ.get("RPIBOOT_DEBUG"):
        traceback.print_exc()
        return
    exc = sys.exc_info()[1]
    print(f"{prog}: internal error: {type(exc).__name__}: {exc}\n"
          "  This is a bug in rpiboot. Re-run with RPIBOOT_DEBUG=1 for the traceback"
          " and report it.", file=sys.stderr)


def console_main(module: str, prog: str, argv: Sequence[str] | None = None) -> int:
    """Entry point of a stand-alone command (drop-in tools): parse, run, map errors."""
    return run_command(prog, lambda args: invoke(module, prog, args),
                       sys.argv[1:] if argv is None else list(argv))

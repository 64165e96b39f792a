"""Serve boards from the command line: the renderer, Ctrl-C / SIGTERM, the exit status."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections.abc import Iterator

from rpiboot.errors import RpibootError
from rpiboot.record import replace

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time

if TYPE_CHECKING:
    from typing import Any

    from rpiboot.options import BootOptions


@contextlib.contextmanager
def json_errors(args: argparse.Namespace) -> Iterator[None]:
    """With ``--json``, a failure outside any board's boot (an unusable -j folder, no
    libusb, an unknown simulated board) still ends the output with its ``error`` event."""
    try:
        yield
    except RpibootError as err:
        if args.json_mode:
            from rpiboot.cli.render import print_json_error

            print_json_error(err)
        raise


def run_boot(options: BootOptions, backend: Any, args: argparse.Namespace, *,
             stop: threading.Event | None = None) -> int:
    """Serve boards with the renderer the flags ask for; the exit status.  Ctrl-C and
    SIGTERM stop the boards cleanly (each closes its device) and exit 130."""
    from rpiboot.cli.command import print_error, sigterm_as_interrupt
    from rpiboot.cli.recording import recording
    from rpiboot.cli.render import make_renderer
    from rpiboot.engine.server import Server

    renderer = make_renderer(json_mode=args.json_mode, quiet=args.quiet, verbose=args.verbose)
    try:
        with recording(args, renderer) as rec:
            restore = sigterm_as_interrupt()
            if rec.recorder is not None:  # the record holds every metadata record
                options = replace(options, metadata=True)
            try:
                result = Server(options, backend=backend, on_event=rec.callback,
                                stop=stop).run()
            finally:
                restore()
            rec.interrupted = result.interrupted
    finally:
        renderer.close()
    if result.interrupted:
        print("rpiboot: interrupted", file=sys.stderr)
    elif result.error is not None:
        print_error("rpiboot", result.error)
    return int(result.exit_code)

"""``rpiboot [flags]``: boot boards over USB with the reference tool's flags, plus
``--timeout``, ``--json``, ``--quiet``, ``--firmware-dir`` and ``--simulate BOARD``.

Parsing and rendering only: the work is done by :class:`rpiboot.engine.server.Server`.
"""

from __future__ import annotations

import argparse
import sys

from rpiboot.cli.boot_flags import build_options, build_parser, configure_logging

HELP = "boot boards over USB (the default when no subcommand)"

__all__ = ["HELP", "build_parser", "run"]


def run(args: argparse.Namespace) -> int:
    """Boot boards as the parsed flags ask (or a simulated one with ``--simulate``)."""
    from rpiboot.cli.serving import json_errors

    with json_errors(args):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    if args.version:
        from rpiboot import __version__

        print(f"rpiboot {__version__}")
        return 0
    if args.simulate:
        from rpiboot.cli.simulate_cmd import run_simulation

        return run_simulation(args.simulate, args)
    configure_logging(args.verbose, args.quiet)
    options = build_options(args)
    if args.boot_dir is None:  # the default firmware: offer to fetch it on a terminal
        from rpiboot.cli.fwprompt import ensure_default_firmware

        ensure_default_firmware(args)
    from rpiboot.cli.serving import run_boot
    from rpiboot.usb.backend import load_backend

    backend, description = load_backend()
    if args.verbose:
        print(f"rpiboot: using {description}", file=sys.stderr)
    return run_boot(options, backend, args)

"""``rpiboot firmware info FILE|DIR``: what a firmware file is (chip, role, version, build date,
signature), or what a boot folder is for (usbboot flow, chips it boots) and what is wrong in it.

Also runs on its own: ``python -m rpiboot.cli.fwinfo_cmd FILE|DIR``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rpiboot.cli.parsing import ArgumentParser

HELP = "describe firmware files and boot folders (chip, version, signatures, problems)"
PROG = "rpiboot firmware info"


def build_parser(prog: str) -> argparse.ArgumentParser:
    """PATH, --json, --verbose, --check."""
    parser = ArgumentParser(prog=prog, description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path, help="a firmware file, or a boot folder")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object (fields: docs/firmware-info.md)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="describe every member of a folder, archive or image in full")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when an error-level problem is found (for CI)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Describe ``args.path``; the exit status (1 with --check and an error problem)."""
    from rpiboot.cli.fwinfo_render import Printer, print_info
    from rpiboot.fwinfo import describe_firmware

    info = describe_firmware(args.path)
    if args.json:
        json.dump(info.to_dict(), sys.stdout, indent=2)
        print()
    else:
        print_info(Printer(sys.stdout), info, verbose=args.verbose)
    errors = [p for _, p in info.all_problems() if p.severity == "error"]
    return 1 if args.check and errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m rpiboot.cli.fwinfo_cmd``."""
    from rpiboot.cli.command import console_main

    return console_main(__name__ if __name__ != "__main__" else "rpiboot.cli.fwinfo_cmd",
                        PROG, argv)


if __name__ == "__main__":
    raise SystemExit(main())

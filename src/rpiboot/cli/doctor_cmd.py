"""``rpiboot doctor [--json]``: one report of this computer and every Raspberry Pi USB
device on it (host, libusb, permissions and udev rules, drivers, port paths, speeds, hubs,
stages, firmware), with what to do about each problem found.  It never claims, configures,
opens for transfer or boots a device.

Exit status: 0 when no problem of severity "error" was found, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rpiboot.cli.parsing import ArgumentParser
from rpiboot.errors import ExitCode

HELP = "check this computer, its USB boards, permissions, drivers and firmware"


def build_parser(prog: str = "rpiboot doctor") -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=prog, description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (schema in docs/doctor.md)")
    parser.add_argument("--firmware-dir", type=Path, metavar="DIR",
                        help="also look for the default firmware here (as rpiboot would)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Diagnose and print the report; 1 when it lists an error."""
    from rpiboot.doctor import diagnose

    report = diagnose(firmware_dir=args.firmware_dir)
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        print()
    else:
        from rpiboot.cli.doctor_render import render

        sys.stdout.write(render(report))
    return int(ExitCode.FAILED if report.worst == "error" else ExitCode.OK)

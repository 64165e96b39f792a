"""The boot flags shared by ``rpiboot [flags]``, ``rpiboot --simulate BOARD [flags]`` and
``rpiboot simulate BOARD [flags]``: one parser, so every form accepts the same options."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from rpiboot.cli.parsing import ArgumentParser
from rpiboot.errors import UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time

if TYPE_CHECKING:
    from typing import Any

    from rpiboot.options import BootOptions

MIN_POLL_S = 0.01  # -m below 10 ms would burn CPU for no faster detection
PORT_FLAG = re.compile(r"^-(\d{1,3})$")
TAKES_VALUE = {"-d", "-m", "-p", "-i", "--timeout", "--firmware-dir", "--simulate", "--speed",
               "--db", "--station", "--on-board-done", "--on-board-passed",
               "--on-board-failed", "--hook-timeout"}
DESCRIPTION = """\
Boot a Raspberry Pi / Compute Module in USB boot mode (nRPIBOOT) from a directory, like
Raspberry Pi's usbboot rpiboot.  Without -l, exit after one board finished its file server.
"""
SIMULATE_DESCRIPTION = """\
Boot a simulated board (no hardware needed) through the real boot engine and CLI output.
Without -d a small demo boot directory of synthetic files is served; every rpiboot flag
works as with a real board.
"""
EPILOG = """\
exit status: 0 ok, 1 boot failed, 2 usage, 3 internal error, 4 timeout / no board,
5 permission denied, 130 interrupted.
environment: RPIBOOT_LIBUSB=/path/to/libusb-1.0.so selects the libusb library;
RPIBOOT_FIRMWARE_DIR is where the default (no -d) firmware is looked for;
RPIBOOT_DB where the records go; RPIBOOT_STATION this station's name in them.
"""


class BootArgumentParser(ArgumentParser):
    """The boot flags' parser: rewrites the reference's ``-0`` .. ``-98`` before parsing
    and checks the combinations after it, so ``parse_args`` is all a command calls."""

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None
                         ) -> tuple[argparse.Namespace, list[str]]:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            parsed, rest = super().parse_known_args(rewrite_port_flags(argv), namespace)
            check_args(parsed)
        except UsageError as err:
            if "--json" in argv:  # the run's one error event, even for bad flags
                from rpiboot.cli.render import print_json_error

                print_json_error(err)
            raise
        return parsed, rest


def build_parser(prog: str = "rpiboot", *, simulate: bool = False) -> argparse.ArgumentParser:
    """The boot flags; ``simulate``: the ``rpiboot simulate BOARD`` form (BOARD positional,
    ``--list``) instead of ``--simulate BOARD``."""
    p = BootArgumentParser(prog=prog, description=SIMULATE_DESCRIPTION if simulate
                           else DESCRIPTION, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    if simulate:
        p.add_argument("simulate", metavar="BOARD", nargs="?",
                       help="the simulated board ('rpiboot simulate --list'), or a scenario "
                       "file (*.json, docs/simulator.md)")
        p.add_argument("--list", dest="list_boards", action="store_true",
                       help="list the simulated boards and exit")
    else:
        p.add_argument("--simulate", metavar="BOARD",
                       help="boot a simulated board (or a scenario *.json) instead (see "
                       "'rpiboot simulate --list')")
    p.add_argument("--speed", metavar="FACTOR", type=float,
                   help="with a simulated board: run its own delays FACTOR times faster "
                   "(default 1: real timings)")
    p.add_argument("-d", dest="boot_dir", metavar="DIR", type=Path,
                   help="boot directory to serve files from (default: the installed "
                   "mass-storage firmware)")
    p.add_argument("-l", dest="loop", action="store_true",
                   help="loop: keep serving boards (several at once) until interrupted")
    p.add_argument("-o", dest="overlay", action="store_true",
                   help="per-USB-path overlay: serve DIR/<usb path>/NAME first (needs -d)")
    p.add_argument("-m", dest="poll_us", metavar="MICROSECONDS", type=int,
                   help="device polling interval in microseconds (at least 10000)")
    p.add_argument("-v", dest="verbose", action="count", default=0,
                   help="verbose (-vv: debug), says which libusb is in use")
    p.add_argument("-V", "--version", dest="version", action="store_true",
                   help="print the version and exit")
    p.add_argument("-s", dest="signed", action="store_true",
                   help="signed boot (BCM2835/7): send the 20-byte bootcode.sig "
                        "(or bootsig.bin) in the boot message")
    p.add_argument("--port-number", dest="port_number", metavar="N", type=int,
                   help="-0 .. -98: only the device on port number N")
    p.add_argument("-p", dest="port_path", metavar="PATH",
                   help="only the device at this USB path (e.g. 1-1.3, or a glob: '1-3.*')")
    p.add_argument("-i", dest="serial", metavar="SERIAL",
                   help="only the device with this serial number")
    p.add_argument("-j", dest="metadata_dir", metavar="DIR", nargs="?", const="",
                   default=None,
                   help="write each board's metadata as JSON into DIR/<serial>.json, one "
                   "file per board (an unsafe serial gets a hash suffix; another board's "
                   "file is never overwritten: <serial>~2.json); no DIR: print it to stdout")
    p.add_argument("--timeout", metavar="SECONDS", type=float,
                   help="give up when no board appears within SECONDS (exit 4), or a stage "
                   "takes longer than max(SECONDS, 10)")
    p.add_argument("--json", dest="json_mode", action="store_true",
                   help="one JSON event per line on stdout; logs on stderr")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors (and metadata)")
    p.add_argument("--firmware-dir", type=Path, metavar="DIR",
                   help="where the default firmware (no -d) is installed")
    from rpiboot.cli.recording import add_record_flags

    add_record_flags(p)
    return p


def rewrite_port_flags(argv: Sequence[str]) -> list[str]:
    """Turn the reference's numeric flags ``-0`` .. ``-98`` into ``--port-number N``."""
    out: list[str] = []
    expects_value = False
    for arg in argv:
        match = PORT_FLAG.match(arg)
        if match and not expects_value:
            number = int(match.group(1))
            if number > 98:
                raise UsageError(f"port number flag {arg}: must be -0 .. -98")
            out += ["--port-number", str(number)]
            continue
        expects_value = arg in TAKES_VALUE
        out.append(arg)
    return out


def parse_args(argv: Sequence[str], prog: str = "rpiboot") -> argparse.Namespace:
    """Parse (and check) the boot flags."""
    return build_parser(prog).parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """Reject flag combinations that cannot work (UsageError, exit 2)."""
    if args.overlay and args.boot_dir is None:
        raise UsageError("-o (per-USB-path overlay) needs a boot directory",
                         hint="Pass -d DIR as well.")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError(f"--timeout {args.timeout:g}: must be more than 0 seconds")
    if args.poll_us is not None and args.poll_us < 0:
        raise UsageError("-m: the polling interval cannot be negative")
    if args.speed is not None and args.speed <= 0:
        raise UsageError("--speed must be more than 0", hint="e.g. --speed 4")
    if args.speed is not None and not getattr(args, "simulate", None) and not getattr(
            args, "list_boards", False):
        raise UsageError("--speed applies to simulated boards only",
                         hint="Use it with --simulate BOARD or 'rpiboot simulate BOARD'.")
    if args.json_mode and args.quiet:
        args.quiet = False  # --json output is already machine-only


def check_metadata_dir(args: argparse.Namespace) -> Path | None:
    """The -j folder, created if missing and known to be writable: checked before any board
    is waited for (an error naming it, never a failure after a board was served)."""
    if not args.metadata_dir:
        return None
    from rpiboot.fsutil import check_output_dir

    metadata_dir = Path(args.metadata_dir)
    if metadata_dir.exists() and not metadata_dir.is_dir():
        raise UsageError(f"-j {metadata_dir}: not a directory",
                         hint="Name a folder for the <serial>.json files, or give -j alone "
                         "to print the metadata.")
    return check_output_dir(metadata_dir, what="-j metadata folder", create=True)


def build_options(args: argparse.Namespace) -> BootOptions:
    """BootOptions from parsed flags (creates the -j directory if it is missing, and checks
    that it can be written)."""
    from rpiboot.options import BootOptions

    metadata_dir = check_metadata_dir(args)
    extra: dict[str, Any] = {}
    if args.timeout is not None:
        extra["wait_timeout"] = args.timeout
        extra["stage_timeout"] = max(args.timeout, 10.0)
    if args.poll_us is not None:
        extra["poll_interval"] = max(args.poll_us / 1e6, MIN_POLL_S)
    return BootOptions(
        boot_dir=args.boot_dir, firmware_dir=args.firmware_dir, overlay=args.overlay,
        signed=args.signed, loop=args.loop, port_path=args.port_path,
        port_number=args.port_number, serial=args.serial,
        metadata=args.metadata_dir is not None, metadata_dir=metadata_dir, **extra,
    )


def configure_logging(verbose: int, quiet: bool) -> None:
    """rpiboot's library logs go to stderr: warnings by default, -v info, -vv debug."""
    level = logging.DEBUG if verbose >= 2 else logging.INFO if verbose else logging.WARNING
    if quiet:
        level = logging.ERROR
    logger = logging.getLogger("rpiboot")
    logger.setLevel(level)
    if not any(getattr(h, "_rpiboot_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("rpiboot: %(message)s"))
        handler._rpiboot_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.propagate = False
    # psycopg's pool warns of every connection it drops while a records server is down;
    # rpiboot says once that records are queued
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)



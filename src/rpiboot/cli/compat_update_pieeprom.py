"""``update-pieeprom``: drop-in for usbboot's ``tools/update-pieeprom.sh``.

Run from a recovery directory.  Same options (``-c -i -o -k -p -H -f -r``, env
``SIGN_FIRMWARE=1``).  Differences: every input is checked before anything is signed or
written (the image and recovery.bin against the chip and their Raspberry Pi signatures, the
embedded key against the signing key, the OTP options of the directory's config.txt, the
board's metadata with ``--board-metadata``); the outputs are written together or not at all;
``-f``/``-r`` without a key are usage errors.  Extra options: ``--force``,
``--board-metadata FILE.json``, ``--expect-key-hash HEX``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rpiboot.cli.command import console_main
from rpiboot.cli.parsing import ArgumentParser

PROG = "update-pieeprom"
HELP = "build pieeprom.bin + pieeprom.sig in a recovery directory (optionally signed)"
DESCRIPTION = ("Build pieeprom.bin + pieeprom.sig for rpiboot recovery from "
               "pieeprom.original.bin and boot.conf (optionally signed for secure boot).")


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The reference script's options (``-c -i -o -k -p -H -f -r``)."""
    parser = ArgumentParser(prog=prog, description=DESCRIPTION)
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options to ``parser`` (also used by ``rpiboot recovery update-pieeprom``)."""
    parser.add_argument("-c", dest="config", default="boot.conf", help="bootloader config")
    parser.add_argument("-i", dest="source", default="pieeprom.original.bin",
                        help="source EEPROM image")
    parser.add_argument("-o", dest="output", default="pieeprom.bin", help="output image")
    parser.add_argument("-k", dest="private_key", help="private key (PEM) to sign the config")
    parser.add_argument("-p", dest="public_key", help="public key (PEM) to embed")
    parser.add_argument("-H", dest="hsm_wrapper", help="HSM wrapper instead of -k (needs -p)")
    parser.add_argument("-f", dest="sign_firmware", action="store_true",
                        help="countersign the 2712 firmware (bootcode.bin, bootsys)")
    parser.add_argument("-r", dest="sign_recovery", action="store_true",
                        help="with -f: also countersign recovery.bin into bootcode5.bin")
    add_preflight_arguments(parser)


def add_preflight_arguments(parser: argparse.ArgumentParser) -> None:
    """``--force``, ``--board-metadata``, ``--expect-key-hash`` (also ``recovery prepare``)."""
    parser.add_argument("--force", action="store_true",
                        help="use a bootloader whose Raspberry Pi signature does not verify "
                        "(or is not recognised); a warning block says what is overridden")
    parser.add_argument("--board-metadata", type=Path, metavar="FILE.json",
                        help="the board's metadata from `rpiboot -j DIR`: refuse a board "
                        "locked to another key (CUSTOMER_KEY_HASH) or of another chip")
    parser.add_argument("--expect-key-hash", metavar="HEX",
                        help="refuse unless the embedded key has this hash (rpiboot keys hash)")


def preflight_options(args: argparse.Namespace) -> dict[str, Any]:
    """The library options of the preflight flags."""
    from rpiboot.errors import InputError, UsageError
    from rpiboot.recovery.board import load_board_metadata, parse_key_hash

    expected = None
    if args.expect_key_hash is not None:
        try:
            expected = parse_key_hash(args.expect_key_hash, source="--expect-key-hash")
        except InputError as err:
            raise UsageError(err.message, hint=err.hint) from None
    board = None if args.board_metadata is None else load_board_metadata(args.board_metadata)
    return {"force": args.force, "board": board, "expect_key_hash": expected}


def print_overrides(overrides: list[str]) -> None:
    """The loud warning block for what --force overrode (stderr)."""
    banner = "!" * 78
    print(banner, file=sys.stderr)
    print("WARNING: --force OVERRIDES THESE CHECKS. A board may refuse the result, or run "
          "firmware\nthat is not Raspberry Pi's:", file=sys.stderr)
    for line in overrides:
        print(f"  - {line}", file=sys.stderr)
    print(banner, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Build the image (and its .sig) as the parsed options ask."""
    from rpiboot.recovery.update import UpdateOptions, update_pieeprom
    from rpiboot.signing import signer_from_options

    sign_firmware = args.sign_firmware or os.environ.get("SIGN_FIRMWARE") == "1"
    if sign_firmware:
        print(f"SIGN_RECOVERY: {int(args.sign_recovery)}")
    public_key = Path(args.public_key) if args.public_key else None
    signer = signer_from_options(key=Path(args.private_key) if args.private_key else None,
                                 hsm_wrapper=args.hsm_wrapper, public_key=public_key)
    opts = UpdateOptions(
        config=Path(args.config), source=Path(args.source), output=Path(args.output),
        signer=signer, public_key=public_key, sign_firmware=sign_firmware,
        sign_recovery=args.sign_recovery, **preflight_options(args))
    update_pieeprom(opts, log=lambda line: print(line, flush=True), on_overrides=print_overrides)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit status."""
    return console_main(__name__, PROG, argv)


if __name__ == "__main__":
    raise SystemExit(main())

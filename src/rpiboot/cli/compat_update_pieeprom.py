"""``update-pieeprom``: drop-in for usbboot's ``tools/update-pieeprom.sh``.

Run from a recovery directory.  Same options (``-c -i -o -k -p -H -f -r``, env
``SIGN_FIRMWARE=1``).  Differences: the secure-boot minimum-bootloader check runs before any
firmware is countersigned, a config signature that does not verify with the embedded key is
refused, and ``-f``/``-r`` without a key are usage errors.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

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
        sign_recovery=args.sign_recovery)
    update_pieeprom(opts, log=lambda line: print(line, flush=True))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit status."""
    return console_main(__name__, PROG, argv)


if __name__ == "__main__":
    raise SystemExit(main())

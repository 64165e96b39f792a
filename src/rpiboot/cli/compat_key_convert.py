"""``rpi-bootloader-key-convert``: drop-in (PEM <-> 264-byte pubkey.bin).

Like the reference, bin->pem output has no final newline (harmless; kept byte-identical),
and INPUT may be followed by more file names, which are ignored (the reference declares
``input`` with ``nargs='+'`` and converts the first); we say so on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rpiboot.cli.command import console_main
from rpiboot.cli.output import check_output, write_output, write_stdout
from rpiboot.cli.parsing import ArgumentParser
from rpiboot.errors import InputError

PROG = "rpi-bootloader-key-convert"
HELP = "convert an RSA-2048 key between PEM and the 264-byte pubkey.bin format"


def build_parser(prog: str) -> argparse.ArgumentParser:
    """INPUT, ``--inform pem|bin`` and ``-o OUTPUT``, like the reference."""
    parser = ArgumentParser(prog=prog, description="Convert an RSA-2048 key between "
                            "PEM and the bootloader's 264-byte pubkey.bin format.")
    parser.add_argument("input", nargs="+", help="PEM key (public or private), or pubkey.bin "
                        "with --inform bin (further names are ignored, as by the reference)")
    parser.add_argument("-i", "--inform", default="pem", help="input format: pem or bin")
    parser.add_argument("-o", "--output", help="output file (default: stdout)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Convert the key as the parsed options ask."""
    from rpiboot.fsutil import read_file
    from rpiboot.signing import keys

    source, *extra = args.input
    if extra:
        print(f"{PROG}: note: only {source} is converted; {' '.join(extra)} ignored (as the "
              "reference does)", file=sys.stderr)
    if args.inform not in ("pem", "bin"):
        raise InputError(f"Unknown format {args.inform}", hint="Use --inform pem or bin.")
    check_output(args.output)
    if args.inform == "pem":
        data = keys.public_key_to_bin(keys.load_public_key(Path(source)))
    else:
        raw = read_file(source, what="pubkey.bin")
        data = keys.public_key_pem(keys.public_key_from_bin(raw)).rstrip(b"\n")
    if args.output is None:
        write_stdout(data)
    else:
        write_output(args.output, data)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit status."""
    return console_main(__name__, PROG, argv)


if __name__ == "__main__":
    raise SystemExit(main())

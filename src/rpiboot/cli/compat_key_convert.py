"""``rpi-bootloader-key-convert``: drop-in (PEM <-> 264-byte pubkey.bin).

Like the reference, bin->pem output has no final newline (harmless; kept byte-identical).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from rpiboot.cli.command import console_main
from rpiboot.cli.output import write_output, write_stdout
from rpiboot.cli.parsing import ArgumentParser
from rpiboot.errors import InputError

PROG = "rpi-bootloader-key-convert"
HELP = "convert an RSA-2048 key between PEM and the 264-byte pubkey.bin format"


def build_parser(prog: str) -> argparse.ArgumentParser:
    """INPUT, ``--inform pem|bin`` and ``-o OUTPUT``, like the reference."""
    parser = ArgumentParser(prog=prog, description="Convert an RSA-2048 key between "
                            "PEM and the bootloader's 264-byte pubkey.bin format.")
    parser.add_argument("input", help="PEM key (public or private), or pubkey.bin with "
                        "--inform bin")
    parser.add_argument("-i", "--inform", default="pem", help="input format: pem or bin")
    parser.add_argument("-o", "--output", help="output file (default: stdout)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Convert the key as the parsed options ask."""
    from rpiboot.signing import keys

    if args.inform == "pem":
        data = keys.public_key_to_bin(keys.load_public_key(Path(args.input)))
    elif args.inform == "bin":
        try:
            raw = Path(args.input).read_bytes()
        except OSError as err:
            raise InputError(f"{args.input}: cannot read: {err.strerror}") from None
        data = keys.public_key_pem(keys.public_key_from_bin(raw)).rstrip(b"\n")
    else:
        raise InputError(f"Unknown format {args.inform}", hint="Use --inform pem or bin.")
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

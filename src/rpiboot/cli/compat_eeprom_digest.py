"""``rpi-eeprom-digest``: drop-in for the rpi-eeprom tool (write or verify a .sig file).

Same flags as the reference (plus master's ``-c SOC``).  Differences (README lists them):
usage errors exit 2 instead of 0, a failing HSM wrapper is an error (no output written),
``-v`` also checks the sha256 line and accepts a private PEM, ``pkcs11:`` URIs are refused
(use an HSM wrapper).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rpiboot.cli.output import write_output
from rpiboot.cli.parsing import ArgumentParser
from rpiboot.cli.toolchain import run_tool
from rpiboot.errors import InputError, SigningError, UsageError

PROG = "rpi-eeprom-digest"
USAGE = f"""usage: {PROG} [-k RSA_KEY | -H HSM_WRAPPER] [-c SOC] -i IMAGE -o OUTPUT
       {PROG} -k PUBLIC_KEY -i IMAGE -v SIGNATURE

Write IMAGE's .sig file to OUTPUT: its SHA-256, a "ts:" line ($SOURCE_DATE_EPOCH when set)
and, with -k PRIVATE_KEY.pem or -H HSM_WRAPPER, an RSA-2048 PKCS#1 v1.5 SHA-256 signature.
With -v, check SIGNATURE (a .sig file) against IMAGE and PUBLIC_KEY (public or private PEM).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=PROG, add_help=False, usage_hint=USAGE.splitlines()[0])
    for flag in ("-k", "-H", "-i", "-o", "-v", "-c", "-p"):
        parser.add_argument(flag)
    parser.add_argument("-h", "--help", action="store_true")
    return parser


def _verify(args: argparse.Namespace, image: Path) -> int:
    from rpiboot.signing.sigfile import verify_sig

    if args.k is None:
        raise InputError("Option -v also requires passing public key via -k")
    if not Path(args.v).is_file():
        raise InputError(f"Signature file {args.v} not found")
    try:
        verify_sig(image, Path(args.v), key=Path(args.k))
    except SigningError:
        print("Verification failure")
        raise
    print("Verified OK")
    return 0


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.help:
        sys.stdout.write(USAGE)
        return 0
    if args.i is None:
        raise UsageError("missing -i IMAGE", hint=USAGE.splitlines()[0])
    image = Path(args.i)
    if not image.is_file():
        raise InputError(f'Source image "{image}" not found')
    if args.k is not None and args.k.startswith("pkcs11:"):
        raise InputError("pkcs11: key URIs are not supported",
                         hint="Use an HSM wrapper (-H WRAPPER) for keys held in an HSM.")
    if args.k is not None and not Path(args.k).is_file():
        raise InputError(f'RSA key "{args.k}" not found')
    if args.v is not None:
        return _verify(args, image)
    if args.o is None:
        raise UsageError("missing -o OUTPUT", hint=USAGE.splitlines()[0])
    from rpiboot.signing import signer_from_options
    from rpiboot.signing.sigfile import make_sig

    signer = signer_from_options(key=Path(args.k) if args.k else None, hsm_wrapper=args.H,
                                 public_key=Path(args.p) if args.p else None)
    data = make_sig(image, signer=signer, target_soc=args.c)
    write_output(args.o, data)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(PROG, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())

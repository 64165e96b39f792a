"""``rpi-eeprom-digest``: drop-in for the rpi-eeprom tool (write or verify a .sig file).

Same flags as the reference (plus master's ``-c SOC``).  Differences (README lists them):
usage errors exit 2 instead of 0, a failing HSM wrapper is an error (no output written),
``-v`` also checks the sha256 line and accepts a private PEM, ``pkcs11:`` URIs are refused
(use an HSM wrapper).  As in the reference (a shell script testing ``[ -n "$KEY" ]``), an
empty option value counts as not given; ``-v`` ignores ``-o``, ``-H`` and ``-c``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rpiboot.cli.command import console_main
from rpiboot.cli.output import check_output, write_output
from rpiboot.cli.parsing import ArgumentParser
from rpiboot.errors import InputError, SigningError, UsageError

PROG = "rpi-eeprom-digest"
HELP = "write or verify the .sig file of an image (sha256, timestamp, RSA signature)"
USAGE = """usage: {prog} [-k RSA_KEY | -H HSM_WRAPPER] [-c SOC] -i IMAGE -o OUTPUT
       {prog} -k PUBLIC_KEY -i IMAGE -v SIGNATURE

Write IMAGE's .sig file to OUTPUT: its SHA-256, a "ts:" line ($SOURCE_DATE_EPOCH when set)
and, with -k PRIVATE_KEY.pem or -H HSM_WRAPPER, an RSA-2048 PKCS#1 v1.5 SHA-256 signature.
With -v, check SIGNATURE (a .sig file) against IMAGE and PUBLIC_KEY (public or private PEM).
"""


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The reference's one-letter options; ``-h`` is a plain flag (run prints USAGE)."""
    usage = USAGE.format(prog=prog)
    parser = ArgumentParser(prog=prog, add_help=False, usage_hint=usage.splitlines()[0])
    for flag in ("-k", "-H", "-i", "-o", "-v", "-c", "-p"):
        parser.add_argument(flag)
    parser.add_argument("-h", "--help", action="store_true")
    parser.set_defaults(usage=usage)
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


def run(args: argparse.Namespace) -> int:
    """Write IMAGE's .sig, or verify one (``-v``); ``-h`` prints the usage text."""
    if args.help:
        sys.stdout.write(args.usage)
        return 0
    for name in ("k", "H", "i", "o", "c", "p"):  # not -v: it is a mode (VERIFY=1)
        if getattr(args, name) == "":  # the reference's `[ -n "$VAR" ]`: empty is unset
            setattr(args, name, None)
    if args.i is None:
        raise UsageError("missing -i IMAGE", hint=args.usage.splitlines()[0])
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
        raise UsageError("missing -o OUTPUT", hint=args.usage.splitlines()[0])
    check_output(args.o, ".sig file")
    from rpiboot.signing import signer_from_options
    from rpiboot.signing.sigfile import make_sig

    signer = signer_from_options(key=Path(args.k) if args.k else None, hsm_wrapper=args.H,
                                 public_key=Path(args.p) if args.p else None)
    data = make_sig(image, signer=signer, target_soc=args.c)
    write_output(args.o, data)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit status."""
    return console_main(__name__, PROG, argv)


if __name__ == "__main__":
    raise SystemExit(main())

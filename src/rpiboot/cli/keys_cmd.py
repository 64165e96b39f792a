"""``rpiboot keys``: generate RSA-2048 keys, convert PEM <-> pubkey.bin, print the OTP hash."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rpiboot.cli.output import check_output, write_output, write_stdout
from rpiboot.cli.parsing import ArgumentParser
from rpiboot.errors import InputError

HELP = "generate and convert keys, OTP key hash"


def build_parser(prog: str) -> argparse.ArgumentParser:
    """``generate``, ``to-bin``, ``to-pem`` and ``hash``."""
    parser = ArgumentParser(prog=prog, description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    gen = sub.add_parser("generate", help="new RSA-2048 private key (PEM, mode 0600)")
    gen.add_argument("out", type=Path)
    gen.add_argument("--bits", type=int, default=2048, help="must be 2048 (boot ROM limit)")
    gen.add_argument("--public-out", type=Path, help="also write the public PEM here")
    gen.add_argument("--force", action="store_true", help="overwrite an existing file")
    tobin = sub.add_parser("to-bin", help="PEM (public or private) -> 264-byte pubkey.bin")
    tobin.add_argument("key", type=Path)
    tobin.add_argument("-o", "--out", type=Path, help="default: stdout")
    topem = sub.add_parser("to-pem", help="pubkey.bin -> public PEM")
    topem.add_argument("pubkey_bin", type=Path)
    topem.add_argument("-o", "--out", type=Path, help="default: stdout")
    hash_ = sub.add_parser("hash", help="OTP customer key hash (SHA-256 of pubkey.bin)")
    hash_.add_argument("key", type=Path, help="PEM (public or private) or pubkey.bin")
    hash_.add_argument("--json", action="store_true")
    return parser


def run(args: argparse.Namespace) -> int:
    """Do what ``args.action`` asks."""
    from rpiboot.signing import keys

    if args.action == "generate":
        _generate(args)
    elif args.action == "to-bin":
        check_output(args.out)
        data = keys.public_key_to_bin(keys.load_public_key(args.key))
        write_stdout(data) if args.out is None else write_output(args.out, data)
    elif args.action == "to-pem":
        from rpiboot.fsutil import read_file

        check_output(args.out)
        raw = read_file(args.pubkey_bin, what="pubkey.bin")
        data = keys.public_key_pem(keys.public_key_from_bin(raw))
        write_stdout(data) if args.out is None else write_output(args.out, data)
    else:
        digest = keys.key_hash(keys.public_key_to_bin(keys.load_public_key(args.key)))
        words = [f"{w:#010x}" for w in keys.key_hash_words(digest)]
        if args.json:
            json.dump({"version": 1, "key": str(args.key), "key_hash": digest.hex(),
                       "words_le": words}, sys.stdout, indent=2)
            print()
        else:
            print(digest.hex())
    return 0


def _generate(args: argparse.Namespace) -> None:
    """A new key (mode 0600) and, with --public-out, its public key: both or neither."""
    from rpiboot.fsutil import atomic_files, atomic_write
    from rpiboot.signing import keys

    if not args.force:
        keys.refuse_overwrite(args.out)
    check_output(args.out, "key file")
    if args.public_out is not None:
        if args.public_out.absolute() == args.out.absolute():
            raise InputError(f"--public-out {args.public_out} is the private key's file",
                             hint="Name another file for the public key.")
        check_output(args.public_out, "public key file")
    private_pem, public_pem = keys.new_key_pems(args.bits)
    if args.public_out is None:
        atomic_write(args.out, private_pem, mode=0o600)
    else:
        with atomic_files(args.out, args.public_out, modes=[0o600, None]) as (private, public):
            private.write(private_pem)
            public.write(public_pem)
    print(f"{args.out}: RSA-2048 private key written (mode 0600). Keep it secret; "
          "a board programmed with its hash accepts only what it signs.")
    if args.public_out is not None:
        print(f"{args.public_out}: public key written")

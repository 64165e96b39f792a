"""``rpiboot sign``: write/verify .sig files, countersign 2712 bootcode, offline signing."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rpiboot.cli.output import check_output, write_output
from rpiboot.cli.parsing import ArgumentParser
from rpiboot.errors import UsageError

if TYPE_CHECKING:
    from rpiboot.signing.signer import Signer

HELP = "write/verify .sig files, countersign bootcode"


def _add_key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-k", "--key", type=Path, help="RSA-2048 private key (PEM)")
    parser.add_argument("-H", "--hsm-wrapper", help="HSM wrapper: WRAPPER -a rsa2048-sha256 FILE")
    parser.add_argument("-p", "--public-key", type=Path,
                        help="public key: checks HSM/offline signatures (and is embedded)")
    parser.add_argument("--signature", type=Path, help="offline flow: a signature made "
                        "elsewhere (256 raw bytes or hex), verified before use")


def build_parser(prog: str) -> argparse.ArgumentParser:
    """``file``, ``verify``, ``request``, ``bootcode`` and ``bootcode-info``."""
    parser = ArgumentParser(prog=prog, description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    file_ = sub.add_parser("file", help="write FILE's .sig (sha256, ts, rsa2048 when signing)")
    file_.add_argument("file", type=Path)
    file_.add_argument("-o", "--out", type=Path, help="default: FILE with a .sig extension")
    file_.add_argument("--timestamp", type=int, help="ts: value (default $SOURCE_DATE_EPOCH "
                       "or now)")
    _add_key_options(file_)
    verify = sub.add_parser("verify", help="check a .sig against FILE (and a key)")
    verify.add_argument("file", type=Path)
    verify.add_argument("sig", type=Path, nargs="?", help="default: FILE with .sig extension")
    verify.add_argument("-k", "--key", type=Path, help="public or private PEM, or pubkey.bin")
    request = sub.add_parser("request", help="offline flow: what an external signer must sign")
    request.add_argument("file", type=Path)
    request.add_argument("--bootcode", action="store_true",
                         help="for a 2712 countersign: write the payload bytes to -o")
    request.add_argument("-n", "--keynum", type=int, default=16)
    request.add_argument("-v", "--version", type=int, default=0)
    request.add_argument("-o", "--out", type=Path, help="write the bytes to sign here")
    bootcode = sub.add_parser("bootcode", help="append a BCM2712 signature block (countersign)")
    bootcode.add_argument("input", type=Path)
    bootcode.add_argument("-o", "--out", type=Path, required=True)
    bootcode.add_argument("-n", "--keynum", type=int, default=16, help="16 = customer key")
    bootcode.add_argument("-v", "--version", type=int, default=0, help="anti-rollback 0-32")
    _add_key_options(bootcode)
    info = sub.add_parser("bootcode-info", help="list the 2712 signature blocks of a file")
    info.add_argument("file", type=Path)
    info.add_argument("--json", action="store_true")
    return parser


def _read(path: Path) -> bytes:
    from rpiboot.fsutil import read_file

    return read_file(path, what="input file")


def _signer(args: argparse.Namespace) -> Signer | None:
    """The one signer of ``file``/``bootcode`` (None when no signing flag is given)."""
    from rpiboot.signing import signer_from_options

    return signer_from_options(key=args.key, hsm_wrapper=args.hsm_wrapper,
                               public_key=args.public_key, signature=args.signature)


def _sign_file(args: argparse.Namespace) -> None:
    from rpiboot.signing.sigfile import make_sig

    out = args.out or args.file.with_suffix(".sig")
    check_output(out, ".sig file")
    data = make_sig(args.file, signer=_signer(args), timestamp=args.timestamp)
    write_output(out, data)
    print(f"{out}: written ({'signed' if b'rsa2048:' in data else 'unsigned'})")


def _request(args: argparse.Namespace) -> None:
    from rpiboot.signing.bootcode import check_keynum_version, payload_2712
    from rpiboot.signing.sigfile import signing_request

    if args.bootcode:
        check_keynum_version(args.keynum, args.version)
        if args.out is None:
            raise UsageError("--bootcode needs -o PAYLOAD (the bytes to sign)")
        check_output(args.out, "payload file")
        write_output(args.out, payload_2712(_read(args.file), args.keynum, args.version))
        print(f"{args.out}: sign these bytes (RSA-2048 PKCS#1 v1.5, SHA-256), then run "
              f"`rpiboot sign bootcode {args.file} -n {args.keynum} -v {args.version} "
              "--signature SIG -p PUBLIC.pem -o OUT`")
        return
    check_output(args.out, "digest file")
    digest = signing_request(args.file)
    if args.out is not None:
        write_output(args.out, digest)
    print(f"sha256: {digest.hex()}")
    print(f"Sign {args.file} (or this SHA-256 digest) with RSA-2048 PKCS#1 v1.5, e.g. "
          f"`openssl dgst -sha256 -sign KEY -out file.sig.bin {args.file}`, then run "
          f"`rpiboot sign file {args.file} --signature file.sig.bin -p PUBLIC.pem`")


def _bootcode(args: argparse.Namespace) -> None:
    from rpiboot.signing.bootcode import sign_2712

    signer = _signer(args)
    check_output(args.out, "signed output")
    signed = sign_2712(_read(args.input), keynum=args.keynum, version=args.version,
                       signer=signer)
    write_output(args.out, signed)
    print(f"{args.out}: {len(signed)} bytes (keynum {args.keynum}, version {args.version})")


def _bootcode_info(args: argparse.Namespace) -> None:
    from rpiboot.signing.bootcode import parse_2712_blocks
    from rpiboot.signing.keys import key_hash

    blocks = parse_2712_blocks(_read(args.file))
    rows = [{"offset": b.offset, "sig_type": b.sig_type, "length": b.length,
             "keynum": b.keynum, "version": b.version, "verifies": b.verifies,
             "key_hash": key_hash(b.pubkey_bin).hex()} for b in blocks]
    if args.json:
        json.dump({"version": 1, "file": str(args.file), "blocks": rows}, sys.stdout, indent=2)
        print()
        return
    if not rows:
        print(f"{args.file}: no BCM2712 signature block")
    for row in rows:
        print(f"{row['offset']:#08x} {row['sig_type']:<8} keynum {row['keynum']:<2} version "
              f"{row['version']:<2} {'verifies' if row['verifies'] else 'DOES NOT VERIFY'}  "
              f"key {row['key_hash']}")


def _verify(args: argparse.Namespace) -> None:
    from rpiboot.signing.sigfile import verify_sig

    sig = verify_sig(args.file, args.sig or args.file.with_suffix(".sig"), key=args.key)
    print(f"{args.file}: OK (sha256{' and rsa2048 signature' if args.key else ''} match; "
          f"ts {sig.ts})")


def run(args: argparse.Namespace) -> int:
    """Do what ``args.action`` asks."""
    if args.action == "file":
        _sign_file(args)
    elif args.action == "verify":
        _verify(args)
    elif args.action == "request":
        _request(args)
    elif args.action == "bootcode":
        _bootcode(args)
    else:
        _bootcode_info(args)
    return 0

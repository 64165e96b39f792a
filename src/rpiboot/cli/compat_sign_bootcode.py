"""``rpi-sign-bootcode``: drop-in for the rpi-eeprom tool (append a second-stage signature).

Same flags as the reference (plus rpi-eeprom master's ``-e``, for 2712 and 2711 files).
Differences: an unknown chip is an error (the reference silently does nothing), ``-H`` is
refused for the 2711 SHA-1 format, the HSM signature is verified against ``-p``, and no output
is written on failure.  As in the reference, ``-p`` is used only with ``-H``, ``-m`` only for
2711, ``-v`` only for 2712, and ``-e`` ignores the signing flags.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import struct
import sys
from collections.abc import Sequence
from pathlib import Path

from rpiboot.chips import BootcodeSignature, Chip, chip_for_prefix
from rpiboot.cli.command import console_main
from rpiboot.cli.output import check_output, write_output, write_stdout
from rpiboot.cli.parsing import ArgumentParser
from rpiboot.errors import InputError, UsageError

PROG = "rpi-sign-bootcode"
HELP = "append a BCM2712 (or BCM2711) signature to a second-stage bootloader"


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The reference tool's options (plus rpi-eeprom master's ``-e``)."""
    parser = ArgumentParser(prog=prog, description="Append a BCM2712 (or BCM2711) "
                            "signature block to a second-stage bootloader.")
    parser.add_argument("-c", "--chip", type=int, required=True, help="2712 or 2711")
    parser.add_argument("-i", "--input", help="input file (default: base64 text on stdin)")
    parser.add_argument("-o", "--output", help="output file (default: base64 on stdout)")
    parser.add_argument("-n", "--private-keynum", type=int, default=0,
                        help="ROM key index: 16 = customer key, 0-4 = Raspberry Pi keys")
    parser.add_argument("-v", "--private-version", type=int, default=0,
                        help="anti-rollback version (0-32)")
    parser.add_argument("-k", "--private-key", help="RSA-2048 private key (PEM)")
    parser.add_argument("-H", "--hsm-wrapper", help="HSM wrapper (WRAPPER -a rsa2048-sha256 FILE)")
    parser.add_argument("-p", "--public-key", help="public key to embed (HSM mode)")
    parser.add_argument("-m", "--hmac", help="2711 only: HMAC-SHA1 key file (40 hex digits)")
    parser.add_argument("-e", "--extract", help="print the signature blocks of a signed file")
    parser.add_argument("-d", "--debug", action="store_true", help="print a layout to stderr")
    return parser


def _read_input(path: str | None) -> bytes:
    if path is None:
        try:
            return base64.b64decode(sys.stdin.buffer.read(), validate=False)
        except binascii.Error as err:
            raise InputError(f"stdin is not base64 text ({err})") from None
    from rpiboot.fsutil import read_file

    return read_file(path, what="input file")


def _extract_2711_text(path: str) -> str:
    """rpi-eeprom master's ``-e`` for 2711: the trailer file | length | keynum |
    rsa_sig (256) | hmac-sha1 (20), printed as the reference prints it."""
    data = _read_input(path)
    if len(data) < 4 + 4 + 256 + 20:
        raise InputError(f"{path}: too short to hold a BCM2711 signature trailer")
    hmac_at = len(data) - 20
    rsa_at = hmac_at - 256
    keynum = struct.unpack_from("<i", data, rsa_at - 4)[0]
    length = struct.unpack_from("<i", data, rsa_at - 8)[0]
    return (f"length: {length}\nkeynum: {keynum}\nrsa_sig: {data[rsa_at:hmac_at].hex()}\n"
            f"hmac_sha1: {data[hmac_at:].hex()}\n")


def _extract_text(path: str) -> str:
    from rpiboot.signing.bootcode import parse_2712_blocks
    from rpiboot.signing.keys import public_key_from_bin, public_key_pem

    blocks = parse_2712_blocks(_read_input(path))
    if not blocks:
        raise InputError(f"{path}: no BCM2712 signature block found at the end of the file")
    parts = []
    for block in blocks:
        pem = public_key_pem(public_key_from_bin(block.pubkey_bin)).decode()
        parts.append(f"sig_type: {block.sig_type}\nlength: {block.length}\n"
                     f"keynum: {block.keynum}\nversion: {block.version}\n"
                     f"rsa_sig: {block.signature.hex()}\npubkey_n: {block.pubkey_bin[:256].hex()}\n"
                     f"pubkey_e: {block.pubkey_bin[256:].hex()}\n{pem}")
        if block.sig_type == "customer":
            parts.append("\n")  # the reference separates after customer blocks only
    return "".join(parts)


def _debug(signed: bytes, source: str) -> None:
    from rpiboot.signing.bootcode import parse_2712_blocks
    from rpiboot.signing.keys import key_hash, key_hash_words

    block = parse_2712_blocks(signed)[0]
    print(f"input {source}: {block.length} bytes; keynum {block.keynum}; version "
          f"{block.version}; signature verifies: {block.verifies}", file=sys.stderr)
    words = ", ".join(f"{w:#010x}" for w in key_hash_words(key_hash(block.pubkey_bin)))
    print(f"public key SHA256(n,e) = {key_hash(block.pubkey_bin).hex()} ({words})",
          file=sys.stderr)
    print(f"signed size {len(signed)}", file=sys.stderr)


def _sign(args: argparse.Namespace, chip: Chip, data: bytes) -> bytes:
    from rpiboot.signing import bootcode, signer_from_options

    signer = signer_from_options(
        key=Path(args.private_key) if args.private_key else None,
        hsm_wrapper=args.hsm_wrapper,
        public_key=Path(args.public_key) if args.public_key else None)
    if signer is None and chip.bootcode_signature is BootcodeSignature.RSA_SHA256_BLOCK:
        raise UsageError("pass a private key (-k) or an HSM wrapper (-H) with -p")
    return bootcode.sign_for_chip(chip, data, keynum=args.private_keynum,
                                  version=args.private_version, signer=signer,
                                  hmac_key_file=Path(args.hmac) if args.hmac else None)


def _chip(number: int) -> Chip:
    """The chip of ``-c NUMBER``, when its second stage is signed."""
    chip = chip_for_prefix(str(number))
    if chip is None or chip.bootcode_signature is BootcodeSignature.NONE:
        raise UsageError(f"unsupported chip {number}: use -c 2712 (or 2711)")
    return chip


def run(args: argparse.Namespace) -> int:
    """Sign the input (or list the blocks of ``-e FILE``) as the parsed options ask."""
    chip = _chip(args.chip)
    if args.extract is not None:
        rsa_block = chip.bootcode_signature is BootcodeSignature.RSA_SHA256_BLOCK
        sys.stdout.write(_extract_text(args.extract) if rsa_block
                         else _extract_2711_text(args.extract))
        return 0
    check_output(args.output, "signed output")
    data = _read_input(args.input)
    signed = _sign(args, chip, data)
    if args.debug and chip.bootcode_signature is BootcodeSignature.RSA_SHA256_BLOCK:
        _debug(signed, args.input or "stdin")
    if args.output is None:
        write_stdout(base64.b64encode(signed))
    else:
        write_output(args.output, signed)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit status."""
    return console_main(__name__, PROG, argv)


if __name__ == "__main__":
    raise SystemExit(main())

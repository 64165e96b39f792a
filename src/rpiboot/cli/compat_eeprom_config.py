"""``rpi-eeprom-config``: drop-in for the rpi-eeprom tool (read, extract, modify an image).

Same flags, modes and exit statuses as the reference, except where the reference is wrong (see
the README "secure boot" section): outputs are written atomically (never left empty on
failure), data that does not fit is rejected, a missing ``bootconf.txt`` is an error.  As in
the reference, only ``--config``, ``--timestamp``, ``--bootcode`` and ``--cacertder`` make it
write an image; ``--digest``/``--pubkey`` are used only with ``--config`` and ``--bootsys``
only with one of those four; flags the reference ignores are ignored with a note on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rpiboot.cli.command import console_main
from rpiboot.cli.output import check_output, write_output, write_stdout
from rpiboot.cli.parsing import ArgumentParser
from rpiboot.errors import InputError, UsageError

PROG = "rpi-eeprom-config"
# The reference writes an image only when one of these is given (rpi-eeprom main(): its
# write condition); --bootsys, --digest and --pubkey alone leave it in read mode.
WRITE_OPTIONS = ("config", "timestamp", "bootcode", "cacertder")
HELP = "read, extract or modify the bootloader config (and files) of an EEPROM image"


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The reference tool's options."""
    parser = ArgumentParser(
        prog=prog, description="Read, extract or modify the bootloader config (and files) of a "
        "Raspberry Pi EEPROM image. Without a modification option the config is printed.")
    parser.add_argument("eeprom", nargs="?", help="EEPROM image (pieeprom*.bin)")
    parser.add_argument("-c", "--config", help="new bootconf.txt to store in the image")
    parser.add_argument("-o", "--out", help="output file (default: stdout)")
    parser.add_argument("-d", "--digest", help="bootconf.sig to store (signed config)")
    parser.add_argument("-p", "--pubkey", help="RSA-2048 PEM whose public key is stored as "
                        "pubkey.bin")
    parser.add_argument("-x", "--extract", action="store_true",
                        help="write bootcode.bin and every file of the image into the current "
                        "directory")
    parser.add_argument("-t", "--timestamp", type=int, help="set the update timestamp")
    parser.add_argument("--bootcode", help="replace bootcode.bin (countersigned 2712 bootcode)")
    parser.add_argument("--bootsys", help="replace bootsys (A/B images)")
    parser.add_argument("--cacertder", help="store a CA certificate (DER) as cacert.der")
    parser.add_argument("-e", "--edit", action="store_true", help="(on a Pi only; unsupported)")
    parser.add_argument("-a", "--apply", help="(on a Pi only; unsupported)")
    parser.add_argument("--debug", action="store_true", help="print the section table to stderr")
    return parser


def _read_input(path: str, what: str) -> bytes:
    from rpiboot.fsutil import read_file

    if not Path(path).exists():
        raise InputError(f"{what} file '{path}' not found")
    return read_file(path, what=f"{what} file")


def _modify(image, args: argparse.Namespace) -> None:  # type: ignore[no-untyped-def]
    from rpiboot.eeprom.image import BOOTCODE_BIN, BOOTSYS
    from rpiboot.signing.keys import load_public_key, public_key_to_bin

    if args.config is not None and not Path(args.config).exists():
        raise InputError(f"config file '{args.config}' not found")
    if args.timestamp is not None:
        image.set_update_timestamp(args.timestamp)
    steps = [(args.bootcode, BOOTCODE_BIN, "bootcode"), (args.bootsys, BOOTSYS, "bootsys"),
             (args.cacertder, "cacert.der", "cacert"), (args.config, "bootconf.txt", "config")]
    if args.config is not None:  # the config, its signature and the key go together
        steps.append((args.digest, "bootconf.sig", "digest"))
    for path, name, what in steps:
        if path is not None:
            image.replace_file(name, _read_input(path, what))
    if args.pubkey is not None and args.config is not None:
        image.replace_file("pubkey.bin", public_key_to_bin(load_public_key(Path(args.pubkey))))


def _ignored(args: argparse.Namespace, names: tuple[str, ...], why: str) -> None:
    """Say on stderr which given flags the reference ignores here (and so do we)."""
    given = [f"--{name}" for name in names if getattr(args, name) is not None]
    if given:
        print(f"{PROG}: note: {'/'.join(given)} ignored {why} (as the reference "
              "rpi-eeprom-config does)", file=sys.stderr)


def _emit(data: bytes, out: str | None) -> None:
    if out is None:
        write_stdout(data)
    else:
        write_output(out, data)


def _debug_table(image) -> None:  # type: ignore[no-untyped-def]
    for section in image.sections:
        name = f" {section.name}" if section.name else ""
        print(f"{section.offset:#08x} {section.magic:08x} {section.kind:<9} "
              f"len={section.length}{name}", file=sys.stderr)


def _extract(image, out: str | None) -> None:  # type: ignore[no-untyped-def]
    if out is not None:
        print(f"{PROG}: note: --out is ignored with --extract (files go to the current "
              "directory)", file=sys.stderr)
    files = image.extractable_files()
    for name in files:  # every name checked before the first file is written
        if "/" in name or name in ("", ".", ".."):
            raise InputError(f"{image.source}: refusing to extract a file named {name!r}")
    for name, data in files.items():
        write_output(name, data)


def run(args: argparse.Namespace) -> int:
    """Print, extract or modify the image as the parsed options ask."""
    if args.edit or args.apply is not None:
        raise InputError("--edit/--apply must run on a Raspberry Pi 4 or Raspberry Pi 5 "
                         "(they update the live EEPROM); not supported by this tool",
                         hint="Build an image with --config/--out and serve it with "
                         "`rpiboot recovery prepare` instead.")
    if args.eeprom is None:
        if args.config is not None:
            raise UsageError("--config needs an EEPROM IMAGE argument")
        raise InputError("no EEPROM image given (reading the live bootloader config is only "
                         "possible on a Raspberry Pi)", hint=f"Usage: {PROG} IMAGE [options]")
    _check_outputs(args)
    from rpiboot.eeprom.image import EepromImage

    image = EepromImage.load(Path(args.eeprom))
    if args.debug:
        _debug_table(image)
    if args.extract:
        _extract(image, args.out)
        return 0
    if any(getattr(args, name) is not None for name in WRITE_OPTIONS):
        if args.config is None:
            _ignored(args, ("digest", "pubkey"), "without --config")
        _modify(image, args)
        _emit(image.to_bytes(), args.out)
        return 0
    _ignored(args, ("bootsys", "digest", "pubkey"), "without --config, --timestamp, "
             "--bootcode or --cacertder: the config is read")
    config = image.read_file("bootconf.txt")
    if config is None:
        raise InputError(f"{args.eeprom}: the image has no bootconf.txt section",
                         hint="The image is damaged or not a bootloader image.")
    _emit(config, args.out)
    return 0


def _check_outputs(args: argparse.Namespace) -> None:
    """Before reading anything: can the outputs be written?"""
    if args.extract:  # files go to the current folder (--out is ignored)
        from rpiboot.fsutil import check_output_dir

        check_output_dir(".", what="current folder", create=False)
    else:
        check_output(args.out)


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit status."""
    return console_main(__name__, PROG, argv)


if __name__ == "__main__":
    raise SystemExit(main())

"""``rpiboot eeprom``: inspect and edit bootloader EEPROM images."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from rpiboot.cli.output import check_output, write_output, write_stdout
from rpiboot.cli.parsing import ArgumentParser
from rpiboot.errors import InputError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from rpiboot.eeprom.image import EepromImage
    from rpiboot.eeprom.info import ImageInfo

HELP = "inspect and edit bootloader EEPROM images"


def build_parser(prog: str) -> argparse.ArgumentParser:
    """``info``, ``config``, ``extract`` and ``edit``, each with its IMAGE."""
    parser = ArgumentParser(prog=prog, description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    info = sub.add_parser("info", help="show layout, sections, config, key and signature state")
    info.add_argument("image", type=Path)
    info.add_argument("--json", action="store_true", help="machine-readable output")
    config = sub.add_parser("config", help="print (or save) the bootloader config")
    config.add_argument("image", type=Path)
    config.add_argument("-o", "--out", type=Path)
    extract = sub.add_parser("extract", help="write bootcode.bin and every file to a directory")
    extract.add_argument("image", type=Path)
    extract.add_argument("-d", "--dir", type=Path, default=Path("."))
    edit = sub.add_parser("edit", help="replace files and write a new image")
    edit.add_argument("image", type=Path)
    edit.add_argument("-o", "--out", type=Path, required=True)
    edit.add_argument("--config", type=Path, help="new bootconf.txt")
    edit.add_argument("--sign-key", type=Path, help="sign --config with this private key and "
                      "embed bootconf.sig + pubkey.bin")
    edit.add_argument("--digest", type=Path, help="bootconf.sig to store")
    edit.add_argument("--pubkey", type=Path, help="public/private PEM to store as pubkey.bin")
    edit.add_argument("--cacert", type=Path, help="cacert.der to store")
    edit.add_argument("--bootcode", type=Path, help="new bootcode.bin")
    edit.add_argument("--bootsys", type=Path, help="new bootsys (A/B images)")
    edit.add_argument("--timestamp", type=int, help="update timestamp (Unix seconds)")
    return parser


def _when(seconds: int | None) -> str:
    if seconds is None:
        return "not found"
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{seconds} ({stamp})"


def _print_info(info: ImageInfo) -> None:
    print(f"image:            {info.path}")
    print(f"size:             {info.size} bytes — {info.chip}")
    print(f"layout:           {info.layout}")
    print(f"sha256:           {info.sha256}")
    print(f"build timestamp:  {_when(info.build_timestamp)}")
    print(f"update timestamp: {_when(info.update_timestamp) if info.update_timestamp else 'unset'}")
    key = f"embedded, key hash {info.pubkey_hash}" if info.pubkey_embedded else "not embedded"
    print(f"public key:       {key}")
    detail = f" — {info.config_signature_detail}" if info.config_signature_detail else ""
    print(f"config signature: {info.config_signature}{detail}")
    for label, blocks in (("bootcode", info.bootcode_signatures),
                          ("bootsys", info.bootsys_signatures)):
        if blocks:
            print(f"{label + ' signed:':<17} " + "; ".join(blocks))
    print("sections:")
    for s in info.sections:
        name = f"  {s.name}" if s.name else ""
        print(f"  {s.offset:#09x}  {s.magic}  {s.kind:<9} {s.length:>8}{name}")
    print("config (bootconf.txt):")
    text = info.config if info.config is not None else "(no bootconf.txt section)"
    for line in text.rstrip("\n").splitlines():
        print(f"  {line}")


def _edit(args: argparse.Namespace, image: EepromImage) -> None:
    from rpiboot.signing import signer_from_options
    from rpiboot.signing.keys import load_public_key, public_key_to_bin
    from rpiboot.signing.sigfile import make_sig

    if args.sign_key is not None and args.config is None:
        raise InputError("--sign-key signs the config: pass --config too")
    signer = signer_from_options(key=args.sign_key)
    if args.timestamp is not None:
        image.set_update_timestamp(args.timestamp)
    for path, name in ((args.bootcode, "bootcode.bin"), (args.bootsys, "bootsys"),
                       (args.cacert, "cacert.der"), (args.config, "bootconf.txt"),
                       (args.digest, "bootconf.sig")):
        if path is not None:
            image.replace_file(name, _read(path))
    if signer is not None:
        image.replace_file("bootconf.sig", make_sig(args.config, signer=signer))
    pubkey = args.pubkey or args.sign_key
    if pubkey is not None:
        image.replace_file("pubkey.bin", public_key_to_bin(load_public_key(pubkey)))


def _read(path: Path) -> bytes:
    from rpiboot.fsutil import read_file

    return read_file(path, what="input file")


def _check_outputs(args: argparse.Namespace) -> None:
    """Before reading anything: can the outputs be written?"""
    if args.action == "config":
        check_output(args.out, "config file")
    elif args.action == "edit":
        check_output(args.out, "output image")
    elif args.action == "extract":
        from rpiboot.fsutil import check_output_tree

        check_output_tree(args.dir, what="extract folder")


def run(args: argparse.Namespace) -> int:
    """Load the image and do what ``args.action`` asks."""
    from rpiboot.eeprom.image import EepromImage

    _check_outputs(args)
    image = EepromImage.load(args.image)
    if args.action == "info":
        _info(image, args.json)
    elif args.action == "config":
        config = image.read_file("bootconf.txt")
        if config is None:
            raise InputError(f"{args.image}: the image has no bootconf.txt section")
        write_stdout(config) if args.out is None else write_output(args.out, config)
    elif args.action == "extract":
        _extract(image, args)
    else:
        _edit(args, image)
        write_output(args.out, image.to_bytes())
    return 0


def _info(image: EepromImage, as_json: bool) -> None:
    from rpiboot.eeprom.info import describe

    info = describe(image)
    if as_json:
        json.dump({"version": 1, **info.to_dict()}, sys.stdout, indent=2)
        print()
    else:
        _print_info(info)


def _extract(image: EepromImage, args: argparse.Namespace) -> None:
    from rpiboot.fsutil import make_dirs

    files = image.extractable_files()
    for name in files:
        if "/" in name or name in ("", ".", ".."):
            raise InputError(f"{args.image}: refusing to extract a file named {name!r}")
    make_dirs(args.dir, what="extract folder")
    for name, data in files.items():
        write_output(args.dir / name, data)
        print(f"{args.dir / name}: {len(data)} bytes")

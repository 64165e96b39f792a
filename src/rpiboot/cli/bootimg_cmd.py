"""``rpiboot bootimg``: build, inspect, extract and sign boot.img FAT ramdisks (no root).

    rpiboot bootimg create SOURCE_DIR -o boot.img [--key KEY]   build (and sign) an image
    rpiboot bootimg list boot.img [--json]                      tree with sizes and dates
    rpiboot bootimg extract boot.img DEST [PATH ...]            copy files out
    rpiboot bootimg info boot.img [--json]                      geometry
    rpiboot bootimg sign boot.img --key KEY                     write boot.sig
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rpiboot.cli.parsing import ArgumentParser
from rpiboot.errors import UsageError

if TYPE_CHECKING:
    from rpiboot.signing.signer import Signer

HELP = "build, inspect, extract and sign boot.img"
JSON_SCHEMA = "rpiboot.bootimg/1"
_SIZE = re.compile(r"^(\d+)\s*(k|kib|m|mib|g|gib)?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "kib": 1024, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30,
          "gib": 1 << 30}


def parse_size_kib(text: str) -> int:
    """'40M', '2048K', '1G' or a byte count → KiB (must be whole KiB)."""
    match = _SIZE.match(text.strip())
    if not match:
        raise UsageError(f"size {text!r} is not understood", hint="e.g. 40M, 2048K or 1G")
    size = int(match.group(1)) * _UNITS[(match.group(2) or "").lower()]
    if size % 1024 or size == 0:
        raise UsageError(f"size {text!r} is not a whole number of KiB")
    return size // 1024


def _int_auto(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise UsageError(f"{text!r} is not a number") from None


def _add_signing(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("signing")
    group.add_argument("-k", "--key", type=Path, help="RSA-2048 private key (PEM): also write"
                       " a signed .sig")
    group.add_argument("-H", "--hsm-wrapper", metavar="CMD",
                       help="sign through an HSM wrapper instead of a key file")
    group.add_argument("-p", "--public-key", type=Path,
                       help="with --hsm-wrapper: check the wrapper's signature with this key")
    group.add_argument("--sig", type=Path, metavar="PATH",
                       help="where to write the .sig (default: IMAGE with a .sig suffix)")


def _signer(args: argparse.Namespace) -> Signer | None:
    """The one signer of ``create``/``sign`` (None when no signing flag is given)."""
    from rpiboot.signing import signer_from_options

    return signer_from_options(key=args.key, hsm_wrapper=args.hsm_wrapper,
                               public_key=args.public_key, exclusive=True)


def build_parser(prog: str) -> argparse.ArgumentParser:
    """``create``, ``list``, ``info``, ``extract`` and ``sign``."""
    parser = ArgumentParser(prog=prog, description="Build, inspect, extract and sign boot.img FAT"
                     " images (FAT12/16/32, pure Python, no root).")
    sub = parser.add_subparsers(dest="action", required=True, parser_class=ArgumentParser)
    create = sub.add_parser("create", help="build an image from a directory")
    create.add_argument("source", type=Path, help="directory with the files to include")
    create.add_argument("-o", "--output", type=Path, required=True, help="image to write")
    create.add_argument("--fat", type=int, choices=(12, 16, 32),
                        help="FAT type (default: the smallest that fits)")
    create.add_argument("--size", type=parse_size_kib,
                        help="fixed image size, e.g. 40M (default: as small as fits)")
    create.add_argument("--sector-size", type=int, default=512,
                        choices=(512, 1024, 2048, 4096))
    create.add_argument("--cluster-size", type=int, default=None, metavar="BYTES",
                        help="bytes per cluster, a power of two (default: one sector)")
    create.add_argument("--fats", type=int, default=1, choices=(1, 2),
                        help="number of FAT copies (default 1, like the reference)")
    create.add_argument("--root-entries", type=int, help="FAT12/16 root directory entries"
                        " (default: 512, or more if the root needs them)")
    create.add_argument("--label", default="BOOT", help="volume label (default BOOT)")
    create.add_argument("--volume-id", type=_int_auto, default=0x1234ABCD,
                        help="32-bit volume serial (default 0x1234ABCD)")
    stamp = create.add_mutually_exclusive_group()
    stamp.add_argument("--timestamp", type=int, help="seconds since 1970 for every entry"
                       " (default $SOURCE_DATE_EPOCH, else 1980-01-01 00:00:00 UTC)")
    stamp.add_argument("--keep-mtimes", action="store_true",
                       help="use each file's own modification time (UTC) instead")
    create.add_argument("--board", help="prune like rpi-make-boot-image -b (pi4, pi400, cm4)")
    create.add_argument("--arch", choices=("32", "64"),
                        help="prune like rpi-make-boot-image -a (32 drops kernel8.img)")
    create.add_argument("--json", action="store_true", help="print the result as JSON")
    _add_signing(create)
    for name, text in (("list", "list files with sizes and dates"),
                       ("info", "show the filesystem geometry")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("image", type=Path)
        cmd.add_argument("--partition", type=int, help="MBR partition number (default: the"
                         " first FAT one, or none)")
        cmd.add_argument("--json", action="store_true", help="machine-readable output")
    extract = sub.add_parser("extract", help="copy files out of an image")
    extract.add_argument("image", type=Path)
    extract.add_argument("dest", type=Path, help="destination directory")
    extract.add_argument("paths", nargs="*", help="files or folders to extract (default: all)")
    extract.add_argument("--partition", type=int)
    extract.add_argument("--json", action="store_true", help="list what was written as JSON")
    sign = sub.add_parser("sign", help="write the .sig of an existing image")
    sign.add_argument("image", type=Path)
    sign.add_argument("--timestamp", type=int, help="ts: value (default $SOURCE_DATE_EPOCH"
                      " or now)")
    _add_signing(sign)
    return parser


def _emit_json(kind: str, payload: dict[str, Any]) -> None:
    print(json.dumps({"schema": JSON_SCHEMA, "kind": kind, **payload}, ensure_ascii=False,
                     indent=2))


def run(args: argparse.Namespace) -> int:
    """Do what ``args.action`` asks."""
    if args.action == "create":
        return _create(args)
    if args.action == "sign":
        return _sign(args)
    from rpiboot.bootimg.reader import FatImage

    if args.action == "extract":
        from rpiboot.fsutil import check_output_tree

        check_output_tree(args.dest, what="destination folder")

    with FatImage.open(args.image, partition=args.partition) as image:
        if args.action == "info":
            return _info(image, args.json)
        if args.action == "list":
            return _list(image, args.json)
        return _extract(image, args)


def _create_options(args: argparse.Namespace) -> Any:
    from rpiboot.bootimg.layout import ImageOptions, clamp_fat_time, timestamp_from_env

    spc = 1
    if args.cluster_size is not None:
        spc, rest = divmod(args.cluster_size, args.sector_size)
        if rest or spc < 1 or spc & (spc - 1) or spc > 128:
            raise UsageError(f"--cluster-size {args.cluster_size} is not a power-of-two"
                             f" multiple (1-128) of the {args.sector_size}-byte sector")
    if args.keep_mtimes:
        timestamp = None
    elif args.timestamp is not None:
        timestamp = clamp_fat_time(args.timestamp)
    else:
        timestamp = timestamp_from_env()
    return ImageOptions(fat_type=args.fat, sector_size=args.sector_size,
                        sectors_per_cluster=spc, num_fats=args.fats,
                        root_entries=args.root_entries, size_kib=args.size, label=args.label,
                        volume_id=args.volume_id, timestamp=timestamp)


def _create(args: argparse.Namespace) -> int:
    from rpiboot.bootimg.layout import plan_image
    from rpiboot.bootimg.reference import reference_keep
    from rpiboot.bootimg.signed import default_sig_path, write_signed_image
    from rpiboot.bootimg.tree import scan_tree, without_outputs
    from rpiboot.bootimg.writer import write_image
    from rpiboot.fsutil import atomic_output

    signer = _signer(args)
    options = _create_options(args)
    pruning = reference_keep(args.board, args.arch) if args.board or args.arch else None
    signing = signer is not None
    sig_path = args.sig or default_sig_path(args.output)
    _check_outputs(args.output, sig_path if signing else None)
    # never pack the image (or its .sig, or their temporary files) into itself
    keep = without_outputs(args.source, [args.output, sig_path], pruning)
    plan = plan_image(scan_tree(args.source, keep), options)  # fails before writing
    if signer is not None:
        write_signed_image(plan, args.output, sig_path, signer=signer)
    else:
        with atomic_output(args.output) as handle:
            write_image(plan, handle)
    g = plan.geometry
    files = sum(1 for node in plan.walk() if not node.is_dir)
    result = {"image": str(args.output), "sig": str(sig_path) if signing else None,
              "fat_type": g.fat_type, "image_bytes": g.image_bytes,
              "cluster_size": g.cluster_size, "clusters": g.clusters,
              "clusters_used": plan.clusters_used, "files": files}
    if args.json:
        _emit_json("create", result)
    else:
        print(f"wrote {args.output}: FAT{g.fat_type}, {g.image_bytes // 1024} KiB, {files}"
              f" files, {plan.clusters_used}/{g.clusters} clusters of {g.cluster_size} bytes")
        if signing:
            print(f"wrote {sig_path}")
    return 0


def _check_outputs(image: Path | None, sig: Path | None) -> None:
    """Before any work: can the image and its .sig be written?"""
    from rpiboot.bootimg.signed import check_signed_outputs
    from rpiboot.cli.output import check_output

    if image is not None and sig is not None:
        check_signed_outputs(image, sig)
    check_output(image, "image")
    check_output(sig, "signature file")


def _sign(args: argparse.Namespace) -> int:
    from rpiboot.bootimg.signed import default_sig_path, sign_existing

    signer = _signer(args)
    if signer is None:
        raise UsageError("sign needs --key KEY or --hsm-wrapper CMD")
    sig_path = args.sig or default_sig_path(args.image)
    _check_outputs(None, sig_path)
    sign_existing(args.image, sig_path, signer=signer, sig_timestamp=args.timestamp)
    print(f"wrote {sig_path}")
    return 0


def _info(image: Any, as_json: bool) -> int:
    from rpiboot.bootimg.inspect import image_info

    info = image_info(image)
    if as_json:
        _emit_json("info", {"image": image.name, **info})
        return 0
    width = max(map(len, info))
    for key, value in info.items():
        if value is not None:
            print(f"{key.replace('_', ' '):<{width}}  {value}")
    return 0


def _list(image: Any, as_json: bool) -> int:
    from rpiboot.bootimg.inspect import entry_info
    from rpiboot.cli.render import human_size

    entries = list(image.walk())
    if as_json:
        _emit_json("list", {"image": image.name, "label": image.volume_label(),
                            "entries": [entry_info(e) for e in entries]})
        return 0
    print(f"{image.name}: FAT{image.geometry.fat_type}, label {image.volume_label()!r}")
    total = 0
    for entry in entries:
        depth = entry.path.count("/")
        when = entry.mtime.strftime("%Y-%m-%d %H:%M:%S") if entry.mtime else "-" * 19
        size = "<DIR>" if entry.is_dir else str(entry.size)
        name = entry.name + ("/" if entry.is_dir else "")
        print(f"{size:>10}  {when}  {'  ' * depth}{name}")
        total += entry.size
    files = sum(1 for e in entries if not e.is_dir)
    print(f"{files} files, {len(entries) - files} directories, {human_size(total)}")
    return 0


def _extract(image: Any, args: argparse.Namespace) -> int:
    from rpiboot.bootimg.inspect import entry_info, extract

    written = extract(image, args.dest, args.paths or None)
    if args.json:
        _emit_json("extract", {"image": image.name, "dest": str(args.dest),
                               "entries": [entry_info(e) for e in written]})
    else:
        files = sum(1 for e in written if not e.is_dir)
        print(f"extracted {files} files and {len(written) - files} directories to {args.dest}")
    return 0


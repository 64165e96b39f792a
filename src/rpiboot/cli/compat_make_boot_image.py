"""``rpi-make-boot-image``: drop-in for usbboot's script, without root, mkfs.fat or mtools.

Same flags (-d SOURCE_DIR -o OUTPUT -a 32|64 -b BOARD) and environment (SECTOR_SIZE,
ROOT_DIR_ENTRIES, FAT_SIZE, IMAGE_SIZE in MiB; also SECTORS_PER_CLUSTER, FAT_OVERHEAD), same
pruning and, wherever the reference succeeds, the same FAT type and size.  Where the
reference would fail we build a geometry that fits and say so on stderr.  Timestamps come
from SOURCE_DATE_EPOCH (default 1980-01-01 UTC) so the output is reproducible.  Run with
sudo, the image is given to the invoking user (SUDO_UID/SUDO_GID), as the reference does.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from rpiboot.cli.command import console_main
from rpiboot.cli.output import check_output
from rpiboot.cli.parsing import ArgumentParser
from rpiboot.errors import UsageError

PROG = "rpi-make-boot-image"
HELP = "create a FAT boot.img from a directory of boot files (no root needed)"
EPILOG = """\
environment:
  SECTOR_SIZE        sector size (mkfs.fat -S), default 512
  ROOT_DIR_ENTRIES   root directory entries on FAT12/16 (mkfs.fat -r), default 256
  IMAGE_SIZE         image size in MiB (default: estimated from the files)
  FAT_SIZE           12, 16 or 32 (only used together with IMAGE_SIZE)
  SOURCE_DATE_EPOCH  timestamp of every entry (default 1980-01-01 00:00:00 UTC)

examples:
  rpi-make-boot-image -d bootfs/ -o boot.img
  rpi-make-boot-image -b pi4 -a 64 -d bootfs/ -o boot.img
"""


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The reference script's options (-d SOURCE_DIR -o OUTPUT -a 32|64 -b BOARD)."""
    parser = ArgumentParser(prog=prog, description="Create a FAT boot.img from a directory of boot"
                     " files (no root needed).", epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-d", dest="source", metavar="SOURCE_DIR",
                        help="directory holding the files to put in the image")
    parser.add_argument("-o", dest="output", metavar="OUTPUT", help="image file to write")
    parser.add_argument("-a", dest="arch", default="32", choices=("32", "64"),
                        help="32: drop kernel8.img (default); 64: drop kernel7l.img")
    parser.add_argument("-b", dest="board", metavar="BOARD",
                        help="pi4, pi400 or cm4: drop the files older boards need")
    return parser


def run(args: argparse.Namespace) -> int:
    """Plan and write the image as the parsed options and the environment ask."""
    from rpiboot.bootimg.dropin import DropInSettings, plan_dropin
    from rpiboot.bootimg.layout import timestamp_from_env
    from rpiboot.bootimg.reference import LARGE_IMAGE_KIB
    from rpiboot.bootimg.writer import write_image
    from rpiboot.fsutil import atomic_output

    if not args.source or not args.output:
        raise UsageError("both -d SOURCE_DIR and -o OUTPUT are required",
                         hint=f"e.g. {PROG} -d bootfs/ -o boot.img")
    if not os.path.isdir(args.source):
        raise UsageError(f"{args.source}: not a directory", hint="-d takes the boot files' folder")
    check_output(args.output, "boot image")
    settings = DropInSettings.from_env(os.environ)
    result = plan_dropin(args.source, arch=args.arch, board=args.board, settings=settings,
                         timestamp=timestamp_from_env(), output=args.output)
    for note in result.notes:
        print(f"{PROG}: note: {note}", file=sys.stderr)
    print(f"Using IMAGE_SIZE of {result.size_kib}")
    if result.size_kib > LARGE_IMAGE_KIB:
        print("Warning: Large image size detected. Try removing unused files.")
    with atomic_output(args.output) as handle:
        write_image(result.plan, handle)
    _give_to_sudo_user(args.output)
    geometry = result.plan.geometry
    print(f"Created image {args.output} (FAT{geometry.fat_type}, {geometry.clusters} clusters"
          f" of {geometry.cluster_size} bytes, {result.plan.clusters_used} used)")
    return 0


def _give_to_sudo_user(output: str) -> None:
    """Under sudo, hand the image to the invoking user, as the reference's
    ``chown "$SUDO_UID:$SUDO_GID"`` does (only root may, and only a regular file)."""
    uid, gid = os.environ.get("SUDO_UID", ""), os.environ.get("SUDO_GID", "")
    if not (uid.isdigit() and gid.isdigit()) or not hasattr(os, "geteuid") or os.geteuid():
        return
    if not os.path.isfile(output):
        return  # a device or FIFO (-o /dev/null) keeps its owner
    try:
        os.chown(output, int(uid), int(gid))
    except OSError as exc:
        from rpiboot.fsutil import path_error

        raise path_error(output, exc, doing="give to the sudo user") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit status."""
    return console_main(__name__, PROG, argv)


if __name__ == "__main__":
    raise SystemExit(main())

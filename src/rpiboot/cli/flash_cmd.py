"""``rpiboot flash IMAGE [boot flags]``: boot each board into USB mass storage, write IMAGE to
its disk and read it back, many boards at once (parsing and rendering only: the work is done
by :class:`rpiboot.flash.station.Flasher`)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rpiboot.errors import UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from rpiboot.flash.flow import FlashOptions
    from rpiboot.options import BootOptions

HELP = "boot boards into USB mass storage, write an OS image and verify it"
DESCRIPTION = """\
Boot each matching board with mass-storage firmware (the installed default firmware, or
-d DIR), follow it by its USB port path until it comes back as a USB disk, write IMAGE to
that disk (raw, .gz, .xz, .bz2, .zst or .zip, detected by content; - for standard input),
and read it back.  A disk that is not below that board's USB port is never written.
With -l, boards keep being flashed as they are plugged in, several at once.
"""


def build_parser(prog: str = "rpiboot flash") -> argparse.ArgumentParser:
    """Every boot flag of ``rpiboot``, plus IMAGE and the flash options."""
    from rpiboot.cli.boot_flags import build_parser as boot_parser

    parser = boot_parser(prog)
    parser.description = DESCRIPTION
    parser.add_argument("image", metavar="IMAGE",
                        help="the image to write (raw or compressed; - for standard input)")
    parser.add_argument("--target", default="0", metavar="N|MODEL",
                        help="the gadget's LUN to write (0 = the first, the default), or a "
                        "part of its model string")
    parser.add_argument("--no-verify", dest="verify", action="store_false",
                        help="do not read the image back after writing it")
    parser.add_argument("--bmap", type=Path, metavar="FILE",
                        help="bmaptool block map (default: IMAGE.bmap when it exists): only "
                        "the mapped ranges are written and verified, with their checksums")
    parser.add_argument("--no-bmap", dest="use_bmap", action="store_false",
                        help="write every byte even when a block map is beside the image")
    parser.add_argument("--unmount", action="store_true",
                        help="unmount the board's disk if the host mounted it (else refused)")
    parser.add_argument("--customize", type=Path, metavar="DIR",
                        help="after writing, add these files to the image's boot partition, "
                        "with {serial}, {mac}, ... of each board in names and contents")
    parser.add_argument("--gadget-timeout", type=float, metavar="SECONDS",
                        help="how long a booted board may take to come back as a USB disk "
                        "(default: --timeout, or 60 s)")
    return parser


def flash_options(args: argparse.Namespace) -> FlashOptions:
    """FlashOptions from the parsed flags (checked before any board is waited for)."""
    from rpiboot.flash.flow import DEFAULT_GADGET_TIMEOUT_S, FlashOptions

    if args.image == "-" and args.loop:
        raise UsageError("IMAGE - (standard input) can be written to one board only",
                         hint="Give an image file to flash several boards with -l.")
    if args.image != "-" and not Path(args.image).is_file():
        raise UsageError(f"image {args.image}: no such file",
                         hint="Name an image file (raw or compressed), or - for stdin.")
    if args.customize is not None and not args.customize.is_dir():
        raise UsageError(f"--customize {args.customize}: not a folder",
                         hint="Name a folder whose files go into the boot partition.")
    target: int | str = int(args.target) if args.target.isdigit() else args.target
    gadget_timeout = args.gadget_timeout or args.timeout or DEFAULT_GADGET_TIMEOUT_S
    return FlashOptions(image=args.image, target=target, verify=args.verify, bmap=args.bmap,
                        use_bmap=args.use_bmap, unmount=args.unmount,
                        customize=args.customize, gadget_timeout=gadget_timeout)


def run(args: argparse.Namespace) -> int:
    """Flash as the parsed flags ask."""
    from rpiboot.cli.serving import json_errors

    with json_errors(args):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from rpiboot.cli.boot_flags import build_options, configure_logging

    configure_logging(args.verbose, args.quiet)
    flash = flash_options(args)
    if args.simulate:
        return _run_simulated(args, flash)
    options = build_options(args)
    from rpiboot.usb.backend import load_backend

    backend, description = load_backend()
    if args.verbose:
        print(f"rpiboot: using {description}", file=sys.stderr)
    return _flash(args, options, flash, backend=backend)


def _flash(args: argparse.Namespace, options: BootOptions, flash: FlashOptions,
           **seams: Any) -> int:
    from rpiboot.cli.command import print_error, sigterm_as_interrupt
    from rpiboot.cli.recording import recording
    from rpiboot.cli.render import make_renderer
    from rpiboot.flash.station import Flasher

    renderer = make_renderer(json_mode=args.json_mode, quiet=args.quiet, verbose=args.verbose)
    image = "-" if args.image == "-" else Path(args.image).name
    try:
        with recording(args, renderer, operation="flash", image=image) as rec:
            restore = sigterm_as_interrupt()
            try:
                report = Flasher(options, flash, on_event=rec.callback, **seams).run()
            finally:
                restore()
            rec.interrupted = report.boot.interrupted
    finally:
        renderer.close()
    if report.boot.interrupted:
        print("rpiboot: interrupted", file=sys.stderr)
    elif report.boot.error is not None:
        print_error("rpiboot", report.boot.error)
    return int(report.exit_code)


def _run_simulated(args: argparse.Namespace, flash: FlashOptions) -> int:
    """``--simulate BOARD``: flash a simulated board whose disks are temporary files."""
    from rpiboot.cli.boot_flags import build_options
    from rpiboot.sim import PRESETS, Scenario, preset
    from rpiboot.sim.disks import SimDisks

    if args.simulate not in PRESETS:
        raise UsageError(f"unknown simulated board {args.simulate!r}",
                         hint="Choose one of: " + ", ".join(PRESETS))
    with tempfile.TemporaryDirectory(prefix="rpiboot-flash-sim-") as tmp:
        scenario = Scenario.load(preset(args.simulate), Path(tmp),
                                 time_scale=1.0 / (args.speed or 1.0), boot_dir=args.boot_dir)
        if args.boot_dir is None:
            args.boot_dir = scenario.bootdir
        disks = SimDisks(scenario.bus, Path(tmp) / "disks")
        if not disks.ports():
            with_disks = [name for name, spec in PRESETS.items() if _has_disks(spec)]
            raise UsageError(f"the simulated board {args.simulate} does not come back as a "
                             "USB disk", hint="Choose one that does: " + ", ".join(with_disks))
        options = build_options(args)
        scenario.bus.start()
        try:
            return _flash(args, options, flash, backend=scenario.bus.backend, disks=disks)
        finally:
            scenario.bus.close()


def _has_disks(spec: Mapping[str, Any]) -> bool:
    return any(device.get("second_stage", {}).get("after", {}).get("disks")
               for device in spec.get("devices") or [])

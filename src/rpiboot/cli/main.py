"""``rpiboot`` entry point: dispatches to a subcommand, or boots boards (reference flags).

``rpiboot -d DIR -l ...`` keeps the reference C tool's meaning; ``rpiboot eeprom ...``,
``rpiboot sign ...`` etc. are the toolchain subcommands.  Every subcommand module follows one
contract (:mod:`rpiboot.cli.command`) and is imported only when used, so ``rpiboot --version``
stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rpiboot.cli.command import invoke, run_command

# subcommand -> (module, one-line help).  The help is repeated here so that `rpiboot -h`
# can list the subcommands without importing them.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "boot": ("rpiboot.cli.boot_cmd", "boot boards over USB (the default when no subcommand)"),
    "simulate": ("rpiboot.cli.simulate_cmd", "boot a simulated board (no hardware needed)"),
    "flash": ("rpiboot.cli.flash_cmd",
              "boot boards into USB mass storage, write an OS image and verify it"),
    "eeprom": ("rpiboot.cli.eeprom_cmd", "inspect and edit bootloader EEPROM images"),
    "sign": ("rpiboot.cli.sign_cmd", "write/verify .sig files, countersign bootcode"),
    "keys": ("rpiboot.cli.keys_cmd", "generate and convert keys, OTP key hash"),
    "recovery": ("rpiboot.cli.recovery_cmd", "prepare ready-to-serve recovery directories"),
    "bootimg": ("rpiboot.cli.bootimg_cmd", "build, inspect, extract and sign boot.img"),
    "doctor": ("rpiboot.cli.doctor_cmd",
               "check this computer, its USB boards, permissions, drivers and firmware"),
    "udev": ("rpiboot.cli.udev_cmd",
             "install the udev rule that lets users boot boards without root (Linux)"),
    "firmware": ("rpiboot.cli.firmware_cmd",
                 "fetch, import, list and verify the default firmware (usbboot)"),
    "records": ("rpiboot.cli.records_cmd",
                "list, show, export and summarize the provisioning records (one per board)"),
}


def subcommand_help() -> str:
    """The subcommand list printed under ``rpiboot -h``."""
    width = max(map(len, SUBCOMMANDS))
    lines = [f"  {name:<{width}}  {text}" for name, (_, text) in SUBCOMMANDS.items()]
    return ("subcommands (rpiboot SUBCOMMAND --help; without one, rpiboot boots boards with "
            "the flags below):\n" + "\n".join(lines))


def _prog(name: str | None) -> str:
    """The name a subcommand reports itself with (``rpiboot`` when it boots boards)."""
    return "rpiboot" if name in (None, "boot") else f"rpiboot {name}"


def _dispatch(name: str | None, argv: Sequence[str]) -> int:
    """Run subcommand ``name`` (None: no subcommand given, boot with the reference flags)."""
    if name is None:
        if list(argv) in (["-V"], ["--version"]):
            from rpiboot import __version__

            print(f"rpiboot {__version__}")
            return 0
        if any(arg in ("-h", "--help") for arg in argv):
            print(subcommand_help() + "\n")
    return invoke(SUBCOMMANDS[name or "boot"][0], _prog(name), argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    name = args.pop(0) if args and args[0] in SUBCOMMANDS else None
    return run_command(_prog(name), lambda rest: _dispatch(name, rest), args)


if __name__ == "__main__":
    raise SystemExit(main())

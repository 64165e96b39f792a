"""``rpiboot`` entry point: dispatches to a subcommand, or boots boards (reference flags).

``rpiboot -d DIR -l ...`` keeps the reference C tool's meaning; ``rpiboot eeprom ...``,
``rpiboot sign ...`` etc. are the toolchain subcommands.  Modules are imported lazily so
``rpiboot --version`` stays fast.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from rpiboot.cli.common import run_command

# subcommand -> (module, one-line help).  Each module has main(argv) -> int.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "boot": ("rpiboot.cli.boot_cmd", "boot boards over USB (the default when no subcommand)"),
    "simulate": ("rpiboot.cli.simulate_cmd", "boot a simulated board (no hardware needed)"),
    "eeprom": ("rpiboot.cli.eeprom_cmd", "inspect and edit bootloader EEPROM images"),
    "sign": ("rpiboot.cli.sign_cmd", "write/verify .sig files, countersign bootcode"),
    "keys": ("rpiboot.cli.keys_cmd", "generate and convert keys, OTP key hash"),
    "recovery": ("rpiboot.cli.recovery_cmd", "prepare ready-to-serve recovery directories"),
    "bootimg": ("rpiboot.cli.bootimg_cmd", "build, inspect, extract and sign boot.img"),
}


def _subcommand_help() -> str:
    width = max(map(len, SUBCOMMANDS))
    lines = [f"  {name:<{width}}  {text}" for name, (_, text) in SUBCOMMANDS.items()]
    return "subcommands (rpiboot SUBCOMMAND --help):\n" + "\n".join(lines)


def _dispatch(argv: Sequence[str]) -> int:
    argv = list(argv)
    if argv and argv[0] in ("-V", "--version") and len(argv) == 1:
        from rpiboot import __version__

        print(f"rpiboot {__version__}")
        return 0
    if argv and argv[0] in SUBCOMMANDS:
        module_name = SUBCOMMANDS[argv[0]][0]
        argv = argv[1:]
    else:
        module_name = SUBCOMMANDS["boot"][0]
    module = importlib.import_module(module_name)
    return int(module.main(argv) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit status."""
    return run_command("rpiboot", _dispatch, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())

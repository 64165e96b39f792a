"""The firmware half of the report: where rpiboot looks for its default firmware, what each
place holds, which folder each chip would be served from, and installed firmware sets."""

from __future__ import annotations

import os
from pathlib import Path

from rpiboot.chips import CHIPS, builtin_msd_names
from rpiboot.doctor.report import Problem
from rpiboot.errors import InputError
from rpiboot.firmware import (
    FIRMWARE_ENV,
    GADGET,
    MSD,
    find_default_firmware,
    search_roots,
    user_data_dir,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

SETS_DIR = "sets"
CURRENT = "current"
MAX_SETS = 50


def _msd_files(folder: Path) -> list[str]:
    return sorted(name for name in builtin_msd_names() if os.path.isfile(folder / name))


def inspect_root(root: Path) -> dict[str, Any]:
    """What a firmware root holds: the msd/ files and the gadget's bootfiles.bin."""
    msd = root / MSD if _msd_files(root / MSD) else root
    gadget = root / GADGET if os.path.isfile(root / GADGET / "bootfiles.bin") else root
    msd_files = _msd_files(msd)
    has_gadget = os.path.isfile(gadget / "bootfiles.bin")
    return {
        "path": str(root), "exists": os.path.isdir(root),
        "msd_dir": str(msd) if msd_files else None, "msd_files": msd_files,
        "gadget_dir": str(gadget) if has_gadget else None,
    }


def _pointer(path: Path) -> str | None:
    """The set a ``current`` pointer names: a link's target, or a file's first line."""
    try:
        if os.path.islink(path):
            return Path(os.readlink(path)).name
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as handle:
                return handle.readline(256).strip() or None
        if os.path.isdir(path):
            return path.name
    except OSError:
        return None
    return None


def firmware_sets(data_dir: Path) -> dict[str, Any]:
    """Firmware sets installed under ``DATA/sets`` (if any) and the ``current`` one."""
    folder = data_dir / SETS_DIR
    try:
        names = sorted(name for name in os.listdir(folder)
                       if name != CURRENT and os.path.isdir(folder / name))
    except OSError:
        names = []
    current = next((found for found in (_pointer(folder / CURRENT), _pointer(data_dir / CURRENT))
                    if found), None)
    return {"path": str(folder), "exists": os.path.isdir(folder), "current": current,
            "sets": [{"name": name, **inspect_root(folder / name)} for name in names[:MAX_SETS]]}


def firmware_section(firmware_dir: Path | None = None) -> tuple[dict[str, Any], list[Problem]]:
    """The ``firmware`` object of the report and its problems."""
    roots = [{"origin": origin, **inspect_root(root)}
             for root, origin in search_roots(firmware_dir)]
    default: dict[str, str | None] = {}
    for chip in CHIPS.values():
        try:
            default[chip.family] = str(find_default_firmware(chip, firmware_dir).boot_dir)
        except (InputError, OSError):  # none installed, or a root this user cannot read
            default[chip.family] = None
    section = {"env": os.environ.get(FIRMWARE_ENV), "roots": roots, "default": default,
               "sets": firmware_sets(user_data_dir())}
    return section, _problems(section)


def _problems(section: dict[str, Any]) -> list[Problem]:
    problems = []
    env = section["env"]
    if env and not os.path.isdir(env):
        problems.append(Problem(
            "firmware-env-missing", "warning", f"${FIRMWARE_ENV}={env}: no such folder",
            f"Fix the path, or unset {FIRMWARE_ENV}."))
    missing = [family for family, folder in section["default"].items() if folder is None]
    if len(missing) == len(section["default"]):
        problems.append(Problem(
            "no-default-firmware", "info",
            "no default firmware is installed: `rpiboot` without -d has nothing to serve "
            "(with -d DIR it serves that folder)",
            f"Pass -d DIR, or install usbboot's {MSD}/ and {GADGET}/ folders: 'sudo apt install "
            f"rpiboot' (/usr/share/rpiboot), or a usbboot checkout with --firmware-dir / "
            f"{FIRMWARE_ENV}."))
    elif missing:
        problems.append(Problem(
            "partial-default-firmware", "info",
            f"no default firmware for {', '.join(missing)}: `rpiboot` without -d cannot boot "
            "those chips", f"Install usbboot's {MSD}/ folder (BCM2835/BCM2837) and "
            f"{GADGET}/ folder (BCM2711/BCM2712), or pass -d DIR."))
    return problems

"""Find the installed default (mass-storage) firmware used when no ``-d`` is given.

Search order: ``--firmware-dir``, ``$RPIBOOT_FIRMWARE_DIR``, the current set that
``rpiboot firmware fetch`` / ``import`` installed (``<user data dir>/sets/<commit>``), the
user data dir itself, then ``/usr/share/rpiboot`` (Raspberry Pi OS's package).  A firmware
root is laid out like upstream usbboot: ``msd/`` (bootcode.bin, bootcode4.bin, start.elf,
start4.elf) and ``mass-storage-gadget64/`` (bootfiles.bin, boot.img, config.txt).  Nothing
is bundled.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rpiboot.chips import GADGET_FIRMWARE, MSD_FIRMWARE, Chip, builtin_msd_names
from rpiboot.errors import InputError
from rpiboot.record import record

FIRMWARE_ENV = "RPIBOOT_FIRMWARE_DIR"
SYSTEM_DIR = Path("/usr/share/rpiboot")
MSD = MSD_FIRMWARE
GADGET = GADGET_FIRMWARE
_MSD_FILES = tuple(sorted(builtin_msd_names()))
FETCH_COMMAND = "rpiboot firmware fetch"
FETCH_HINT = (f"Run '{FETCH_COMMAND}' (downloads Raspberry Pi's usbboot firmware at the "
              "commit pinned in rpiboot, verified, into the user data dir; offline: "
              "'rpiboot firmware import PATH' of a usbboot checkout or tarball), or pass -d "
              f"DIR with the boot files, or --firmware-dir DIR / ${FIRMWARE_ENV}=DIR pointing "
              f"at a tree with {MSD}/ and {GADGET}/.")


def user_data_dir() -> Path:
    """The per-user data dir for rpiboot on this OS (no extra dependency)."""
    home = Path.home()
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA") or os.environ.get("APPDATA")
        return Path(base) / "rpiboot" if base else home / "AppData" / "Local" / "rpiboot"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "rpiboot"
    base = os.environ.get("XDG_DATA_HOME")
    return (Path(base) if base else home / ".local" / "share") / "rpiboot"


def search_roots(firmware_dir: Path | None = None) -> list[tuple[Path, str]]:
    """(directory, where it came from) in search order."""
    roots: list[tuple[Path, str]] = []
    if firmware_dir is not None:
        roots.append((Path(firmware_dir), "--firmware-dir"))
    env = os.environ.get(FIRMWARE_ENV)
    if env:
        roots.append((Path(env), f"${FIRMWARE_ENV}"))
    from rpiboot.fwstore.layout import current_set_dir

    data_dir = user_data_dir()
    current = current_set_dir(data_dir)
    if current is not None:
        roots.append((current, f"current firmware set {current.name[:12]}"))
    roots.append((data_dir, "user data dir"))
    roots.append((SYSTEM_DIR, "system package"))
    return roots


def _has_msd(directory: Path) -> bool:
    return any((directory / name).is_file() for name in _MSD_FILES)


def _has_gadget(directory: Path) -> bool:
    return (directory / "bootfiles.bin").is_file()


@record
class DefaultFirmware:
    """The boot directory to use for one chip, and the msd folder for built-in names."""

    boot_dir: Path
    msd_dir: Path | None
    root: Path

    @property
    def description(self) -> str:
        return f"default firmware {self.boot_dir}"


def _pick_in_root(root: Path, chip: Chip) -> DefaultFirmware | None:
    # A root is a usbboot-like tree; pointing straight at msd/ or the gadget folder works too.
    msd = root if _has_msd(root) and not _has_msd(root / MSD) else root / MSD
    gadget = root if _has_gadget(root) else root / GADGET
    msd_dir = msd if _has_msd(msd) else None
    if chip.gadget_firmware == GADGET and _has_gadget(gadget):
        return DefaultFirmware(gadget, msd_dir, root)
    if chip.builtin_msd and msd_dir is not None:
        return DefaultFirmware(msd_dir, msd_dir, root)
    return None


def find_default_firmware(chip: Chip, firmware_dir: Path | None = None) -> DefaultFirmware:
    """The installed firmware for ``chip``; InputError listing every place searched if none."""
    looked: list[str] = []
    for root, origin in search_roots(firmware_dir):
        found = _pick_in_root(root, chip)
        if found is not None:
            return found
        looked.append(f"{root} ({origin})")
    needs = [f"{GADGET}/bootfiles.bin"] if chip.gadget_firmware == GADGET else []
    if chip.builtin_msd:
        needs.append(f"{MSD}/{chip.second_stage}")
    wanted = " or ".join(needs)
    raise InputError(
        f"no default firmware for {chip.family} found (needs {wanted}); looked in: "
        + "; ".join(looked),
        hint=FETCH_HINT,
    )


def find_msd_dir(firmware_dir: Path | None = None) -> Path | None:
    """The first installed ``msd/`` folder (the reference's built-in files), or None."""
    for root, _origin in search_roots(firmware_dir):
        if _has_msd(root / MSD):
            return root / MSD
        if _has_msd(root):
            return root
    return None


def check_firmware_available(firmware_dir: Path | None = None) -> None:
    """Fail fast (InputError) when no -d is given and no firmware is installed anywhere."""
    looked = []
    for root, origin in search_roots(firmware_dir):
        if any(check(folder) for check in (_has_msd, _has_gadget)
               for folder in (root, root / MSD, root / GADGET)):
            return
        looked.append(f"{root} ({origin})")
    raise InputError(
        "no boot directory given (-d) and no installed default firmware found; looked in: "
        + "; ".join(looked),
        hint=FETCH_HINT)

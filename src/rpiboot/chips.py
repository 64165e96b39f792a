"""One frozen table of the Broadcom USB boot chips rpiboot knows, and lookups into it.

Every module that needs a chip fact (second-stage name, folder prefix, EEPROM size, which
firmware boots it as mass storage, how its bootcode is signed, its recovery folders) reads it
here.  The simulator (``rpiboot.sim``) deliberately keeps its own copy: it models a board and
must not share the host's assumptions.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from rpiboot.record import record

BROADCOM_VID = 0x0A5C
MSD_FIRMWARE = "msd"  # usbboot's legacy mass-storage firmware folder
GADGET_FIRMWARE = "mass-storage-gadget64"  # usbboot's Linux mass-storage gadget folder


class BootcodeSignature(Enum):
    """How a chip's second stage (bootcode / recovery.bin) is signed."""

    NONE = "none"
    RSA_SHA1_HMAC = "rsa-sha1+hmac"  # BCM2711: RSA-SHA1 then HMAC-SHA1 (Raspberry Pi internal)
    RSA_SHA256_BLOCK = "rsa-sha256-block"  # BCM2712: 532-byte RSA-2048/SHA-256 block(s)


@record(kw_only=True)
class Chip:
    """Facts about one boot-ROM product ID."""

    pid: int
    family: str  # human name, e.g. "BCM2711"
    prefix: str  # the reference's per-chip sub-folder: "2710", "2711", "2712"
    second_stage: str  # file the ROM is sent
    boards: str  # boards that use it
    series: str  # board series in prose: "Pi 4" (as in "Pi 4 family")
    signed_boot_message: bool  # -s puts bootsig into the boot message (BCM2835/7 only)
    rom_serial_indices: frozenset[int]  # iSerialNumber index its boot ROM reports
    gadget_firmware: str  # usbboot folder that boots it as mass storage (when no -d is given)
    msd_files: tuple[str, ...] = ()  # its files in the built-in msd/ firmware (second stage first)
    eeprom_size: int | None = None  # SPI EEPROM bootloader image size; None: no EEPROM
    bootcode_signature: BootcodeSignature = BootcodeSignature.NONE
    recovery_dir: str | None = None  # usbboot folder that flashes its EEPROM
    secure_recovery_dir: str | None = None  # ... with a signed config (secure boot)

    @property
    def builtin_msd(self) -> bool:
        """Legacy msd/ firmware exists for it."""
        return bool(self.msd_files)


_TABLE = (
    Chip(pid=0x2763, family="BCM2835", prefix="2710", second_stage="bootcode.bin",
         boards="Pi 1A/A+, Zero, CM1", series="Pi 1 / Zero", signed_boot_message=True,
         rom_serial_indices=frozenset({0}), gadget_firmware=MSD_FIRMWARE,
         msd_files=("bootcode.bin", "start.elf")),
    Chip(pid=0x2764, family="BCM2837", prefix="2710", second_stage="bootcode.bin",
         boards="CM3/3+, Zero 2 W, 3A+", series="Pi 3", signed_boot_message=True,
         rom_serial_indices=frozenset({0}), gadget_firmware=MSD_FIRMWARE,
         msd_files=("bootcode.bin", "start.elf")),
    Chip(pid=0x2711, family="BCM2711", prefix="2711", second_stage="bootcode4.bin",
         boards="CM4/CM4S, Pi 4/400", series="Pi 4", signed_boot_message=False,
         rom_serial_indices=frozenset({3}), gadget_firmware=GADGET_FIRMWARE,
         msd_files=("bootcode4.bin", "start4.elf"), eeprom_size=512 * 1024,
         bootcode_signature=BootcodeSignature.RSA_SHA1_HMAC,
         recovery_dir="recovery", secure_recovery_dir="secure-boot-recovery"),
    Chip(pid=0x2712, family="BCM2712", prefix="2712", second_stage="bootcode5.bin",
         boards="CM5, Pi 5/500", series="Pi 5", signed_boot_message=False,
         rom_serial_indices=frozenset({3}), gadget_firmware=GADGET_FIRMWARE,
         eeprom_size=2 * 1024 * 1024, bootcode_signature=BootcodeSignature.RSA_SHA256_BLOCK,
         recovery_dir="recovery5", secure_recovery_dir="secure-boot-recovery5"),
)

CHIPS: dict[int, Chip] = {chip.pid: chip for chip in _TABLE}

# iSerialNumber string index: any chip's ROM index (0 or 3) means the boot ROM is running.
# The stage is told apart before the chip matters, so the union of the table is used.
ROM_SERIAL_INDICES = frozenset(index for chip in _TABLE for index in chip.rom_serial_indices)


def chip_for(pid: int) -> Chip | None:
    """The chip for a Broadcom product ID, or None if it is not a boot device."""
    return CHIPS.get(pid)


def is_rom_stage(serial_index: int) -> bool:
    """True when the device descriptor's iSerialNumber index says the ROM is running."""
    return serial_index in ROM_SERIAL_INDICES


def _only(matches: Callable[[Chip], bool]) -> Chip | None:
    found = [chip for chip in _TABLE if matches(chip)]
    return found[0] if len(found) == 1 else None


def chip_for_family(family: str) -> Chip | None:
    """The chip called ``family`` ("BCM2711", case-insensitive), or None."""
    return _only(lambda chip: chip.family.lower() == family.strip().lower())


def chip_for_prefix(prefix: str) -> Chip | None:
    """The chip whose folder prefix / chip number is ``prefix`` ("2711", "2712"); None when no
    chip or several chips ("2710": BCM2835 and BCM2837) use it."""
    return _only(lambda chip: chip.prefix == prefix.strip())


def chip_for_eeprom_size(size: int) -> Chip | None:
    """The chip whose SPI EEPROM bootloader image is ``size`` bytes, or None."""
    return _only(lambda chip: chip.eeprom_size == size)


def chip_for_bootcode_signature(kind: BootcodeSignature) -> Chip | None:
    """The one chip whose second stage is signed as ``kind``, or None (none or several)."""
    return _only(lambda chip: chip.bootcode_signature is kind)


def eeprom_chips() -> tuple[Chip, ...]:
    """The chips that boot from an SPI EEPROM bootloader, in table order (oldest first)."""
    return tuple(chip for chip in _TABLE if chip.eeprom_size is not None)


def eeprom_sizes() -> tuple[int, ...]:
    """Every valid EEPROM image size, smallest first."""
    return tuple(sorted(chip.eeprom_size for chip in _TABLE if chip.eeprom_size is not None))


def builtin_msd_names() -> frozenset[str]:
    """Every file name of the built-in msd/ firmware (bootcode.bin, start4.elf, ...)."""
    return frozenset(name for chip in _TABLE for name in chip.msd_files)


def size_text(size: int) -> str:
    """A byte count in prose: 524288 -> "512 KiB", 2097152 -> "2 MiB"."""
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"

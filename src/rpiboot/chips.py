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
    # processor field (bits 12-15) of a new-style board revision code (metadata USER_BOARDREV)
    revision_processor: int | None = None
    # SHA-256 of the pubkey.bin in the Raspberry Pi signature block of every released second
    # stage (bootcode, bootsys, recovery.bin); empty: its signature carries no key
    rpi_bootcode_key_hashes: frozenset[str] = frozenset()
    # oldest bootloader build (BUILD_TIMESTAMP) recovery.bin may program the key hash with
    program_pubkey_min_build: int | None = None
    # GPIOs program_rpiboot_gpio (OTP) accepts; empty: the option does not exist for it
    rpiboot_gpios: tuple[int, ...] = ()
    # a board powered through its USB boot port needs a port or hub giving this much (mA);
    # None: no figure to check against
    min_port_current_ma: int | None = None

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
         recovery_dir="recovery", secure_recovery_dir="secure-boot-recovery",
         revision_processor=3,
         # usbboot secure-boot-recovery/README.md: "requires EEPROM version 2022-01-06 or
         # newer" (2022-01-06 00:00 UTC; rpi-eeprom releases 2021-12-02 and 2022-01-20 are
         # built at 1638443283 and 1642680124)
         program_pubkey_min_build=1641427200,
         rpiboot_gpios=(2, 4, 5, 6, 7, 8)),  # Pi 4B / Pi 400: no dedicated nRPIBOOT pin
    Chip(pid=0x2712, family="BCM2712", prefix="2712", second_stage="bootcode5.bin",
         boards="CM5, Pi 5/500", series="Pi 5", signed_boot_message=False,
         rom_serial_indices=frozenset({3}), gadget_firmware=GADGET_FIRMWARE,
         eeprom_size=2 * 1024 * 1024, bootcode_signature=BootcodeSignature.RSA_SHA256_BLOCK,
         recovery_dir="recovery5", secure_recovery_dir="secure-boot-recovery5",
         revision_processor=4, min_port_current_ma=900,
         rpi_bootcode_key_hashes=frozenset({
             "e3345447549bda1f5416a479264be593d60f527c70d666d10ead908fd027fd27"})),
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


def chip_for_board_revision(revision: int) -> Chip | None:
    """The chip of a board revision code (``USER_BOARDREV``, e.g. 0xb04170: Pi 5), or None
    for an old-style code (bit 23 clear) or a processor the table does not know."""
    if not revision & (1 << 23):
        return None
    processor = (revision >> 12) & 0xF
    return _only(lambda chip: chip.revision_processor == processor)


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

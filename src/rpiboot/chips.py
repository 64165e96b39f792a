"""One frozen table of the Broadcom USB boot chips rpiboot knows."""

from __future__ import annotations

from dataclasses import dataclass

BROADCOM_VID = 0x0A5C


@dataclass(frozen=True)
class Chip:
    """Facts about one boot-ROM product ID."""

    pid: int
    family: str  # human name, e.g. "BCM2711"
    prefix: str  # the reference's per-chip sub-folder: "2710", "2711", "2712"
    second_stage: str  # file the ROM is sent
    boards: str  # boards that use it
    builtin_msd: bool  # legacy msd/ firmware exists for it
    signed_boot_message: bool  # -s puts bootsig into the boot message (BCM2835/7 only)


CHIPS: dict[int, Chip] = {
    c.pid: c
    for c in (
        Chip(0x2763, "BCM2835", "2710", "bootcode.bin", "Pi 1A/A+, Zero, CM1", True, True),
        Chip(0x2764, "BCM2837", "2710", "bootcode.bin", "CM3/3+, Zero 2 W, 3A+", True, True),
        Chip(0x2711, "BCM2711", "2711", "bootcode4.bin", "CM4/CM4S, Pi 4/400", True, False),
        Chip(0x2712, "BCM2712", "2712", "bootcode5.bin", "CM5, Pi 5/500", False, False),
    )
}

# iSerialNumber string index: 0 or 3 means the boot ROM is running.
ROM_SERIAL_INDICES = frozenset({0, 3})


def chip_for(pid: int) -> Chip | None:
    """The chip for a Broadcom product ID, or None if it is not a boot device."""
    return CHIPS.get(pid)


def is_rom_stage(serial_index: int) -> bool:
    """True when the device descriptor's iSerialNumber index says the ROM is running."""
    return serial_index in ROM_SERIAL_INDICES

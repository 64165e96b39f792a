"""Sets of chips from the one chip table (:mod:`rpiboot.chips`), as descriptions need them."""

from __future__ import annotations

from collections.abc import Iterable

from rpiboot.chips import CHIPS, Chip, eeprom_chips

_ORDER = tuple(CHIPS.values())


def families(chips: Iterable[Chip]) -> list[str]:
    """Chip family names, in table order, each once."""
    wanted = {chip.family for chip in chips}
    return [chip.family for chip in _ORDER if chip.family in wanted]


def by_families(names: Iterable[str]) -> list[Chip]:
    """The chips called ``names`` (unknown names are left out), in table order."""
    wanted = set(names)
    return [chip for chip in _ORDER if chip.family in wanted]


def for_second_stage_name(name: str) -> list[Chip]:
    """The chips whose boot ROM asks for ``name`` (``bootcode.bin``: BCM2835 and BCM2837)."""
    return [chip for chip in _ORDER if chip.second_stage == name.lower()]


def for_prefix(prefix: str) -> list[Chip]:
    """The chips served from the per-chip folder ``prefix`` ("2710": BCM2835 and BCM2837)."""
    return [chip for chip in _ORDER if chip.prefix == prefix]


def prefixes() -> list[str]:
    """Every per-chip folder name, each once ("2710", "2711", "2712")."""
    return list(dict.fromkeys(chip.prefix for chip in _ORDER))


def for_recovery_dir(name: str) -> tuple[Chip, bool] | None:
    """(chip, secure) of a usbboot recovery folder name (``recovery5``: BCM2712, plain)."""
    for chip in eeprom_chips():
        if name == chip.recovery_dir:
            return chip, False
        if name == chip.secure_recovery_dir:
            return chip, True
    return None


def text(names: Iterable[str]) -> str:
    """"BCM2835/BCM2837 (Pi 1 / Zero, Pi 3)" for families ``names``; "unknown" for none."""
    chips = by_families(names)
    if not chips:
        return "unknown"
    series = ", ".join(dict.fromkeys(chip.series for chip in chips))
    return f"{'/'.join(chip.family for chip in chips)} ({series})"

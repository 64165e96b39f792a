"""A folder's files as rpiboot would serve them (:mod:`rpiboot.sources`): ``DIR/PREFIX/NAME``,
then bootfiles.bin's ``PREFIX/NAME``, then ``DIR/NAME``."""

from __future__ import annotations

from dataclasses import dataclass, field

from rpiboot.chips import GADGET_FIRMWARE, Chip
from rpiboot.fwinfo import chipsets
from rpiboot.fwinfo.model import BOOTFILES_ARCHIVE, DIRECTORY, ERROR, SECOND_STAGE, FirmwareInfo

GADGET = GADGET_FIRMWARE
RAMDISK = "boot-ramdisk"  # loads boot.img, but which usbboot flow is not clear
RAMDISK_FLOWS = (GADGET, "rpi-imager-embedded", "secure-boot-msd", "secure-boot-example")


@dataclass
class View:
    """The files of a folder as rpiboot would serve them."""

    name: str
    top: dict[str, FirmwareInfo]
    per_chip: dict[str, dict[str, FirmwareInfo]] = field(default_factory=dict)
    archive: dict[str, FirmwareInfo] = field(default_factory=dict)
    has_archive: bool = False

    def lookup(self, chip: Chip, name: str) -> FirmwareInfo | None:
        name = name.lower()
        found = self.per_chip.get(chip.prefix, {}).get(name)
        if found is None and self.has_archive:
            found = self.archive.get(f"{chip.prefix}/{name}")
        return found or self.top.get(name)

    def of_kind(self, kind: str) -> list[FirmwareInfo]:
        return [info for info in self.top.values() if info.kind == kind]

    def flag(self, key: str) -> bool:
        config = self.top.get("config.txt")
        return config is not None and config.details.get(key) is True

    def second_stage(self, chip: Chip) -> FirmwareInfo | None:
        return self.lookup(chip, chip.second_stage)


def build_view(info: FirmwareInfo, name: str) -> View:
    top = {m.name.lower(): m for m in info.members if m.kind != DIRECTORY}
    view = View(name=name, top=top)
    for sub in info.members:
        if sub.kind == DIRECTORY and sub.name in chipsets.prefixes():
            view.per_chip[sub.name] = {m.name.lower(): m for m in sub.members
                                       if m.kind != DIRECTORY}
    archive = top.get("bootfiles.bin")
    if archive is not None and archive.kind == BOOTFILES_ARCHIVE:
        view.has_archive = True
        view.archive = {m.name.lower().lstrip("./"): m for m in archive.members}
    return view


def usable_stage(chip: Chip, stage: FirmwareInfo | None) -> bool:
    """``stage`` is a second stage for ``chip`` with no error found in it."""
    return (stage is not None and stage.kind == SECOND_STAGE and stage.error is None
            and (not stage.chips or chip.family in stage.chips)
            and not any(p.severity == ERROR for p in stage.problems))

"""The verdict on a boot folder: which usbboot flow it looks like, which chips it can boot,
and what is missing or wrong, each problem with what to do.

The flow is told from the contents first (a recovery.bin as the second stage, a pieeprom.bin,
a boot.conf, bootfiles.bin, boot.img, ``boot_ramdisk=1``, ``erase_eeprom=1`` ...), then from
the folder's name when it is a usbboot folder name; when both speak they must agree.  Files
are looked up the way rpiboot serves them (:mod:`rpiboot.sources`): ``DIR/PREFIX/NAME``, then
bootfiles.bin's ``PREFIX/NAME``, then ``DIR/NAME``.
"""

from __future__ import annotations

from rpiboot.chips import CHIPS, MSD_FIRMWARE, BootcodeSignature, Chip, eeprom_chips
from rpiboot.fwinfo import chipsets
from rpiboot.fwinfo.model import (
    BASIS_FILES,
    DIRECTORY,
    EEPROM_IMAGE,
    ERROR,
    KEY,
    FirmwareInfo,
    FolderVerdict,
)
from rpiboot.fwinfo.stages import ROLE_RECOVERY
from rpiboot.fwinfo.view import GADGET, RAMDISK, RAMDISK_FLOWS, View, build_view, usable_stage

RECOVERY_ANY = "eeprom-recovery"  # a recovery folder whose files do not tell the chip


def _recovery_flows() -> dict[str, str]:
    """Every chip's recovery folders (chip table) and what they do."""
    flows: dict[str, str] = {}
    for chip in eeprom_chips():
        if chip.recovery_dir is not None:
            flows[chip.recovery_dir] = "flashes the bootloader EEPROM of a {series} family board"
        if chip.secure_recovery_dir is not None:
            countersigned = chip.bootcode_signature is BootcodeSignature.RSA_SHA256_BLOCK
            flows[chip.secure_recovery_dir] = (
                "flashes a bootloader with a signed config, the public key"
                + (" and countersigned firmware" if countersigned else "")
                + " ({series} family); program_pubkey then locks the board to the key")
    return flows


FLOWS = {  # usbboot folder -> what it does ({series}: the chip's, for recovery flows)
    MSD_FIRMWARE: "boots the board as a USB mass-storage device (legacy firmware)",
    GADGET: "boots Linux from boot.img, which exposes the board's storage over USB "
            "(mass-storage gadget)",
    "rpi-imager-embedded": "boots Raspberry Pi Imager from boot.img",
    "secure-boot-msd": "mass-storage boot of a secure-boot board: a signed boot.img",
    "secure-boot-example": "boots a signed boot.img (secure-boot example)",
    **_recovery_flows(),
    "eeprom-erase": "erases the bootloader EEPROM",
}
OTHER_FLOWS = {
    "rpi-eeprom-release": "a bootloader release (recovery.bin, pieeprom-*.bin as in rpi-eeprom): "
                          "not a folder rpiboot serves as it is",
    RECOVERY_ANY: "flashes a bootloader EEPROM (its files do not tell for which chip)",
    RAMDISK: "loads boot.img (config.txt sets boot_ramdisk=1)",
    "os-boot": "boot files (firmware, kernel) that rpiboot serves like a boot partition",
    "unknown": "not a folder layout rpiboot knows",
}
ALIASES = {"mass-storage-gadget": GADGET, f"{GADGET}-cm3": GADGET}  # usbboot's links to it


def _recovery_chip(view: View) -> Chip | None:
    for chip in CHIPS.values():
        stage = view.second_stage(chip)
        if stage is not None and stage.role == ROLE_RECOVERY:
            return chip
    images = [c for i in view.of_kind(EEPROM_IMAGE) for c in chipsets.by_families(i.chips)]
    return images[0] if images else None


def _secure(view: View) -> bool:
    """A signed config or an embedded key in pieeprom.bin, or OTP options in config.txt."""
    image = view.top.get("pieeprom.bin")
    if image is not None and image.kind == EEPROM_IMAGE and (
            image.details.get("pubkey_hash") or image.details.get("config_signature") == "valid"):
        return True
    config = view.top.get("config.txt")
    return config is not None and bool(config.details.get("otp_options"))


def content_flow(view: View) -> str | None:
    """The flow the files point at, or None."""
    if view.flag("erase_eeprom"):
        return "eeprom-erase"
    stages = [view.second_stage(chip) for chip in CHIPS.values()]
    if "recovery.bin" in view.top and not any(stages) and "pieeprom.bin" not in view.top:
        return "rpi-eeprom-release"
    recovery = any(s is not None and s.role == ROLE_RECOVERY for s in stages)
    if recovery or "boot.conf" in view.top or "pieeprom.bin" in view.top \
            or "pieeprom.original.bin" in view.top:
        chip = _recovery_chip(view)
        flow = None if chip is None else (
            chip.secure_recovery_dir if _secure(view) else chip.recovery_dir)
        return flow or RECOVERY_ANY
    if view.has_archive:
        keys = view.of_kind(KEY)
        return "secure-boot-example" if keys or "boot.sig" in view.top else GADGET
    if "boot.img" in view.top and any(stages):
        return "secure-boot-msd"
    if "boot.img" in view.top or view.flag("boot_ramdisk"):
        return RAMDISK
    if any(stages):
        boots_os = any(n.startswith(("kernel", "cmdline")) or n.endswith(".dtb")
                       for n in view.top)
        return "os-boot" if boots_os else MSD_FIRMWARE
    return None


def _compatible(content: str, named: str) -> bool:
    """Contents and name tell the same flow (a recovery folder of a known chip may still be
    unsigned; rpi-imager-embedded is built like the gadget folder)."""
    if content == named or (content, named) == (GADGET, "rpi-imager-embedded") or (
            content == RAMDISK and named in RAMDISK_FLOWS):
        return True
    content_chip = chipsets.for_recovery_dir(content)
    named_chip = chipsets.for_recovery_dir(named)
    return named_chip is not None and (content == RECOVERY_ANY or (
        content_chip is not None and content_chip[0] is named_chip[0]))


def choose_flow(info: FirmwareInfo, view: View) -> tuple[str, str]:
    """(flow, basis), with a problem when the folder's name says another flow."""
    content = content_flow(view)
    named = ALIASES.get(view.name, view.name) if ALIASES.get(view.name, view.name) in FLOWS \
        else None
    if content is not None and named is not None:
        if _compatible(content, named):
            return named, "contents and folder name"
        info.problem(ERROR, f"the folder is named {view.name} (usbboot's {named} flow), but its "
                     f"files look like the {content} flow",
                     "Check that the right files were copied here, or rename the folder.")
        return content, "contents"
    if content is not None:
        return content, "contents"
    if named is not None:
        return named, "folder name"
    return "unknown", "none"


def describe_flow(flow: str) -> str:
    text = FLOWS.get(flow) or OTHER_FLOWS.get(flow, OTHER_FLOWS["unknown"])
    found = chipsets.for_recovery_dir(flow)
    return text.format(series=found[0].series if found else "Pi 4 / Pi 5")


def judge(info: FirmwareInfo, name: str) -> None:
    """Fill ``info.folder`` and the folder-level problems of a described folder."""
    from rpiboot.fwinfo.checks import check_flow

    view = build_view(info, name)
    flow, basis = choose_flow(info, view)
    check_flow(info, view, flow)
    flows = [m.name for m in info.members if m.kind == DIRECTORY and m.name in FLOWS]
    if flow == "unknown" and flows:
        info.notes.append(f"sub-folders named like usbboot flows: {', '.join(flows)} "
                          "(describe each of them)")
    bootable = [chip for chip in CHIPS.values() if usable_stage(chip, view.second_stage(chip))]
    stages = {chip.family: (stage.path if stage is not None else "missing")
              for chip in CHIPS.values() if (stage := view.second_stage(chip)) is not None}
    info.folder = FolderVerdict(flow=flow, flow_basis=basis, description=describe_flow(flow),
                                chips=chipsets.families(bootable), second_stages=stages)
    info.chips = info.folder.chips
    info.chip_basis = BASIS_FILES if info.chips else None

"""What each usbboot flow needs in its folder, checked against what is there.

The secure-boot rules are the project's own (:mod:`rpiboot.recovery.preflight`): the first
bootloader that verifies a signed config, and what the OTP options of config.txt need from
the image (a key; on Pi 5 countersigned firmware; on Pi 4 a new enough build).  A folder is
checked as rpiboot would serve it; every problem says what to do.
"""

from __future__ import annotations

from pathlib import Path

from rpiboot.chips import CHIPS, GADGET_FIRMWARE, MSD_FIRMWARE, Chip, eeprom_chips
from rpiboot.errors import RpibootError
from rpiboot.fwinfo import chipsets
from rpiboot.fwinfo.model import (
    EEPROM_IMAGE,
    ERROR,
    KEY,
    SECOND_STAGE,
    WARNING,
    FirmwareInfo,
)
from rpiboot.fwinfo.stages import ROLE_RECOVERY
from rpiboot.fwinfo.view import GADGET, RAMDISK, RAMDISK_FLOWS, View, usable_stage

PREPARE = ("rpiboot recovery prepare OUT --flow {flow} --image pieeprom-DATE.bin "
           "--recovery-bin recovery.bin --boot-conf boot.conf")


def check_flow(info: FirmwareInfo, view: View, flow: str) -> None:
    recovery = chipsets.for_recovery_dir(flow)
    if recovery is not None:
        _check_recovery(info, view, flow, *recovery)
    elif flow == "eeprom-erase":
        _check_erase(info, view)
    elif flow in RAMDISK_FLOWS or flow == RAMDISK:
        _check_ramdisk(info, view, flow)
    elif flow == MSD_FIRMWARE:
        _check_msd(info, view)
    elif flow == "rpi-eeprom-release":
        _note_release(info, view)
    _check_common(info, view, flow)


def _note_release(info: FirmwareInfo, view: View) -> None:
    stage = view.top["recovery.bin"]
    flows = [c.recovery_dir for c in chipsets.by_families(stage.chips) if c.recovery_dir]
    info.notes.append("to flash this release, build a recovery folder from it: "
                      + PREPARE.format(flow="|".join(flows) or "recovery|recovery5"))


def missing_stage(info: FirmwareInfo, chip: Chip, purpose: str, hint: str) -> None:
    """The folder has no second stage for ``chip``; say what rpiboot does instead."""
    fallback = (f"rpiboot then sends its built-in mass-storage {chip.second_stage} when one is "
                "installed: the board boots as a USB drive instead" if chip.builtin_msd
                else f"rpiboot cannot start a {chip.family} board from this folder")
    info.problem(ERROR, f"no {chip.second_stage}: the {chip.family} boot ROM asks for it "
                 f"({purpose}); {fallback}", hint)


def _check_recovery(info: FirmwareInfo, view: View, flow: str, chip: Chip, secure: bool) -> None:
    stage = view.second_stage(chip)
    copy = (f"Copy recovery.bin from rpi-eeprom firmware-{chip.prefix} here as "
            f"{chip.second_stage}, or build the folder with `{PREPARE.format(flow=flow)}`.")
    if stage is None:
        missing_stage(info, chip, "recovery.bin, which flashes pieeprom.bin", copy)
    elif stage.kind == SECOND_STAGE and stage.role != ROLE_RECOVERY:
        info.problem(ERROR, f"{chip.second_stage} is not recovery.bin ({stage.role}): the "
                     "board boots it instead of flashing pieeprom.bin", copy)
    _check_fresh_boards(info, view, chip, stage)
    image = _check_image(info, view, flow, chip)
    if image is None:
        return
    _check_config_copy(info, view, image)
    if secure:
        _check_secure_image(info, image)
    _check_otp(info, view, chip, image)


def _check_fresh_boards(info: FirmwareInfo, view: View, chip: Chip,
                        stage: FirmwareInfo | None) -> None:
    """A countersigned recovery.bin with program_pubkey: the boards it is meant to lock have
    no key yet, and their ROM refuses a countersigned second stage (usbboot
    secure-boot-recovery5 README; :func:`rpiboot.recovery.board.check_board`)."""
    config = view.top.get("config.txt")
    options = config.details.get("otp_options") if config is not None else None
    if stage is None or stage.signature is None or not stage.signature.countersigned \
            or not isinstance(options, list) or "program_pubkey" not in options:
        return
    info.problem(WARNING, f"{chip.second_stage} is countersigned and config.txt sets "
                 "program_pubkey: a board without a key yet (one this folder is meant to lock) "
                 f"refuses a countersigned {chip.second_stage}; only boards already locked to "
                 f"{stage.signature.customer_key_hash} run it",
                 "For first provisioning serve the Raspberry Pi recovery.bin (prepare without "
                 "--countersign-recovery / update-pieeprom without -r).")


def _check_image(info: FirmwareInfo, view: View, flow: str,
                 chip: Chip) -> FirmwareInfo | None:
    """pieeprom.bin and pieeprom.sig: present, the chip's, an image."""
    image = view.top.get("pieeprom.bin")
    if image is None:
        hint = ("Build pieeprom.bin and pieeprom.sig from pieeprom.original.bin and boot.conf: "
                "rpiboot recovery update-pieeprom (or usbboot's update-pieeprom.sh) here."
                if "pieeprom.original.bin" in view.top else f"Build the folder with "
                f"`{PREPARE.format(flow=flow)}`.")
        info.problem(ERROR, "no pieeprom.bin: recovery.bin has no bootloader to flash", hint)
        return None
    if image.kind != EEPROM_IMAGE or image.error is not None:
        info.problem(ERROR, f"pieeprom.bin is not a usable EEPROM image ({image.role})",
                     f"Use a pieeprom image from rpi-eeprom firmware-{chip.prefix}.")
        return None
    if chip.family not in image.chips:
        info.problem(ERROR, f"pieeprom.bin is a {'/'.join(image.chips) or 'unknown'} image, but "
                     f"this folder flashes {chip.family} boards",
                     f"Use a pieeprom image from rpi-eeprom firmware-{chip.prefix}.")
    if "pieeprom.sig" not in view.top:
        info.problem(ERROR, "no pieeprom.sig: recovery.bin checks pieeprom.bin against the "
                     "sha256 in it", "Write it: rpiboot sign file pieeprom.bin (or run "
                     "update-pieeprom again).")
    return image


def _check_config_copy(info: FirmwareInfo, view: View, image: FirmwareInfo) -> None:
    """boot.conf beside the image should be the config inside it."""
    import hashlib

    conf = view.top.get("boot.conf")
    config = image.details.get("config")
    if conf is None or conf.sha256 is None or not isinstance(config, str):
        return
    if hashlib.sha256(config.encode("utf-8")).hexdigest() != conf.sha256:
        info.problem(WARNING, "pieeprom.bin holds another config than boot.conf: boot.conf was "
                     "changed after pieeprom.bin was built, or the image comes from elsewhere",
                     "Rebuild pieeprom.bin (rpiboot recovery update-pieeprom, or usbboot's "
                     "update-pieeprom.sh) so the board gets the config you see.")


def _check_secure_image(info: FirmwareInfo, image: FirmwareInfo) -> None:
    from rpiboot.recovery.preflight import check_secure_boot_support

    state = image.details.get("config_signature")
    if state != "valid":
        info.problem(ERROR, f"this secure-boot flow flashes a config whose signature is {state}: "
                     "a secure-boot board refuses it", "Build pieeprom.bin with the signing key "
                     "(rpiboot recovery update-pieeprom -k KEY).")
    try:
        build = image.build.build_timestamp if image.build is not None else None
        check_secure_boot_support(image.path, build)
    except RpibootError as err:
        info.problem(ERROR, err.message, err.hint or "Use a newer pieeprom image.")


def _check_otp(info: FirmwareInfo, view: View, chip: Chip, image: FirmwareInfo) -> None:
    """The OTP options of config.txt against the image (the project's preflight rules)."""
    from rpiboot.eeprom.image import EepromImage
    from rpiboot.errors import InputError
    from rpiboot.recovery.preflight import check_otp_options

    config = view.top.get("config.txt")
    options = config.details.get("otp_options") if config is not None else None
    if not isinstance(options, list) or not options:
        return
    facts = image.details.get("secure_boot")
    countersigned = isinstance(facts, dict) and bool(facts.get("firmware_countersigned"))
    key = image.details.get("pubkey_hash")
    try:
        check_otp_options([str(o) for o in options], chip=chip,
                          image=EepromImage.load(Path(image.path)),
                          key_hash=key if isinstance(key, str) else None,
                          firmware_countersigned=countersigned,
                          where=f"{view.name}/config.txt", error=InputError)
    except RpibootError as err:
        info.problem(ERROR, err.message, err.hint or "Fix config.txt or the image.")


def _check_erase(info: FirmwareInfo, view: View) -> None:
    if not any((s := view.second_stage(chip)) is not None and s.role == ROLE_RECOVERY
               for chip in eeprom_chips()):
        names = " / ".join(f"{c.second_stage} (firmware-{c.prefix})" for c in eeprom_chips())
        info.problem(ERROR, "no recovery.bin as the second stage: erase_eeprom is carried out "
                     "by recovery.bin", f"Copy rpi-eeprom's recovery.bin here as {names}.")


def _gadget_chips() -> str:
    return "/".join(c.family for c in CHIPS.values() if c.gadget_firmware == GADGET_FIRMWARE)


def _check_ramdisk(info: FirmwareInfo, view: View, flow: str) -> None:
    stages = [chip for chip in CHIPS.values() if view.second_stage(chip) is not None]
    if flow not in ("secure-boot-msd", RAMDISK) and not view.has_archive:
        info.problem(ERROR, f"no bootfiles.bin: the bootloader stages of {_gadget_chips()} "
                     "boards come from it", "Copy usbboot's firmware/bootfiles.bin here "
                     f"({GADGET}/bootfiles.bin links to it).")
    if flow in ("secure-boot-msd", RAMDISK) and not view.has_archive and not stages:
        info.problem(ERROR, "no second stage and no bootfiles.bin: no board can start from this "
                     "folder", f"Add bootfiles.bin ({_gadget_chips()}) or the chip's "
                     "second stage (usbboot firmware/PREFIX/).")
    if "boot.img" not in view.top:
        info.problem(ERROR, "no boot.img: with boot_ramdisk=1 the bootloader loads boot.img and "
                     "has nothing else to boot", "Build it (rpiboot bootimg create, or "
                     "usbboot's build scripts) or copy the released boot.img here.")
    if not view.flag("boot_ramdisk"):
        info.problem(ERROR, "config.txt does not set boot_ramdisk=1: the bootloader does not "
                     "load boot.img", "Add boot_ramdisk=1 to config.txt.")
    if flow.startswith("secure-boot") and "boot.sig" not in view.top:
        info.problem(WARNING, "no boot.sig: a secure-boot board refuses boot.img (only boards "
                     "without secure boot accept it)", "Sign it: rpiboot sign file boot.img "
                     "-k KEY.")


def _check_msd(info: FirmwareInfo, view: View) -> None:
    """The VideoCore firmware of the msd/ files (chip table ``msd_files``) must be there for
    the chips whose second stage is; an EEPROM bootloader's (BCM2711) is only a note."""
    reported: set[str] = set()
    for chip in CHIPS.values():
        for firmware in chip.msd_files[1:]:
            if firmware in reported or view.lookup(chip, firmware) is not None \
                    or not usable_stage(chip, view.second_stage(chip)):
                continue
            reported.add(firmware)
            if chip.eeprom_size is not None:
                info.notes.append(f"no {firmware}: usbboot's {MSD_FIRMWARE}/ has none either "
                                  f"(the C rpiboot embeds only {chip.second_stage} for "
                                  f"{chip.family})")
            else:
                info.problem(ERROR, f"{chip.second_stage} loads {firmware}, which is not here: "
                             f"{chip.series} boards stop after the second stage",
                             f"Copy usbboot's {MSD_FIRMWARE}/{firmware} here.")


def _check_common(info: FirmwareInfo, view: View, flow: str) -> None:
    for key in view.of_kind(KEY):
        if key.details.get("private"):
            info.problem(WARNING, f"{key.name} is a private key: whoever copies this folder "
                         "can sign firmware and configs that boards locked to it accept",
                         "Keep signing keys out of boot folders (pass -k from a protected "
                         "place, or use an HSM wrapper).")
    if flow not in RAMDISK_FLOWS:
        if view.flag("boot_ramdisk") and "boot.img" not in view.top and not view.has_archive:
            info.problem(ERROR, "config.txt sets boot_ramdisk=1 but there is no boot.img",
                         "Add boot.img, or remove boot_ramdisk=1.")
        if "boot.img" in view.top and not view.flag("boot_ramdisk"):
            info.problem(WARNING, "boot.img is here but config.txt does not set "
                         "boot_ramdisk=1: it is not loaded", "Add boot_ramdisk=1 to config.txt.")

"""config.txt (read by the second stage and the firmware), the bootloader's boot.conf, and
cmdline.txt: the settings that change what a board does, with the dangerous ones flagged.

``config.txt`` in a recovery folder is read by recovery.bin, which writes the chip's OTP for
``program_pubkey``, ``revoke_devkey``, ``program_jtag_lock`` and ``program_rpiboot_gpio``
(:data:`rpiboot.recovery.preflight.OTP_OPTIONS`): irreversible.  ``erase_eeprom`` wipes the
bootloader.  ``boot_ramdisk`` makes the bootloader load boot.img (and, on a secure-boot board,
check boot.sig).
"""

from __future__ import annotations

import re

from rpiboot.fwinfo.blob import Blob, new_info
from rpiboot.fwinfo.model import BOOTLOADER_CONFIG, CMDLINE, CONFIG_TXT, WARNING, FirmwareInfo
from rpiboot.recovery.preflight import OTP_OPTIONS

MAX_SETTINGS = 256
BOOT_MODES = {  # BOOT_ORDER nibbles (Raspberry Pi bootloader documentation)
    0x0: "SD card detect", 0x1: "SD card", 0x2: "network", 0x3: "RPIBOOT (USB device)",
    0x4: "USB mass storage", 0x5: "BCM-USB-MSD (SoC USB)", 0x6: "NVMe", 0x7: "HTTP",
    0xE: "stop", 0xF: "restart",
}
OTP_TEXT = {
    "program_pubkey": "writes the SHA-256 of the EEPROM's public key into OTP: the board then "
                      "only runs firmware and configs signed with that key",
    "revoke_devkey": "revokes the Raspberry Pi development key in OTP",
    "program_jtag_lock": "permanently disables VideoCore JTAG",
    "program_rpiboot_gpio": "makes a GPIO select RPIBOOT mode, in OTP",
}
_SECTION = re.compile(r"\[([^\]]{0,64})\]")
_COMMENTED = re.compile(r"#\s*(\w{1,64})\s*=\s*(\S{0,64})\s*")


def parse_settings(text: str) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(settings, commented-out settings): each ``{"section", "name", "value", "line"}``; at
    most :data:`MAX_SETTINGS` of each."""
    settings: list[dict[str, object]] = []
    commented: list[dict[str, object]] = []
    section = "all"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if (match := _COMMENTED.fullmatch(line)) is not None:
            if len(commented) < MAX_SETTINGS:
                commented.append({"section": section, "name": match.group(1),
                                  "value": match.group(2), "line": number})
            continue
        line = line.split("#", 1)[0].strip()
        if (header := _SECTION.fullmatch(line)) is not None:
            section = header.group(1).strip()
            continue
        name, equals, value = line.partition("=")
        if equals and name.strip() and len(settings) < MAX_SETTINGS:
            settings.append({"section": section, "name": name.strip()[:64],
                             "value": value.strip()[:256], "line": number})
    return settings, commented


def _value(settings: list[dict[str, object]], name: str) -> str | None:
    """The last value of ``name`` (later lines win), case-sensitive as the firmware reads."""
    values = [str(s["value"]) for s in settings if s["name"] == name]
    return values[-1] if values else None


def _enabled(value: str | None) -> bool:
    return value not in (None, "", "0")


def _text(blob: Blob, limit: int) -> tuple[str, bool]:
    """The text of ``blob`` (undecodable bytes replaced) and whether it was cut at ``limit``."""
    data = blob.head[:limit]
    return data.decode("utf-8", errors="replace"), blob.size > len(data)


def describe_config_txt(blob: Blob, limit: int) -> FirmwareInfo:
    info = new_info(blob, CONFIG_TXT, "config.txt: read by the second stage and the firmware")
    text, cut = _text(blob, limit)
    settings, commented = parse_settings(text)
    otp = [name for name in OTP_OPTIONS if _enabled(_value(settings, name))]
    info.details = {
        "settings": settings, "otp_options": otp,
        "commented_otp_options": sorted({str(c["name"]) for c in commented
                                         if c["name"] in OTP_OPTIONS} - set(otp)),
        "boot_ramdisk": _enabled(_value(settings, "boot_ramdisk")),
        "erase_eeprom": _enabled(_value(settings, "erase_eeprom")),
    }
    for name in otp:
        info.problem(WARNING, f"{blob.name}: {name}={_value(settings, name)} is IRREVERSIBLE: "
                     f"recovery.bin {OTP_TEXT[name]}",
                     "Keep it only on a provisioning station that means to lock boards; "
                     "remove the line otherwise.")
    if info.details["erase_eeprom"]:
        info.problem(WARNING, f"{blob.name}: erase_eeprom=1 erases the bootloader EEPROM: the "
                     "board does not boot from it until it is flashed again",
                     "Use this folder only to wipe boards (usbboot eeprom-erase).")
    if info.details["boot_ramdisk"]:
        info.notes.append("boot_ramdisk=1: the bootloader loads boot.img (a secure-boot board "
                          "also checks boot.sig)")
    for name in info.details["commented_otp_options"]:  # type: ignore[attr-defined]
        info.notes.append(f"{name} is commented out (inactive)")
    if cut:
        info.notes.append(f"only the first {limit} bytes were read")
    return info


def boot_order(value: str) -> list[str] | None:
    """``0xf25641`` → the modes in the order tried (lowest nibble first); None if invalid."""
    try:
        number = int(value, 16)
    except ValueError:
        return None
    if number <= 0 or number.bit_length() > 64:
        return None
    modes = []
    while number:
        modes.append(BOOT_MODES.get(number & 0xF, f"unknown mode {number & 0xF:#x}"))
        number >>= 4
    return modes


def config_facts(text: str) -> dict[str, object]:
    """The bootloader config facts of a boot.conf / bootconf.txt text."""
    settings, _ = parse_settings(text)
    order = _value(settings, "BOOT_ORDER")
    return {"settings": settings, "boot_order": order,
            "boot_order_modes": boot_order(order) if order is not None else None,
            "signed_boot": _enabled(_value(settings, "SIGNED_BOOT")),
            "self_update": _value(settings, "ENABLE_SELF_UPDATE")}


def describe_boot_conf(blob: Blob, limit: int) -> FirmwareInfo:
    info = new_info(blob, BOOTLOADER_CONFIG,
                    "bootloader EEPROM config (boot.conf: stored in pieeprom.bin as bootconf.txt)")
    text, cut = _text(blob, limit)
    info.details = config_facts(text)
    if info.details["boot_order"] is not None and info.details["boot_order_modes"] is None:
        info.problem(WARNING, f"{blob.name}: BOOT_ORDER={info.details['boot_order']} is not a "
                     "hexadecimal list of boot modes", "Write it like BOOT_ORDER=0xf41.")
    if cut:
        info.notes.append(f"only the first {limit} bytes were read")
    return info


def describe_cmdline(blob: Blob, limit: int) -> FirmwareInfo:
    info = new_info(blob, CMDLINE, "kernel command line (cmdline.txt)")
    text, _ = _text(blob, min(limit, 4096))
    info.details = {"cmdline": " ".join(text.split())}
    return info

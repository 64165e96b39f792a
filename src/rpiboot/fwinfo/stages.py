"""Second stages (bootcode*.bin, recovery.bin), the bootloader's bootmain, and its blobs.

Which chip a second stage is for, most certain first: a BCM2712 signature block chain whose
innermost block verifies with the Raspberry Pi key of the chip table; the per-chip folder of a
bootfiles.bin member (rpiboot serves ``2711/NAME`` to BCM2711 boards only); a BCM2711 signature
tail (structure only: the key is in the ROM and the HMAC key is secret); the name the boot ROM
asks for; the legacy second stage's "Raspberry Pi Bootcode" string.  What the stage does comes
from strings in it (recovery.bin reports ``*EEPROM_UPDATE*``; the first stage of the current
bootloader loads ``bootmain``; the A/B read-only stage loads ``bootsys``).
"""

from __future__ import annotations

import re
import struct

from rpiboot.chips import BootcodeSignature, Chip, chip_for_bootcode_signature, eeprom_chips
from rpiboot.fwinfo import chipsets
from rpiboot.fwinfo.blob import Blob, new_info
from rpiboot.fwinfo.builds import bootloader_build, looks_like_bootloader
from rpiboot.fwinfo.model import (
    BASIS_CHIP_FOLDER,
    BASIS_CONTENT,
    BASIS_FILE_NAME,
    BASIS_SIGNATURE,
    BASIS_SIGNATURE_STRUCTURE,
    BOOTLOADER_BLOB,
    BOOTLOADER_STAGE,
    ERROR,
    SECOND_STAGE,
    FirmwareInfo,
    SignatureBlockInfo,
    SignatureInfo,
)
from rpiboot.signing.bootcode import (
    CUSTOMER_KEYNUM,
    MAX_SIGNED_SIZE,
    TAIL_2711_SIZE,
    BootcodeFormat,
    bootcode_format,
    rpi_signature_problem,
)

ROLE_RECOVERY = ("recovery.bin: flashes the bootloader EEPROM (pieeprom.bin) and applies the "
                 "OTP options of config.txt")
ROLE_FIRST_STAGE = "bootloader first stage: loads memsys*.bin, mcb.bin and bootmain"
ROLE_AB_LOADER = "A/B bootloader read-only stage: loads bootsys from EEPROM partition A or B"
ROLE_SINGLE = ("EEPROM bootloader as one second stage: reads config.txt, loads the VideoCore "
               "firmware (start*.elf)")
ROLE_LEGACY = "BCM2835/BCM2837 second stage: reads config.txt, loads start.elf"
ROLE_UNKNOWN = "second stage (what the boot ROM runs)"
ROLE_BOOTMAIN = "bootloader main stage (bootmain), loaded by the first stage"
LEGACY_MARKER = b"Raspberry Pi Bootcode"
SECOND_STAGE_NAME = re.compile(r"(?:bootcode[45]?|recovery\d?|bootsys)(?:[-.]\w+)*\.bin|bootsys")
RECOVERY_NAME = re.compile(r"recovery\d?(?:[-.]\w+)*\.bin")
FORMAT_TEXT = {
    BootcodeSignature.RSA_SHA256_BLOCK: "BCM2712 signature block of 532 bytes",
    BootcodeSignature.RSA_SHA1_HMAC: "BCM2711 signature tail of 284 bytes (RSA + HMAC)",
}
BLOBS = (  # name pattern, role (their chip is the per-chip folder they are served from)
    (r"memsys\d*\.bin", "SDRAM set-up code (memsys) loaded by the bootloader first stage"),
    (r"mcb\.bin", "memory controller set-up data (mcb) loaded by the bootloader"),
    (r"rp1c0fw\d*\.bin", "RP1 I/O controller firmware"),
    (r"vl805(hub|mcu)?\.bin", "VL805 USB controller firmware"),
    (r"(logo|font|qrcode)\.bin", "bootloader diagnostics-screen asset"),
)


def is_blob_name(name: str) -> bool:
    return any(re.fullmatch(pattern, name.lower()) for pattern, _ in BLOBS)


def is_second_stage_name(name: str) -> bool:
    return SECOND_STAGE_NAME.fullmatch(name.lower()) is not None


def stage_role(data: bytes) -> str:
    """What a second stage does, from the strings in it."""
    if b"*EEPROM_UPDATE*" in data:
        return ROLE_RECOVERY
    if b"Failed to find bootsys" in data:
        return ROLE_AB_LOADER
    if looks_like_bootloader(data):
        return ROLE_FIRST_STAGE if b"bootmain\x00" in data else ROLE_SINGLE
    return ROLE_LEGACY if LEGACY_MARKER in data else ROLE_UNKNOWN


def signature_info(data: bytes, fmt: BootcodeFormat) -> tuple[SignatureInfo, Chip | None, str]:
    """The signature of a second stage, the chip its format is for, and how sure that is."""
    from rpiboot.signing.keys import key_hash

    chip = chip_for_bootcode_signature(fmt.signature)
    if fmt.signature is BootcodeSignature.RSA_SHA1_HMAC:
        keynum = struct.unpack_from("<I", data, len(data) - TAIL_2711_SIZE + 4)[0]
        return SignatureInfo(
            format=fmt.signature.value, signed=True, rpi_signature="unverifiable", keynum=keynum,
            detail="BCM2711 tail (RSA-SHA1 + HMAC-SHA1): its key is in the boot ROM and the HMAC "
            "key is secret, so only its structure can be checked off the board"), chip, \
            BASIS_SIGNATURE_STRUCTURE
    if chip is None or not fmt.blocks:
        return SignatureInfo(format="none", signed=False, rpi_signature="absent"), None, ""
    problem = rpi_signature_problem(fmt, chip.rpi_bootcode_key_hashes)
    blocks = [SignatureBlockInfo(b.offset, b.sig_type, b.keynum, b.version, b.verifies,
                                 key_hash(b.pubkey_bin).hex()) for b in fmt.blocks]
    customer = next((b for b in blocks if b.keynum == CUSTOMER_KEYNUM), None)
    info = SignatureInfo(
        format=fmt.signature.value, signed=True,
        rpi_signature="verified" if problem is None else "invalid",
        detail=problem or "the Raspberry Pi block verifies with the Raspberry Pi key",
        countersigned=fmt.countersigned,
        customer_key_hash=customer.key_hash if customer else None, blocks=blocks)
    return info, chip, BASIS_SIGNATURE if problem is None else BASIS_SIGNATURE_STRUCTURE


def describe_second_stage(blob: Blob) -> FirmwareInfo:
    """A bootcode*.bin / recovery.bin / bootsys: role, chip, build, signature, problems."""
    data = blob.head
    info = new_info(blob, SECOND_STAGE, stage_role(data))
    info.build = bootloader_build(data, blob.label)
    fmt = bootcode_format(data)
    info.signature, signed_chip, basis = signature_info(data, fmt)
    named = chipsets.for_second_stage_name(blob.name)
    folder = chipsets.for_prefix(blob.prefix) if blob.prefix else []
    if signed_chip is not None:
        if basis != BASIS_SIGNATURE and signed_chip in folder:
            basis = BASIS_CHIP_FOLDER  # the folder is a fact, the tail only a structure
        info.chips, info.chip_basis = [signed_chip.family], basis
    elif folder:
        info.chips, info.chip_basis = chipsets.families(folder), BASIS_CHIP_FOLDER
    elif named:
        info.chips, info.chip_basis = chipsets.families(named), BASIS_FILE_NAME
    elif info.role == ROLE_LEGACY:
        info.chips = chipsets.families(chipsets.for_second_stage_name("bootcode.bin"))
        info.chip_basis = BASIS_CONTENT
    expected = folder or named or (list(eeprom_chips()) if RECOVERY_NAME.fullmatch(
        blob.lower) else [])
    _check_chip(info, blob, fmt, signed_chip, expected)
    _check_signature(info, blob, fmt, signed_chip)
    return info


def _check_chip(info: FirmwareInfo, blob: Blob, fmt: BootcodeFormat, signed: Chip | None,
                expected: list[Chip]) -> None:
    """The file must carry the signature format of the chips that will be sent it."""
    if not expected:
        return
    wanted = chipsets.families(expected)
    who = f"the {chipsets.text(wanted)} boot ROM"
    if signed is not None and signed not in expected:
        info.problem(ERROR, f"{blob.name} is a {signed.family} second stage (it ends with a "
                     f"{FORMAT_TEXT[fmt.signature]}), but {who} is sent this file",
                     f"Use the second stage made for {'/'.join(wanted)} "
                     f"({_release_hint(expected)}).")
    elif signed is None and all(c.bootcode_signature is not BootcodeSignature.NONE
                                for c in expected):
        formats = " or ".join(dict.fromkeys(FORMAT_TEXT[c.bootcode_signature]
                                            for c in expected))
        info.problem(ERROR, f"{blob.name} has no {formats} at its end: {who} only runs "
                     "second stages signed by Raspberry Pi",
                     f"The file is damaged, truncated or not a bootloader; use the one "
                     f"Raspberry Pi released ({_release_hint(expected)}).")


def _release_hint(chips: list[Chip]) -> str:
    prefixes = [c.prefix for c in chips if c.eeprom_size is not None]
    if prefixes:
        return "rpi-eeprom " + ", ".join(f"firmware-{p}" for p in dict.fromkeys(prefixes))
    return "usbboot msd/"


def _check_signature(info: FirmwareInfo, blob: Blob, fmt: BootcodeFormat,
                     signed: Chip | None) -> None:
    sig = info.signature
    if signed is None or sig is None:
        return
    if sig.rpi_signature == "invalid":
        info.problem(ERROR, f"{blob.name}: {sig.detail}",
                     "The boot ROM checks this signature and would refuse the file; use an "
                     f"unmodified file from rpi-eeprom firmware-{signed.prefix}.")
    if blob.size > MAX_SIGNED_SIZE:
        info.problem(ERROR, f"{blob.name} is {blob.size} bytes: the boot ROM loads at most "
                     f"{MAX_SIGNED_SIZE} bytes of a signed second stage",
                     "Use the Raspberry Pi original (countersign it only once).")
    if sig.countersigned:
        info.notes.append(
            f"countersigned with the customer key hash {sig.customer_key_hash}: only a board "
            "whose OTP holds that key hash runs it (a board without a key refuses a "
            f"countersigned {signed.second_stage})")


def describe_bootmain(blob: Blob) -> FirmwareInfo:
    """The bootloader's main stage (an ELF for the VideoCore with the bootloader strings)."""
    info = new_info(blob, BOOTLOADER_STAGE, ROLE_BOOTMAIN)
    info.build = bootloader_build(blob.head, blob.label)
    _chips_from_folder(info, blob)
    return info


def describe_bootloader_blob(blob: Blob) -> FirmwareInfo:
    """memsys*.bin, mcb.bin, rp1c0fw*.bin ...: what they are is known from the name only."""
    role = next((text for pattern, text in BLOBS if re.fullmatch(pattern, blob.lower)),
                "bootloader data")
    info = new_info(blob, BOOTLOADER_BLOB, role)
    _chips_from_folder(info, blob)
    info.notes.append("identified by its name only (the file carries no version)")
    return info


def _chips_from_folder(info: FirmwareInfo, blob: Blob) -> bool:
    chips = chipsets.for_prefix(blob.prefix) if blob.prefix else []
    if chips:
        info.chips, info.chip_basis = chipsets.families(chips), BASIS_CHIP_FOLDER
    return bool(chips)

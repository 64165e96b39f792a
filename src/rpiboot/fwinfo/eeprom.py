"""Bootloader EEPROM images (pieeprom*.bin): :func:`rpiboot.eeprom.info.describe` plus the
build, the signature of the bootloader code in it, and the secure-boot facts.

Secure-boot minimums come from where the project keeps them: the first bootloader that
verifies a signed config (:data:`rpiboot.recovery.preflight.MIN_SECURE_BOOT_TIMESTAMP`), and
per chip the first build recovery.bin may program the key hash with
(``Chip.program_pubkey_min_build``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rpiboot.chips import BootcodeSignature, Chip, chip_for_eeprom_size
from rpiboot.fwinfo.blob import Blob, new_info
from rpiboot.fwinfo.builds import bootloader_build
from rpiboot.fwinfo.configs import config_facts
from rpiboot.fwinfo.model import (
    BASIS_EEPROM_SIZE,
    EEPROM_IMAGE,
    ERROR,
    WARNING,
    FirmwareInfo,
    SignatureInfo,
)
from rpiboot.fwinfo.stages import FORMAT_TEXT, signature_info
from rpiboot.recovery.preflight import MIN_SECURE_BOOT_TIMESTAMP

if TYPE_CHECKING:
    from rpiboot.eeprom.image import EepromImage
    from rpiboot.eeprom.info import ImageInfo

MAX_SECTION_NAMES = 64


def describe_eeprom(blob: Blob) -> FirmwareInfo:
    """An SPI EEPROM bootloader image (raises InputError for a damaged one)."""
    from rpiboot.eeprom.image import EepromImage
    from rpiboot.eeprom.info import describe

    image = EepromImage(blob.head, source=blob.label)  # the size check comes first
    summary = describe(image)
    chip = chip_for_eeprom_size(image.size)
    info = new_info(blob, EEPROM_IMAGE, "bootloader SPI EEPROM image (pieeprom.bin)")
    if chip is not None:
        info.chips, info.chip_basis = [chip.family], BASIS_EEPROM_SIZE
    info.build = bootloader_build(image.to_bytes(), blob.label)
    bootcode_sig, bootsys_sig = _code_signatures(info, image)
    info.signature = bootcode_sig
    named = [s.name for s in image.sections if s.name]
    info.details = {
        "layout": summary.layout, "section_count": len(image.sections),
        "sections": named[:MAX_SECTION_NAMES],
        "config": summary.config, **_config(summary.config),
        "pubkey_hash": summary.pubkey_hash, "config_signature": summary.config_signature,
        "config_signature_detail": summary.config_signature_detail,
        "update_timestamp": summary.update_timestamp,
        "bootsys_signature": _plain(bootsys_sig),
    }
    info.details["secure_boot"] = _secure_boot(info, chip, bootcode_sig, bootsys_sig, summary)
    return info


def _config(text: str | None) -> dict[str, object]:
    facts = config_facts(text or "")
    return {"boot_order": facts["boot_order"], "boot_order_modes": facts["boot_order_modes"],
            "signed_boot": facts["signed_boot"]}


def _plain(sig: SignatureInfo | None) -> dict[str, object] | None:
    from dataclasses import asdict

    return asdict(sig) if sig is not None else None


def _code_signatures(info: FirmwareInfo, image: EepromImage
                     ) -> tuple[SignatureInfo, SignatureInfo | None]:
    """The signatures of the image's bootcode and (A/B images) bootsys; a problem when their
    format is another chip's."""
    from rpiboot.eeprom.image import BOOTCODE_BIN, BOOTSYS
    from rpiboot.signing.bootcode import bootcode_format

    found: list[SignatureInfo | None] = []
    for name in (BOOTCODE_BIN, BOOTSYS):
        data = image.read_file(name)
        if data is None:
            found.append(None)
            continue
        fmt = bootcode_format(data)
        sig, chip, _ = signature_info(data, fmt)
        found.append(sig)
        expected = chip_for_eeprom_size(image.size)
        if chip is not None and expected is not None and chip is not expected:
            info.problem(ERROR, f"the {name} in this {expected.family}-sized image ends with a "
                         f"{FORMAT_TEXT[fmt.signature]}: it is {chip.family} code",
                         f"Use a pieeprom image from rpi-eeprom firmware-{expected.prefix}.")
        if sig.rpi_signature == "invalid":
            info.problem(ERROR, f"{name} in the image: {sig.detail}",
                         "The boot ROM would refuse it; use an unmodified image from rpi-eeprom.")
    assert found[0] is not None
    return found[0], found[1]


def _secure_boot(info: FirmwareInfo, chip: Chip | None, code: SignatureInfo,
                 bootsys: SignatureInfo | None, summary: ImageInfo) -> dict[str, object]:
    """The secure-boot facts of the image, and problems for states that cannot work."""
    built = summary.build_timestamp
    capable = None if built is None else built >= MIN_SECURE_BOOT_TIMESTAMP
    minimum = chip.program_pubkey_min_build if chip is not None else None
    parts = [sig for sig in (code, bootsys) if sig is not None]
    countersign = chip is not None and \
        chip.bootcode_signature is BootcodeSignature.RSA_SHA256_BLOCK
    countersigned = countersign and all(sig.countersigned for sig in parts)
    keys = {sig.customer_key_hash for sig in parts if sig.countersigned}
    facts: dict[str, object] = {
        "signed_config": summary.config_signature == "valid",
        "key_hash": summary.pubkey_hash,
        "supports_secure_boot": capable,
        "min_secure_boot_build": MIN_SECURE_BOOT_TIMESTAMP,
        "supports_program_pubkey": None if built is None or minimum is None else built >= minimum,
        "min_program_pubkey_build": minimum,
        "firmware_countersigned": countersigned if countersign else None,
        "countersign_key_hashes": sorted(k for k in keys if k),
    }
    _secure_boot_problems(info, facts, summary)
    return facts


def _secure_boot_problems(info: FirmwareInfo, facts: dict[str, object],
                          summary: ImageInfo) -> None:
    state = summary.config_signature
    if state in ("invalid", "malformed"):
        info.problem(ERROR, f"bootconf.sig is {state}: {summary.config_signature_detail}",
                     "A secure-boot board refuses this config; sign boot.conf again "
                     "(rpiboot recovery update-pieeprom -k KEY).")
    if state == "valid" and facts["supports_secure_boot"] is False:
        info.problem(ERROR, f"the config is signed, but this bootloader (BUILD_TIMESTAMP "
                     f"{summary.build_timestamp}) is older than the first that verifies signed "
                     f"configs ({MIN_SECURE_BOOT_TIMESTAMP})", "Use a newer pieeprom image.")
    keys = facts["countersign_key_hashes"]
    stray = [k for k in keys if facts["key_hash"] is not None and k != facts["key_hash"]] \
        if isinstance(keys, list) else []
    if stray:
        info.problem(ERROR, f"the firmware is countersigned with key hash {stray[0]}, not with "
                     f"the embedded key ({facts['key_hash']}): a board locked to the embedded "
                     "key refuses it", "Countersign the Raspberry Pi original with the signing "
                     "key (rpiboot recovery update-pieeprom -f -k KEY).")
    if facts["key_hash"] is not None and state == "placeholder":
        info.problem(WARNING, "the image embeds a public key but its bootconf.sig is a "
                     "placeholder: a secure-boot board refuses the config",
                     "Sign the config (rpiboot recovery update-pieeprom -k KEY).")

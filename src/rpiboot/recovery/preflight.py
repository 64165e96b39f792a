"""Checks that run before anything is signed, countersigned or written, and before a directory
that programs a board's OTP is built.

Which chip a file is for:

* an EEPROM image: its size (the chip table's ``eeprom_size``: 512 KiB BCM2711, 2 MiB BCM2712 —
  true of every released image) and the format of its bootcode (and ``bootsys``) signature;
* a second stage (recovery.bin, an image's bootcode or bootsys): the signature at its end.
  BCM2712: a chain of 532-byte blocks whose length fields match their offsets, the innermost
  one made by Raspberry Pi — cryptographically verified, and its key must be the Raspberry Pi
  key of the chip table.  BCM2711: a 284-byte tail whose length field matches its offset and
  whose key number is one the ROM knows — a **structural heuristic** (the chance that another
  file matches by accident is about 2^-32), because the RSA key is in the ROM and the HMAC key
  is secret: a 2711 signature cannot be verified off the board.

Refusals that ``force`` may override (each is then reported, the CLI prints a warning block):
a second stage that does not verify, is signed with an unknown key, or has no recognisable
signature.  Never overridable: a file positively identified as the other chip's, an image
of the wrong size, an input that is already countersigned when it is about to be again, a
signature that would not fit, and every key or board mismatch (:mod:`rpiboot.recovery.board`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rpiboot.chips import BootcodeSignature, Chip, chip_for_bootcode_signature, size_text
from rpiboot.errors import InputError, RpibootError, UsageError

if TYPE_CHECKING:
    from rpiboot.eeprom.image import EepromImage
    from rpiboot.signing.bootcode import BootcodeFormat

MIN_SECURE_BOOT_TIMESTAMP = 1632136573  # 2021-09-20: first bootloader supporting secure boot
# config.txt options recovery.bin acts on by writing the chip's OTP memory: irreversible
OTP_OPTIONS = ("program_pubkey", "program_jtag_lock", "revoke_devkey", "program_rpiboot_gpio")
SIGNED_SIG_SIZE = 65 + 16 + 522  # sha256 line, "ts: " line (11 digits), rsa2048 line
FORCE_HINT = ("Only if you are sure: --force (force=True) uses it anyway, with a warning "
              "that says what was overridden.")
_FORMAT_TEXT = {
    BootcodeSignature.RSA_SHA256_BLOCK: "BCM2712 signature block of 532 bytes",
    BootcodeSignature.RSA_SHA1_HMAC: "BCM2711 signature tail of 284 bytes (RSA + HMAC)",
}


class Preflight:
    """Collects the refusals ``force`` overrides; raises every other one at once."""

    def __init__(self, *, force: bool = False) -> None:
        self.force = force
        self.overrides: list[str] = []

    def refuse(self, message: str, *, hint: str, overridable: bool = False,
               error: type[RpibootError] = InputError) -> None:
        """Raise ``error``; or, for an ``overridable`` refusal under ``force``, record it."""
        if overridable and self.force:
            self.overrides.append(message)
            return
        raise error(message, hint=f"{hint}\n{FORCE_HINT}" if overridable else hint)


def _chip_text(chip: Chip) -> str:
    return f"{chip.family} ({chip.series} family)"


def check_second_stage(pf: Preflight, data: bytes, *, what: str, chip: Chip,
                       countersign: bool = False) -> BootcodeFormat:
    """``data`` (named ``what`` in messages) must be a second stage for ``chip`` whose Raspberry
    Pi signature verifies; with ``countersign`` it must also take one more block."""
    from rpiboot.signing.bootcode import BLOCK_2712_SIZE, MAX_SIGNED_SIZE, bootcode_format

    fmt = bootcode_format(data)
    expected = chip.bootcode_signature
    if fmt.signature is BootcodeSignature.NONE:
        if expected is not BootcodeSignature.NONE:
            pf.refuse(f"{what} is not a signed {_chip_text(chip)} second stage: no "
                      f"{_FORMAT_TEXT[expected]} at its end",
                      hint=f"Use the file Raspberry Pi released for this chip (rpi-eeprom "
                      f"firmware-{chip.prefix}); this one is damaged or not a bootloader.",
                      overridable=True)
        return fmt
    found = chip_for_bootcode_signature(fmt.signature)
    if found is not chip:
        other = _chip_text(found) if found is not None else "another chip's"
        raise InputError(f"{what} is a {other} second stage (it ends with a "
                         f"{_FORMAT_TEXT[fmt.signature]}), but these files are for "
                         f"{_chip_text(chip)} boards",
                         hint=f"Use the {chip.family} file (rpi-eeprom firmware-{chip.prefix}).")
    if fmt.signature is BootcodeSignature.RSA_SHA256_BLOCK:
        _check_rpi_signature(pf, fmt, what=what, chip=chip)
        if countersign and fmt.countersigned:
            raise InputError(f"{what} is already countersigned (it ends with a keynum 16 block)",
                             hint="Countersign the Raspberry Pi original, once.")
    if countersign and len(data) + BLOCK_2712_SIZE > MAX_SIGNED_SIZE:
        raise InputError(f"{what}: countersigned it would be {len(data) + BLOCK_2712_SIZE} "
                         f"bytes, more than the boot ROM loads ({MAX_SIGNED_SIZE})",
                         hint="Use the Raspberry Pi original.")
    return fmt


def _check_rpi_signature(pf: Preflight, fmt: BootcodeFormat, *, what: str, chip: Chip) -> None:
    from rpiboot.signing.bootcode import rpi_signature_problem

    problem = rpi_signature_problem(fmt, chip.rpi_bootcode_key_hashes)
    if problem is not None:
        pf.refuse(f"{what}: {problem}",
                  hint="The boot ROM checks this signature: a board would refuse this file, or "
                  "it is not Raspberry Pi's. Check it with `rpiboot sign bootcode-info FILE` and "
                  f"use an unmodified file from rpi-eeprom firmware-{chip.prefix}.",
                  overridable=True)


def check_image(pf: Preflight, image: EepromImage, *, chip: Chip,
                countersign: bool) -> dict[str, BootcodeFormat]:
    """The EEPROM ``image`` is for ``chip``: its size, its bootcode and bootsys signatures; with
    ``countersign``, one more block fits after each of them.  Returns the signature format of
    each part, by a name for messages."""
    from rpiboot.eeprom.image import BOOTCODE_BIN, BOOTSYS

    if image.size != chip.eeprom_size:
        raise InputError(f"{image.source}: {image.size} bytes, but {_chip_text(chip)} boards "
                         f"need a {size_text(chip.eeprom_size or 0)} EEPROM image",
                         hint=f"Use a pieeprom image from rpi-eeprom firmware-{chip.prefix}.")
    parts = {BOOTCODE_BIN: image.read_file(BOOTCODE_BIN) or b""}
    bootsys = image.read_file(BOOTSYS)
    if bootsys is not None:
        parts[BOOTSYS] = bootsys
    formats = {f"{name} in {image.source}": check_second_stage(
        pf, data, what=f"{name} in {image.source}", chip=chip, countersign=countersign)
        for name, data in parts.items()}
    if countersign:
        _check_room(image, parts)
    return formats


def check_config_fits(image: EepromImage, config: bytes, *, signed: bool) -> None:
    """``config`` (and, when ``signed``, a bootconf.sig and a pubkey.bin) can be stored in a
    copy of ``image``: its "not found" / "too large" / "does not fit" refusals come now."""
    from rpiboot.eeprom.image import EepromImage
    from rpiboot.signing.keys import PUBKEY_BIN_SIZE

    trial = EepromImage(image.to_bytes(), source=image.source)
    trial.replace_file("bootconf.txt", config)
    if signed:
        trial.replace_file("bootconf.sig", bytes(SIGNED_SIG_SIZE))
        trial.replace_file("pubkey.bin", bytes(PUBKEY_BIN_SIZE))


def _check_room(image: EepromImage, parts: dict[str, bytes]) -> None:
    """Replace each part by a stand-in one block longer in a copy: the image's own "does not
    fit" refusals, before anything is signed."""
    from rpiboot.eeprom.image import EepromImage
    from rpiboot.signing.bootcode import BLOCK_2712_SIZE

    trial = EepromImage(image.to_bytes(), source=image.source)
    for name, data in parts.items():
        trial.replace_file(name, bytes(len(data) + BLOCK_2712_SIZE))


def check_secure_boot_support(image_path: Path | str, build_timestamp: int | None,
                              minimum: int = MIN_SECURE_BOOT_TIMESTAMP) -> None:
    """The bootloader must be new enough to verify a signed config."""
    if build_timestamp is None or build_timestamp < minimum:
        found = "none" if build_timestamp is None else str(build_timestamp)
        raise InputError(
            f"Source bootloader image {image_path} does not support secure-boot "
            f"(BUILD_TIMESTAMP {found} < {minimum}). Please use a newer version.",
            hint="Use a pieeprom image released on or after 2021-09-20.")


def check_otp_options(options: Sequence[str], *, chip: Chip, image: EepromImage,
                      key_hash: str | None, firmware_countersigned: bool, where: str,
                      error: type[RpibootError] = UsageError) -> None:
    """What the OTP options set in ``where`` (config.txt: ``error`` InputError; the options
    given: UsageError) need from the image that goes with them."""
    if not options:
        return
    if "program_rpiboot_gpio" in options and not chip.rpiboot_gpios:
        raise error(f"program_rpiboot_gpio ({where}) does not exist on {_chip_text(chip)} "
                         "boards", hint="Remove it.")
    if "program_pubkey" not in options:
        return
    if key_hash is None:
        raise error(f"program_pubkey ({where}) needs a signed image that embeds the public "
                         "key whose hash is programmed",
                         hint="Use a secure-boot flow (sign with -k KEY, or -H WRAPPER -p PUB).")
    minimum = chip.program_pubkey_min_build
    built = image.build_timestamp()
    if minimum is not None and (built is None or built < minimum):
        raise InputError(f"program_pubkey ({where}): {image.source} (BUILD_TIMESTAMP {built}) is "
                         f"older than the first {chip.family} bootloader that can program the "
                         f"key hash (BUILD_TIMESTAMP {minimum})",
                         hint="Use a newer pieeprom image (2022-01-06 or later).")
    if chip.bootcode_signature is BootcodeSignature.RSA_SHA256_BLOCK \
            and not firmware_countersigned:
        raise InputError(f"program_pubkey ({where}): once the key is programmed the "
                         f"{chip.family} boot ROM only runs firmware countersigned with it, but "
                         "the bootcode and bootsys of this image are not countersigned",
                         hint="Countersign them (update-pieeprom -f, or the secure-boot flow).")


def otp_options_in(config_txt: Path) -> list[str]:
    """The OTP options a recovery directory's config.txt sets (non-zero values); none when the
    file does not exist."""
    try:
        text = config_txt.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    except OSError as exc:
        from rpiboot.fsutil import path_error

        raise path_error(config_txt, exc, doing="read") from None
    found: list[str] = []
    for line in text.splitlines():
        name, sep, value = line.split("#", 1)[0].partition("=")
        name, value = name.strip(), value.strip()
        if sep and name in OTP_OPTIONS and value not in ("", "0") and name not in found:
            found.append(name)
    return found

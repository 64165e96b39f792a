"""The update-pieeprom flow: build ``pieeprom.bin`` + ``pieeprom.sig`` for a recovery directory.

1. optional (``sign_firmware``): countersign the 2712 ``bootcode.bin`` (and ``bootsys``) of the
   source image into ``pieeprom.signed_boot.bin`` and write ``bootcode5.bin`` (recovery.bin,
   countersigned with ``sign_recovery``, else an unsigned copy);
2. optional (a signer: key, HSM wrapper): sign ``boot.conf`` (minimum bootloader check first);
3. store the config (+ ``bootconf.sig`` + ``pubkey.bin``) into the image → ``pieeprom.bin``;
4. write the plain ``pieeprom.sig`` (sha256 + ts) of the result.

Every file is written atomically; nothing is left half-written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rpiboot.chips import BootcodeSignature, Chip, chip_for_bootcode_signature
from rpiboot.errors import InputError, UsageError
from rpiboot.fsutil import atomic_write

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    from rpiboot.signing.signer import Signer

MIN_SECURE_BOOT_TIMESTAMP = 1632136573  # 2021-09-20: first bootloader supporting secure boot
CUSTOMER_KEYNUM = 16


def countersign_chip() -> Chip:
    """The chip whose firmware ``-f`` countersigns (RSA-SHA256 signature blocks)."""
    chip = chip_for_bootcode_signature(BootcodeSignature.RSA_SHA256_BLOCK)
    assert chip is not None, "the chip table names one chip with RSA-SHA256 bootcode blocks"
    return chip


@dataclass
class UpdateOptions:
    """Inputs of :func:`update_pieeprom` (defaults = the reference script's file names)."""

    config: Path = Path("boot.conf")
    source: Path = Path("pieeprom.original.bin")
    output: Path = Path("pieeprom.bin")
    recovery: Path = Path("recovery.original.bin")
    signer: Signer | None = None  # signs the config (and -f firmware); None: nothing signed
    public_key: Path | None = None  # the key to embed; default: the signer's
    sign_firmware: bool = False
    sign_recovery: bool = False
    timestamp: int | None = None


@dataclass
class UpdateResult:
    """What :func:`update_pieeprom` wrote."""

    image: Path
    image_sig: Path
    config_sig: bytes | None = None
    source_used: Path | None = None
    written: list[Path] = field(default_factory=list)


def sig_path_for(output: Path) -> Path:
    """``pieeprom.bin`` → ``pieeprom.sig`` (the last extension replaced)."""
    return output.with_suffix(".sig") if output.suffix else output.with_name(output.name + ".sig")


def _validate(opts: UpdateOptions) -> None:
    """Check the inputs (the signer was checked when it was built)."""
    if not opts.source.is_file():
        raise InputError(f'Source image "{opts.source}" not found')
    if not opts.config.is_file():
        raise InputError(f'Bootloader config file "{opts.config}" not found')
    if opts.signer is not None and opts.signer.public_key is None:
        raise InputError("Public key (-p public.pem) must be specified in HSM mode")
    if opts.public_key is not None and not opts.public_key.is_file():
        raise InputError(f'Public key "{opts.public_key}" not found')
    if opts.sign_recovery and not opts.sign_firmware:
        raise UsageError("-r (countersign recovery.bin) only makes sense with -f")
    if opts.sign_firmware and opts.signer is None:
        raise UsageError("-f (countersign firmware) needs a private key (-k) or an HSM "
                         "wrapper (-H) with -p")


def _key_to_embed(signer: Signer, public_key: Path | None) -> tuple[RSAPublicKey, str]:
    """The public key stored as pubkey.bin (``public_key``, else the signer's) and its name."""
    from rpiboot.signing.keys import load_public_key

    if public_key is not None:
        return load_public_key(public_key), str(public_key)
    assert signer.public_key is not None  # _validate refused a signer without one
    return signer.public_key, signer.label


def _countersign(data: bytes, opts: UpdateOptions) -> bytes:
    from rpiboot.signing.bootcode import sign_2712

    return sign_2712(data, keynum=CUSTOMER_KEYNUM, version=0, signer=opts.signer)


def _sign_firmware(opts: UpdateOptions, result: UpdateResult,
                   log: Callable[[str], None]) -> Path:
    """Write the second stage (bootcode5.bin) and pieeprom.signed_boot.bin; return the new
    source image."""
    from rpiboot.eeprom.image import BOOTCODE_BIN, BOOTSYS, EepromImage

    chip = countersign_chip()
    out_dir = opts.output.parent
    try:
        recovery = opts.recovery.read_bytes()
    except OSError as err:
        raise InputError(f"{opts.recovery}: cannot read recovery.bin for {chip.second_stage}: "
                         f"{err.strerror}", hint=f"-f is for {chip.series} ({chip.prefix}) "
                         "directories that contain recovery.original.bin.") from None
    second_stage = out_dir / chip.second_stage
    if opts.sign_recovery:
        log(f"Signing {opts.recovery} as {second_stage}")
        recovery = _countersign(recovery, opts)
    else:
        log(f"Using unsigned recovery.bin: {opts.recovery} -> {second_stage}")
    image = EepromImage.load(opts.source)
    log(f"Signing {opts.source} as {out_dir / 'pieeprom.signed_boot.bin'}")
    image.replace_file(BOOTCODE_BIN, _countersign(image.read_file(BOOTCODE_BIN) or b"", opts))
    if image.is_ab:
        image.replace_file(BOOTSYS, _countersign(image.read_file(BOOTSYS) or b"", opts))
    signed_boot = out_dir / "pieeprom.signed_boot.bin"
    atomic_write(second_stage, recovery)
    atomic_write(signed_boot, image.to_bytes())
    result.written += [second_stage, signed_boot]
    return signed_boot


def check_secure_boot_support(image_path: Path, build_timestamp: int | None) -> None:
    if build_timestamp is None or build_timestamp < MIN_SECURE_BOOT_TIMESTAMP:
        found = "none" if build_timestamp is None else str(build_timestamp)
        raise InputError(
            f"Source bootloader image {image_path} does not support secure-boot "
            f"(BUILD_TIMESTAMP {found} < {MIN_SECURE_BOOT_TIMESTAMP}). Please use a newer "
            "version.", hint="Use a pieeprom image released on or after 2021-09-20.")


def _check_sig_matches_key(sig_text: bytes, config: bytes, pubkey_bin: bytes,
                           key_name: str) -> None:
    """Refuse an image whose bootconf.sig would not verify with its own pubkey.bin."""
    import hashlib

    from rpiboot.errors import SigningError
    from rpiboot.signing.keys import public_key_from_bin
    from rpiboot.signing.rsa import signature_matches
    from rpiboot.signing.sigfile import parse_sig

    signature = parse_sig(sig_text).rsa2048
    if signature is None or not signature_matches(
            public_key_from_bin(pubkey_bin), hashlib.sha256(config).digest(), signature):
        raise SigningError(f"the config signature does not verify with the public key "
                           f"{key_name}: the private key and the public key do not match",
                           hint="A board would refuse this config (or lock to the wrong key). "
                           "Pass the public key of the signing key with -p.")


def update_pieeprom(opts: UpdateOptions, *,
                    log: Callable[[str], None] | None = None) -> UpdateResult:
    """Run the whole flow; ``log`` receives progress lines (the CLI prints them)."""
    from rpiboot.eeprom.image import EepromImage
    from rpiboot.signing.keys import public_key_to_bin
    from rpiboot.signing.sigfile import make_sig

    say = log or (lambda _line: None)
    _validate(opts)
    result = UpdateResult(opts.output, sig_path_for(opts.output))
    for stale in (result.image, result.image_sig):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    if opts.signer is not None:
        check_secure_boot_support(opts.source, EepromImage.load(opts.source).build_timestamp())
    source = _sign_firmware(opts, result, say) if opts.sign_firmware else opts.source
    result.source_used = source
    image = EepromImage.load(source)
    config = opts.config.read_bytes()
    image.replace_file("bootconf.txt", config)
    if opts.signer is not None:
        say("Signing bootloader config")
        embed_key, key_name = _key_to_embed(opts.signer, opts.public_key)
        pubkey_bin = public_key_to_bin(embed_key)
        result.config_sig = make_sig(opts.config, signer=opts.signer, timestamp=opts.timestamp)
        _check_sig_matches_key(result.config_sig, config, pubkey_bin, key_name)
        say(result.config_sig.decode().rstrip("\n"))
        image.replace_file("bootconf.sig", result.config_sig)
        image.replace_file("pubkey.bin", pubkey_bin)
    atomic_write(result.image, image.to_bytes())
    atomic_write(result.image_sig, make_sig(result.image, timestamp=opts.timestamp))
    result.written += [result.image, result.image_sig]
    say(f"new-image: {result.image}")
    say(f"source-image: {source}")
    say(f"config: {opts.config}")
    return result

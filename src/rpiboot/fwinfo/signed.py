"""``.sig`` files (which file they sign, whether its sha256 matches, which key in the folder
verifies the rsa2048 line) and key files (public / private, the OTP key hash)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rpiboot.errors import InputError
from rpiboot.fwinfo.blob import Blob, Limits, file_sha256, new_info, open_regular
from rpiboot.fwinfo.model import ERROR, KEY, SIGNATURE_FILE, FirmwareInfo, SignatureInfo

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

MAX_KEY_FILE = 64 * 1024
MAX_KEYS = 8  # keys in a folder tried against a .sig
SIG_TARGETS = {"bootconf.sig": ("boot.conf", "bootconf.txt")}
TARGET_SUFFIXES = (".img", ".bin", ".conf", ".txt", "")


def sig_target(sig: Path) -> Path | None:
    """The file ``sig`` signs, next to it: boot.sig → boot.img, pieeprom.sig → pieeprom.bin."""
    names = SIG_TARGETS.get(sig.name.lower()) or tuple(sig.stem + s for s in TARGET_SUFFIXES)
    for name in names:
        candidate = sig.with_name(name)
        if candidate != sig and candidate.is_file():
            return candidate
    return None


def folder_keys(folder: Path) -> list[tuple[str, RSAPublicKey]]:
    """(name, public key) of the RSA key files (*.pem) in ``folder`` that load (at most
    :data:`MAX_KEYS`; a file that is no key is skipped)."""
    found: list[tuple[str, RSAPublicKey]] = []
    try:
        names = sorted(p.name for p in folder.iterdir() if p.name.lower().endswith(".pem"))
    except OSError:
        return found
    for name in names[:MAX_KEYS]:
        try:
            public, _private = load_key_bytes(_read_small(folder / name))
        except InputError:
            continue
        if public is not None:
            found.append((name, public))
    return found


def _read_small(path: Path) -> bytes:
    import os

    fd = open_regular(path)
    with os.fdopen(fd, "rb") as handle:
        return handle.read(MAX_KEY_FILE)


def load_key_bytes(data: bytes) -> tuple[RSAPublicKey | None, bool]:
    """(RSA public key or None for another key type, is-private) of PEM/DER key bytes;
    InputError when they are no key."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = b"PRIVATE KEY-----" in data
    try:
        if private:
            key: object = serialization.load_pem_private_key(  # only its public part is used:
                data, password=None, unsafe_skip_rsa_key_validation=True).public_key()
        elif b"-----BEGIN" in data:
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise InputError(f"not an unencrypted key ({str(err)[:120]})") from None
    return (key if isinstance(key, rsa.RSAPublicKey) else None), private


def describe_key(blob: Blob) -> FirmwareInfo:
    """A PEM key (or a 264-byte pubkey.bin): its type and the OTP key hash of its public part."""
    from rpiboot.signing.keys import (
        PUBKEY_BIN_SIZE,
        key_hash,
        public_key_from_bin,
        public_key_to_bin,
    )

    info = new_info(blob, KEY, "key file")
    data = blob.head[:MAX_KEY_FILE]
    public: RSAPublicKey | None
    try:
        if blob.lower.endswith(".bin") and blob.size == PUBKEY_BIN_SIZE:
            public, private = public_key_from_bin(data), False
        else:
            public, private = load_key_bytes(data)
    except InputError as err:
        raise InputError(f"{blob.label}: {err.message}",
                         hint="Not a usable key file (PEM, DER or pubkey.bin).") from None
    bits = public.key_size if public is not None else None
    info.role = f"{'private' if private else 'public'} key" + (f", RSA-{bits}" if bits else "")
    usable = bits == 2048
    info.details = {"private": private, "algorithm": f"RSA-{bits}" if bits else "not RSA",
                    "key_hash": key_hash(public_key_to_bin(public)).hex()
                    if public is not None and usable else None}
    if not usable:
        info.notes.append("not an RSA-2048 key: Raspberry Pi secure boot only uses RSA-2048")
    return info


def describe_sig(blob: Blob, limits: Limits) -> FirmwareInfo:
    """A .sig file; with the file it signs and the keys beside it, when it is in a folder."""
    from rpiboot.signing.sigfile import parse_sig

    sig = parse_sig(blob.head[:MAX_KEY_FILE + 1], source=blob.label)
    info = new_info(blob, SIGNATURE_FILE,
                    ".sig file (sha256 and ts of a file; rsa2048 when signed)")
    info.details = {"sha256": sig.sha256, "ts": sig.ts, "target_soc": sig.target_soc,
                    "signs": None, "sha256_matches": None, "verified_with": []}
    info.signature = SignatureInfo(format="sig-file", signed=sig.rsa2048 is not None,
                                   rpi_signature="not-applicable")
    target = sig_target(blob.path) if blob.path is not None else None
    if target is None:
        return info
    info.details["signs"] = target.name
    digest = file_sha256(target, limits)
    if digest is None:
        info.notes.append(f"{target.name} is larger than the hashing limit: not checked")
        return info
    info.details["sha256_matches"] = digest == sig.sha256
    if digest != sig.sha256:
        info.problem(ERROR, f"{blob.name} does not match {target.name}: its sha256 line is "
                     f"{sig.sha256}, the file's is {digest}",
                     f"{target.name} changed after it was signed: sign it again (rpiboot sign "
                     f"file {target.name} [-k KEY]).")
    elif sig.rsa2048 is not None and blob.path is not None:
        info.details["verified_with"] = verifying_keys(blob.path.parent, digest, sig.rsa2048)
    return info


def verifying_keys(folder: Path, digest_hex: str, signature: bytes) -> list[str]:
    """The key files in ``folder`` whose public key verifies ``signature`` of the digest."""
    from rpiboot.signing.rsa import signature_matches

    digest = bytes.fromhex(digest_hex)
    return [name for name, key in folder_keys(folder)
            if key.key_size == 2048 and signature_matches(key, digest, signature)]

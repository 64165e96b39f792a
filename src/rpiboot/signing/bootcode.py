"""Second-stage (bootcode / bootsys / recovery.bin) signature blocks.

BCM2712: ``input ‖ len u32 ‖ keynum u32 ‖ version u32 ‖ RSA-2048 PKCS#1 v1.5 signature over
SHA-256 of everything before it ‖ n (256 B LE) ‖ e (u64 LE)`` — 532 bytes appended per
signature; a customer countersign (keynum 16) goes after the Raspberry Pi block.
BCM2711 (Raspberry Pi internal, for completeness): ``input ‖ len ‖ keynum ‖ RSA over SHA-1 ‖
HMAC-SHA1 over everything before it``.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rpiboot.errors import InputError, SigningError
from rpiboot.signing.keys import (
    MODULUS_SIZE,
    PUBKEY_BIN_SIZE,
    load_private_key,
    load_public_key,
    public_key_from_bin,
    public_key_to_bin,
)
from rpiboot.signing.rsa import SIGNATURE_SIZE, sign_digest, signature_matches

BLOCK_2712_SIZE = 12 + SIGNATURE_SIZE + PUBKEY_BIN_SIZE  # 532
MAX_SIGNED_SIZE = 112640  # 110 KiB: the boot ROM's limit for a signed second stage
VALID_KEYNUMS = (0, 1, 2, 3, 4, 16)
CUSTOMER_KEYNUM = 16
MAX_VERSION = 32  # the reference accepts 0..32 although its help text says 0..31
HMAC_KEY_HEX_LEN = 40


@dataclass(frozen=True)
class SignatureBlock:
    """One parsed 2712 signature block."""

    offset: int
    length: int
    keynum: int
    version: int
    signature: bytes
    pubkey_bin: bytes
    verifies: bool

    @property
    def sig_type(self) -> str:
        return "customer" if self.keynum == CUSTOMER_KEYNUM else "rpi"


def check_keynum_version(keynum: int, version: int) -> None:
    if keynum not in VALID_KEYNUMS:
        raise InputError(f"Bad key number {keynum}",
                         hint="Use 16 for a customer key, 0-4 for Raspberry Pi ROM keys.")
    if not 0 <= version <= MAX_VERSION:
        raise InputError(f"Bad version number {version} must be between 0-{MAX_VERSION}")


def _hsm_sign_bytes(wrapper: str, payload: bytes, public_key_path: Path) -> tuple[bytes, bytes]:
    from rpiboot.signing.hsm import hsm_sign_file

    pub = load_public_key(public_key_path)
    digest = hashlib.sha256(payload).digest()
    with tempfile.TemporaryDirectory(prefix="rpiboot-sign-") as tmp:
        to_sign = Path(tmp) / "payload.bin"
        to_sign.write_bytes(payload)
        signature = hsm_sign_file(wrapper, to_sign, digest=digest, public_key=pub)
    return signature, public_key_to_bin(pub)


def sign_2712(data: bytes, *, keynum: int = 0, version: int = 0, key: Path | None = None,
              hsm_wrapper: str | None = None, public_key: Path | None = None,
              signature: bytes | None = None, max_size: int = MAX_SIGNED_SIZE) -> bytes:
    """``data`` with one 532-byte BCM2712 signature block appended.

    Sign with ``key`` (private PEM), or ``hsm_wrapper`` + ``public_key``, or (offline flow)
    a ready ``signature`` of :func:`payload_2712` + ``public_key``; it is verified first.
    """
    check_keynum_version(keynum, version)
    total = len(data) + BLOCK_2712_SIZE
    if total > max_size:
        raise InputError(f"Signed binary size {total} is too large. Max size {max_size}",
                         hint="The boot ROM loads at most 110 KiB; countersign only once.")
    payload = payload_2712(data, keynum, version)
    if hsm_wrapper is not None or signature is not None:
        if public_key is None:
            raise InputError("Public key (-p public.pem) must be specified with an HSM wrapper "
                             "or an external signature")
        if hsm_wrapper is not None:
            signature, pub_bin = _hsm_sign_bytes(hsm_wrapper, payload, public_key)
        else:
            pub_bin = public_key_to_bin(load_public_key(public_key))
            assert signature is not None
            if not signature_matches(public_key_from_bin(pub_bin),
                                     hashlib.sha256(payload).digest(), signature):
                raise SigningError("the supplied signature does not verify for this bootcode "
                                   f"payload with {public_key}")
    elif key is not None:
        private = load_private_key(key)
        signature = sign_digest(private, hashlib.sha256(payload).digest())
        pub_bin = public_key_to_bin(private.public_key())
    else:
        raise InputError("no signing key: pass a private key (-k) or an HSM wrapper (-H)")
    return payload + signature + pub_bin


def payload_2712(data: bytes, keynum: int, version: int) -> bytes:
    """The bytes a 2712 signature covers (offline flow: sign SHA-256 of this)."""
    return data + struct.pack("<III", len(data), keynum, version)


def parse_2712_blocks(data: bytes) -> list[SignatureBlock]:
    """Signature blocks at the end of ``data``, outermost (last appended) first."""
    blocks: list[SignatureBlock] = []
    end = len(data)
    while end >= BLOCK_2712_SIZE:
        start = end - BLOCK_2712_SIZE
        length, keynum, version = struct.unpack_from("<III", data, start)
        if length != start:
            break
        signature = data[start + 12:start + 12 + SIGNATURE_SIZE]
        pub_bin = data[start + 12 + SIGNATURE_SIZE:end]
        try:
            pub = public_key_from_bin(pub_bin)
            ok = signature_matches(pub, hashlib.sha256(data[:start + 12]).digest(), signature)
        except InputError:
            ok = False
        blocks.append(SignatureBlock(start, length, keynum, version, bytes(signature),
                                     bytes(pub_bin), ok))
        end = start
    return blocks


def read_hmac_key(path: Path) -> bytes:
    """A 2711 HMAC key file: 40 hex digits (whitespace ignored)."""
    try:
        text = Path(path).read_text(encoding="ascii", errors="replace")
    except OSError as err:
        raise InputError(f"{path}: cannot read HMAC key: {err.strerror}") from None
    cleaned = "".join(text.split())
    if len(cleaned) != HMAC_KEY_HEX_LEN:
        raise InputError(f"{path}: Bad key length {len(cleaned)} expected {HMAC_KEY_HEX_LEN}")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise InputError(f"{path}: HMAC key is not hexadecimal") from None


def sign_2711(data: bytes, *, keynum: int, key: Path, hmac_key: bytes,
              max_size: int = MAX_SIGNED_SIZE) -> bytes:
    """``data`` ‖ len ‖ keynum ‖ RSA-SHA1 signature ‖ HMAC-SHA1 (Raspberry Pi 2711 format)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    check_keynum_version(keynum, 0)
    total = len(data) + 8 + SIGNATURE_SIZE + 20
    if total > max_size:
        raise InputError(f"Signed binary size {total} is too large. Max size {max_size}")
    private = load_private_key(key)
    head = data + struct.pack("<II", len(data), keynum)
    signed = head + private.sign(head, padding.PKCS1v15(), hashes.SHA1())
    return signed + hmac.new(hmac_key, signed, hashlib.sha1).digest()


def modulus_hex(pubkey_bin: bytes) -> str:
    return pubkey_bin[:MODULUS_SIZE].hex()

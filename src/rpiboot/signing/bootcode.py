"""Second-stage (bootcode / bootsys / recovery.bin) signature blocks.

BCM2712: ``input ‖ len u32 ‖ keynum u32 ‖ version u32 ‖ RSA-2048 PKCS#1 v1.5 signature over
SHA-256 of everything before it ‖ n (256 B LE) ‖ e (u64 LE)`` — 532 bytes appended per
signature; a customer countersign (keynum 16) goes after the Raspberry Pi block.
BCM2711 (Raspberry Pi internal, for completeness): ``input ‖ len ‖ keynum ‖ RSA over SHA-1 ‖
HMAC-SHA1 over everything before it``.  The 2712 block is made by any
:class:`~rpiboot.signing.signer.Signer`; the 2711 format needs the private key itself (SHA-1,
which HSM wrappers and the offline flow do not provide).  :func:`sign_for_chip` picks the format
from the chip table.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rpiboot.chips import BootcodeSignature, Chip
from rpiboot.errors import InputError, UsageError
from rpiboot.signing.keys import (
    MODULUS_SIZE,
    PUBKEY_BIN_SIZE,
    key_hash,
    load_private_key,
    public_key_from_bin,
    public_key_to_bin,
)
from rpiboot.signing.rsa import SIGNATURE_SIZE, signature_matches
from rpiboot.signing.signer import Payload, PrivateKeySigner, Signer

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

BLOCK_2712_SIZE = 12 + SIGNATURE_SIZE + PUBKEY_BIN_SIZE  # 532
TAIL_2711_SIZE = 8 + SIGNATURE_SIZE + 20  # 284: len, keynum, RSA-SHA1 signature, HMAC-SHA1
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


def sign_2712(data: bytes, *, keynum: int = 0, version: int = 0, signer: Signer | None = None,
              max_size: int = MAX_SIGNED_SIZE) -> bytes:
    """``data`` with one 532-byte BCM2712 signature block appended, made by ``signer``.

    The block embeds the signer's public key, so an HSM signer needs one (``-p``); an external
    signature (offline flow) must be over :func:`payload_2712` and is verified first.
    """
    check_keynum_version(keynum, version)
    total = len(data) + BLOCK_2712_SIZE
    if total > max_size:
        raise InputError(f"Signed binary size {total} is too large. Max size {max_size}",
                         hint="The boot ROM loads at most 110 KiB; countersign only once.")
    if signer is None:
        raise InputError("no signing key: pass a private key (-k) or an HSM wrapper (-H)")
    public_key = signer.public_key
    if public_key is None:
        raise InputError("Public key (-p public.pem) must be specified with an HSM wrapper "
                         "or an external signature")
    payload = payload_2712(data, keynum, version)
    signature = signer.sign(Payload.of_bytes(payload, label="this bootcode payload"))
    return payload + signature + public_key_to_bin(public_key)


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


def has_2711_tail(data: bytes) -> bool:
    """True when ``data`` ends like a BCM2711 signed second stage: the u32 LE 284 bytes from
    the end equals the number of bytes before it and is followed by a key number the ROM
    knows.  Structure only: the RSA key lives in the boot ROM and the HMAC key is secret, so
    the signature itself cannot be checked off the board."""
    start = len(data) - TAIL_2711_SIZE
    if start <= 0:
        return False
    length, keynum = struct.unpack_from("<II", data, start)
    return length == start and keynum in VALID_KEYNUMS


@dataclass(frozen=True)
class BootcodeFormat:
    """How a second stage (bootcode, bootsys, recovery.bin) is signed, as its bytes tell."""

    signature: BootcodeSignature  # NONE: neither signed format was recognised
    blocks: tuple[SignatureBlock, ...] = ()  # BCM2712 blocks, outermost first

    @property
    def countersigned(self) -> bool:
        """A customer block (keynum 16) is among the BCM2712 blocks."""
        return any(block.keynum == CUSTOMER_KEYNUM for block in self.blocks)


def bootcode_format(data: bytes) -> BootcodeFormat:
    """Recognise the signature format at the end of ``data`` (BCM2712 blocks first: a block
    chain whose length fields match is checked, then the BCM2711 tail structure)."""
    blocks = parse_2712_blocks(data)
    if blocks:
        return BootcodeFormat(BootcodeSignature.RSA_SHA256_BLOCK, tuple(blocks))
    if has_2711_tail(data):
        return BootcodeFormat(BootcodeSignature.RSA_SHA1_HMAC)
    return BootcodeFormat(BootcodeSignature.NONE)


def rpi_signature_problem(fmt: BootcodeFormat, rpi_key_hashes: frozenset[str]) -> str | None:
    """Why the Raspberry Pi signature of a BCM2712 second stage is not trustworthy, or None.

    The innermost block must be a Raspberry Pi block (keynum 0-4) that verifies and carries a
    key of ``rpi_key_hashes`` (a block verifying with any other key proves nothing); every
    countersignature after it must verify too.
    """
    if not fmt.blocks:
        return "it has no BCM2712 signature block"
    innermost = fmt.blocks[-1]
    if innermost.keynum == CUSTOMER_KEYNUM:
        return "it has no Raspberry Pi signature block (only a customer countersignature)"
    if not innermost.verifies:
        return "its Raspberry Pi signature does not verify (the file was modified or damaged)"
    found = key_hash(innermost.pubkey_bin).hex()
    if found not in rpi_key_hashes:
        return (f"its Raspberry Pi signature block is made with key hash {found}, which is not "
                "the Raspberry Pi key")
    if not all(block.verifies for block in fmt.blocks):
        return "a countersignature block after the Raspberry Pi one does not verify"
    return None


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


def sign_2711(data: bytes, *, keynum: int, key: Path | RSAPrivateKey, hmac_key: bytes,
              max_size: int = MAX_SIGNED_SIZE) -> bytes:
    """``data`` ‖ len ‖ keynum ‖ RSA-SHA1 signature ‖ HMAC-SHA1 (Raspberry Pi 2711 format).

    ``key`` is a private key (or its file): this format is signed over SHA-1, which is not
    a :class:`~rpiboot.signing.signer.Signer` job.
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    check_keynum_version(keynum, 0)
    total = len(data) + 8 + SIGNATURE_SIZE + 20
    if total > max_size:
        raise InputError(f"Signed binary size {total} is too large. Max size {max_size}")
    private = load_private_key(key) if isinstance(key, Path) else key
    head = data + struct.pack("<II", len(data), keynum)
    signed = head + private.sign(head, padding.PKCS1v15(), hashes.SHA1())
    return signed + hmac.new(hmac_key, signed, hashlib.sha1).digest()


def sign_for_chip(chip: Chip, data: bytes, *, keynum: int, version: int = 0,
                  signer: Signer | None = None, hmac_key_file: Path | None = None) -> bytes:
    """Sign a second stage for ``chip`` in the format the chip table gives it.

    RSA-SHA256 blocks (BCM2712) take any signer.  RSA-SHA1 + HMAC (BCM2711) needs the HMAC key
    file and a private-key signer: the one special case, because that format is signed over
    SHA-1 and HSM wrappers / offline signatures only provide SHA-256.
    """
    kind = chip.bootcode_signature
    if kind is BootcodeSignature.RSA_SHA256_BLOCK:
        return sign_2712(data, keynum=keynum, version=version, signer=signer)
    if kind is BootcodeSignature.RSA_SHA1_HMAC:
        if hmac_key_file is None:
            raise InputError(f"HMAC key required for {chip.prefix} (-m FILE)")
        if not isinstance(signer, PrivateKeySigner):
            raise UsageError(f"the {chip.prefix} format needs an RSA-SHA1 signature: pass -k "
                             "(HSM wrappers only provide rsa2048-sha256)")
        return sign_2711(data, keynum=keynum, key=signer.private_key,
                         hmac_key=read_hmac_key(hmac_key_file))
    raise UsageError(f"{chip.family} second stages are not signed")


def modulus_hex(pubkey_bin: bytes) -> str:
    return pubkey_bin[:MODULUS_SIZE].hex()

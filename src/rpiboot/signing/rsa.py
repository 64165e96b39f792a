"""RSA-2048 PKCS#1 v1.5 SHA-256 signing and verification, with a key file or an HSM wrapper.

Signatures are computed over a SHA-256 digest the caller computed once (streaming), so large
files are never hashed twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from rpiboot.errors import InputError, SigningError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

SIGNATURE_SIZE = 256
CHUNK_SIZE = 4 * 1024 * 1024


def sha256_file(path: Path) -> bytes:
    """SHA-256 of a file, read in large chunks (one pass)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb", buffering=0) as handle:
            buffer = bytearray(CHUNK_SIZE)
            view = memoryview(buffer)
            while True:
                count = handle.readinto(buffer)
                if not count:
                    break
                digest.update(view[:count])
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a file") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror}") from None
    return digest.digest()


def sha256_chunks(chunks: Iterable[bytes]) -> bytes:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.digest()


def sign_digest(key: RSAPrivateKey, digest: bytes) -> bytes:
    """PKCS#1 v1.5 signature of a precomputed SHA-256 digest (256 bytes, big-endian)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, utils

    return key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))


def signature_matches(key: RSAPublicKey, digest: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid PKCS#1 v1.5 SHA-256 signature of ``digest``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, utils

    if len(signature) != SIGNATURE_SIZE:
        return False
    try:
        key.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def parse_signature_text(text: str | bytes, *, source: str) -> bytes:
    """Decode a hex signature (whitespace and an optional 0x allowed) to 256 bytes."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise SigningError(f"{source}: signature is not ASCII hex text") from None
    cleaned = "".join(text.split())
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    if not cleaned:
        raise SigningError(f"{source}: no signature (empty output)")
    try:
        raw = bytes.fromhex(cleaned)
    except ValueError:
        raise SigningError(f"{source}: signature is not hexadecimal: {cleaned[:40]!r}") from None
    if len(raw) != SIGNATURE_SIZE:
        raise SigningError(f"{source}: signature is {len(raw)} bytes, expected {SIGNATURE_SIZE} "
                           "(RSA-2048)")
    return raw


def load_signature_file(path: Path) -> bytes:
    """Read a signature produced elsewhere: 256 raw bytes, or hex text (a .sig's rsa2048 line
    is accepted too)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: signature file not found") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror}") from None
    if len(data) == SIGNATURE_SIZE:
        try:
            return parse_signature_text(data, source=str(path))
        except SigningError:
            return data
    for line in data.splitlines():
        if line.startswith(b"rsa2048:"):
            return parse_signature_text(line.split(b":", 1)[1], source=str(path))
    return parse_signature_text(data, source=str(path))

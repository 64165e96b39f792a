"""RSA-2048 keys: loading PEMs, the 264-byte ``pubkey.bin`` format, the OTP key hash, keygen.

``pubkey.bin`` = modulus n as 256 bytes little-endian, then exponent e as a u64 little-endian.
The OTP "customer key hash" is SHA-256 of those 264 bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from rpiboot.errors import InputError, SigningError
from rpiboot.fsutil import atomic_write

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

KEY_BITS = 2048
PUBKEY_BIN_SIZE = 264
MODULUS_SIZE = 256


def _read_key_file(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: key file not found",
                         hint="Pass the path of an RSA-2048 PEM key.") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read key file: {err.strerror}") from None


def _require_2048(bits: int, path: Path | str) -> None:
    if bits != KEY_BITS:
        raise SigningError(
            f"{path}: RSA key size must be 2048 (this key has {bits} bits)",
            hint="The Raspberry Pi boot ROM only supports RSA-2048 keys; generate one with "
            "`rpiboot keys generate KEY.pem`.",
        )


def load_private_key(path: Path) -> RSAPrivateKey:
    """Load an RSA-2048 private key from a PEM (or DER) file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    data = _read_key_file(path)
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError) as err:
        raise InputError(f"{path}: not an unencrypted RSA private key ({err})",
                         hint="Pass an unencrypted PEM private key (BEGIN PRIVATE KEY / "
                         "BEGIN RSA PRIVATE KEY).") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InputError(f"{path}: not an RSA key")
    _require_2048(key.key_size, path)
    return key


def load_public_key(path: Path) -> RSAPublicKey:
    """Load an RSA-2048 public key from a public PEM, a private PEM, or a 264-byte pubkey.bin."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    data = _read_key_file(path)
    if len(data) == PUBKEY_BIN_SIZE and b"-----BEGIN" not in data:
        return public_key_from_bin(data)
    key: object
    try:
        if b"PRIVATE KEY-----" in data:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        elif b"-----BEGIN" in data:
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except (ValueError, TypeError) as err:
        raise InputError(f"{path}: not an RSA public or private key ({err})",
                         hint="Pass a PEM key file (public or private) or a pubkey.bin.") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise InputError(f"{path}: not an RSA key")
    _require_2048(key.key_size, path)
    return key


def public_key_to_bin(key: RSAPublicKey) -> bytes:
    """The 264-byte pubkey.bin of ``key`` (n little-endian 256 bytes, e u64 little-endian)."""
    _require_2048(key.key_size, "public key")
    numbers = key.public_numbers()
    return numbers.n.to_bytes(MODULUS_SIZE, "little") + numbers.e.to_bytes(8, "little")


def public_key_from_bin(data: bytes) -> RSAPublicKey:
    """Parse the first 264 bytes of a pubkey.bin into a public key."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    if len(data) < PUBKEY_BIN_SIZE:
        raise InputError(f"pubkey.bin is {len(data)} bytes, expected {PUBKEY_BIN_SIZE}")
    n = int.from_bytes(data[:MODULUS_SIZE], "little")
    e = int.from_bytes(data[MODULUS_SIZE:PUBKEY_BIN_SIZE], "little")
    if n.bit_length() != KEY_BITS or e < 3 or e % 2 == 0:
        raise InputError("pubkey.bin does not hold a valid RSA-2048 public key",
                         hint="It may be an all-zero placeholder; embed a key with --pubkey.")
    try:
        return rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError as err:
        raise InputError(f"pubkey.bin does not hold a valid RSA public key ({err})") from None


def public_key_pem(key: RSAPublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM (with a final newline)."""
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def key_hash(pubkey_bin: bytes) -> bytes:
    """The OTP customer key hash: SHA-256 of the 264-byte pubkey.bin."""
    return hashlib.sha256(pubkey_bin[:PUBKEY_BIN_SIZE]).digest()


def key_hash_words(digest: bytes) -> list[int]:
    """The key hash as eight u32 little-endian words (as the bootloader logs print it)."""
    return [int.from_bytes(digest[i:i + 4], "little") for i in range(0, len(digest), 4)]


def new_key_pems(bits: int = KEY_BITS) -> tuple[bytes, bytes]:
    """A new RSA-2048 key: its PKCS#8 private PEM and its public PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    _require_2048(bits, "requested key")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, public_key_pem(key.public_key())


def refuse_overwrite(path: Path) -> None:
    """A key file is never overwritten by accident."""
    if Path(path).exists():
        raise InputError(f"{path}: already exists; refusing to overwrite a key",
                         hint="Choose another file name or pass --force.")


def generate_private_key(path: Path, *, bits: int = KEY_BITS, overwrite: bool = False) -> None:
    """Generate an RSA-2048 private key and write it as PKCS#8 PEM with mode 0600."""
    _require_2048(bits, "requested key")
    path = Path(path)
    if not overwrite:
        refuse_overwrite(path)
    pem, _public = new_key_pems(bits)
    atomic_write(path, pem, mode=0o600)

"""One signer interface: a private key, an HSM wrapper or a signature made elsewhere.

Every signature rpiboot makes is RSA-2048 PKCS#1 v1.5 over SHA-256: the ``rsa2048:`` line of
``.sig`` files and the BCM2712 bootcode signature block.  A command turns its flags into one
:class:`Signer` with :func:`signer_from_options`; the layers below only call
``signer.sign(payload)`` and read ``signer.public_key``.

The BCM2711 bootcode format (RSA over SHA-1, then HMAC-SHA1) is not a :class:`Signer` job: it
needs a SHA-1 signature, which neither an HSM wrapper (``rsa2048-sha256`` only) nor the offline
flow provides, so :func:`rpiboot.signing.bootcode.sign_2711` takes the private key itself.
"""

from __future__ import annotations

import hashlib
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rpiboot.errors import SigningError
from rpiboot.signing.rsa import sign_digest, signature_matches

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey


@dataclass(frozen=True)
class Payload:
    """The bytes to sign: their SHA-256 (computed once) and where the bytes are.

    Exactly one of ``path`` (a file's whole contents) or ``data`` is set.
    """

    digest: bytes
    label: str  # how messages name it: "boot.img", "this bootcode payload"
    path: Path | None = None
    data: bytes | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.data is None):
            raise ValueError("a Payload holds either a path or data")

    @classmethod
    def of_bytes(cls, data: bytes, *, label: str = "the data") -> Payload:
        return cls(hashlib.sha256(data).digest(), label, data=data)

    @classmethod
    def of_file(cls, path: Path, *, digest: bytes | None = None) -> Payload:
        """``path``'s contents; pass ``digest`` when the caller already hashed the file."""
        from rpiboot.signing.rsa import sha256_file

        return cls(sha256_file(path) if digest is None else digest, str(path), path=Path(path))

    @contextmanager
    def as_file(self) -> Iterator[Path]:
        """A file holding the bytes: ``path`` itself, or a copy of ``data`` in a private
        temporary directory (removed afterwards)."""
        if self.path is not None:
            yield self.path
            return
        assert self.data is not None
        with tempfile.TemporaryDirectory(prefix="rpiboot-sign-") as tmp:
            copy = Path(tmp) / "payload.bin"
            copy.write_bytes(self.data)
            yield copy


class Signer(ABC):
    """Makes 256-byte RSA-2048 PKCS#1 v1.5 signatures over SHA-256."""

    label: str  # how messages name it: a key file, "HSM wrapper W"

    @property
    @abstractmethod
    def public_key(self) -> RSAPublicKey | None:
        """The key that verifies this signer's signatures, or None when it is not known."""

    @abstractmethod
    def sign(self, payload: Payload) -> bytes:
        """The signature of ``payload``; raises SigningError (or InputError) on failure."""


class DigestSigner(Signer):
    """A signer that needs only the SHA-256 digest: the payload is never read again."""

    @abstractmethod
    def sign_digest(self, digest: bytes) -> bytes:
        """The signature of a precomputed SHA-256 ``digest``."""

    def sign(self, payload: Payload) -> bytes:
        return self.sign_digest(payload.digest)


class PrivateKeySigner(DigestSigner):
    """Signs with an RSA-2048 private key held in memory (loaded from a PEM or DER file)."""

    def __init__(self, key: RSAPrivateKey, *, label: str = "private key") -> None:
        self.private_key = key
        self.label = label

    @classmethod
    def from_file(cls, path: Path) -> PrivateKeySigner:
        from rpiboot.signing.keys import load_private_key

        return cls(load_private_key(path), label=str(path))

    @property
    def public_key(self) -> RSAPublicKey:
        return self.private_key.public_key()

    def sign_digest(self, digest: bytes) -> bytes:
        return sign_digest(self.private_key, digest)


class ExternalSignature(DigestSigner):
    """Offline flow: a signature made elsewhere, handed out only for the data it signs."""

    def __init__(self, signature: bytes, public_key: RSAPublicKey, *,
                 label: str = "the public key") -> None:
        self.signature = signature
        self._public_key = public_key
        self.label = label  # the public key's file, named in the refusal

    @property
    def public_key(self) -> RSAPublicKey:
        return self._public_key

    def sign(self, payload: Payload) -> bytes:
        return self._checked(payload.digest, payload.label)

    def sign_digest(self, digest: bytes) -> bytes:
        return self._checked(digest, "this digest")

    def _checked(self, digest: bytes, what: str) -> bytes:
        if not signature_matches(self._public_key, digest, self.signature):
            raise SigningError(f"the supplied signature does not verify for {what} with "
                               f"{self.label}",
                               hint="It was made over other data or with another key.")
        return self.signature

"""Signing: .sig files, RSA-2048 keys and pubkey.bin, HSM wrappers, bootcode countersigning.

Commands build one :class:`Signer` from their flags with :func:`signer_from_options`.
"""

from __future__ import annotations

from rpiboot.signing.factory import signer_from_options
from rpiboot.signing.hsm import HsmWrapperSigner
from rpiboot.signing.signer import (
    DigestSigner,
    ExternalSignature,
    Payload,
    PrivateKeySigner,
    Signer,
)

__all__ = [
    "DigestSigner",
    "ExternalSignature",
    "HsmWrapperSigner",
    "Payload",
    "PrivateKeySigner",
    "Signer",
    "signer_from_options",
]

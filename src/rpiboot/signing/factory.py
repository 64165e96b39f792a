"""Build the one signer a command's flags ask for (the only place that decides which)."""

from __future__ import annotations

from pathlib import Path

from rpiboot.errors import InputError, UsageError
from rpiboot.signing.signer import ExternalSignature, PrivateKeySigner, Signer


def signer_from_options(*, key: Path | None = None, hsm_wrapper: str | None = None,
                        public_key: Path | None = None, signature: Path | bytes | None = None,
                        exclusive: bool = False) -> Signer | None:
    """The one signer a command's flags ask for, or None when they ask for no signature.

    As in the reference tools, an external ``signature`` (checked against ``public_key``) wins
    over ``hsm_wrapper`` (its output verified with ``public_key`` when given), which wins over
    ``key`` (a private key file; ``public_key`` is then not used here).  With ``exclusive``
    (rpiboot's own bootimg command) a key and an HSM wrapper together are a UsageError.
    Keys are loaded and the wrapper is looked up now, so bad flags fail before any work.
    """
    from rpiboot.signing.keys import load_public_key

    if exclusive and key is not None and hsm_wrapper is not None:
        raise UsageError("give either --key or --hsm-wrapper, not both")
    if signature is not None:
        from rpiboot.signing.rsa import load_signature_file

        if public_key is None:
            raise UsageError("--signature needs --public-key to check it")
        raw = signature if isinstance(signature, bytes) else load_signature_file(signature)
        return ExternalSignature(raw, load_public_key(public_key), label=str(public_key))
    if hsm_wrapper is not None:
        from rpiboot.signing.hsm import HsmWrapperSigner, resolve_wrapper

        resolve_wrapper(hsm_wrapper)
        known = load_public_key(public_key) if public_key is not None else None
        return HsmWrapperSigner(hsm_wrapper, known)
    if key is not None:
        if not Path(key).is_file():
            state = "is a folder, not a file" if Path(key).is_dir() else "not found"
            raise InputError(f"Private key file {key} {state}",
                             hint="Pass the path of an RSA-2048 PEM private key.")
        return PrivateKeySigner.from_file(key)
    return None

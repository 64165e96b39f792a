"""HSM wrapper interface: ``WRAPPER -a rsa2048-sha256 FILE`` prints the signature as hex.

Unlike the reference, every failure is detected: a missing wrapper (:class:`InputError`), a
non-zero exit, and empty, non-hex or wrong-length output (:class:`SigningError`).  When the
public key is known, the returned signature is verified before it is used.
:class:`HsmWrapperSigner` is the :class:`~rpiboot.signing.signer.Signer` built on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from rpiboot.errors import InputError, SigningError
from rpiboot.signing.rsa import parse_signature_text, signature_matches
from rpiboot.signing.signer import Payload, Signer

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

ALGORITHM = "rsa2048-sha256"
WRAPPER_TIMEOUT_S = 300


def resolve_wrapper(wrapper: str) -> str:
    """The wrapper's executable path (PATH lookup when it has no slash)."""
    if os.sep in wrapper or (os.altsep and os.altsep in wrapper):
        if not Path(wrapper).is_file():
            raise InputError(f'HSM wrapper script "{wrapper}" not found',
                             hint="Pass the path of an executable HSM wrapper.")
        if not os.access(wrapper, os.X_OK):
            raise InputError(f"HSM wrapper {wrapper} is not executable",
                             hint=f"chmod +x {wrapper}")
        return wrapper
    found = shutil.which(wrapper)
    if found is None:
        raise InputError(f'HSM wrapper script "{wrapper}" not found on PATH',
                         hint="Pass a path, or put the wrapper on PATH.")
    return found


def hsm_sign_file(wrapper: str, path: Path, *, digest: bytes | None = None,
                  public_key: RSAPublicKey | None = None) -> bytes:
    """Ask the wrapper to sign ``path``; return the 256-byte signature.

    With ``digest`` (SHA-256 of the file) and ``public_key`` the signature is verified.
    """
    executable = resolve_wrapper(wrapper)
    try:
        result = subprocess.run([executable, "-a", ALGORITHM, str(path)], capture_output=True,
                                timeout=WRAPPER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise SigningError(f"HSM wrapper {wrapper} did not answer within "
                           f"{WRAPPER_TIMEOUT_S} s") from None
    except OSError as err:
        raise SigningError(f"HSM wrapper {wrapper} could not be run: {err.strerror}",
                           hint="Check that it is executable and has a #! line.") from None
    stderr = result.stderr.decode(errors="replace").strip()
    if result.returncode != 0:
        detail = f": {stderr}" if stderr else ""
        raise SigningError(f"HSM wrapper failed with exit code {result.returncode}{detail}",
                           hint=f"Run `{wrapper} -a {ALGORITHM} FILE` by hand to see why.")
    signature = parse_signature_text(result.stdout, source=f"HSM wrapper {wrapper} output")
    if digest is not None and public_key is not None and not signature_matches(
            public_key, digest, signature):
        raise SigningError(f"HSM wrapper {wrapper} returned a signature that does not verify "
                           "with the given public key",
                           hint="The HSM signed with a different key than the public key "
                           "passed (-p), or the wrapper is broken.")
    return signature


class HsmWrapperSigner(Signer):
    """Signs through an HSM wrapper, which signs a FILE: a payload held in memory is written
    to a private temporary file first.  With ``public_key`` every signature is verified."""

    def __init__(self, wrapper: str, public_key: RSAPublicKey | None = None) -> None:
        self.wrapper = wrapper
        self._public_key = public_key
        self.label = f"HSM wrapper {wrapper}"

    @property
    def public_key(self) -> RSAPublicKey | None:
        return self._public_key

    def sign(self, payload: Payload) -> bytes:
        with payload.as_file() as path:
            return hsm_sign_file(self.wrapper, path, digest=payload.digest,
                                 public_key=self._public_key)

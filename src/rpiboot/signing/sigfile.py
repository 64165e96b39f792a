"""``.sig`` files: the sha256 line, the ``ts:`` line and the optional ``rsa2048:`` signature.

Format (ASCII, every line LF-terminated)::

    <sha256 of the file, 64 lower-case hex>
    ts: <unix seconds>                     ($SOURCE_DATE_EPOCH when set and non-empty)
    target-soc: <soc>                      (optional, newer rpi-eeprom only)
    rsa2048: <512 lower-case hex>          (only when signed: PKCS#1 v1.5 SHA-256 of the file)

The file is hashed exactly once, in large chunks; the signature is made over that digest.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rpiboot.errors import InputError, SigningError
from rpiboot.fsutil import atomic_write
from rpiboot.signing.rsa import parse_signature_text, sha256_file, signature_matches

if TYPE_CHECKING:
    from rpiboot.signing.signer import Signer

_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_SIG_FILE = 64 * 1024
MAX_TS = 2**64 - 1  # ts: a 64-bit count of seconds (rpi-eeprom writes `date +%s`)


@dataclass(frozen=True)
class SigFile:
    """The parsed contents of a .sig file."""

    sha256: str
    ts: int | None
    target_soc: str | None = None
    rsa2048: bytes | None = None

    def to_bytes(self) -> bytes:
        lines = [self.sha256]
        if self.ts is not None:
            lines.append(f"ts: {self.ts}")
        if self.target_soc is not None:
            lines.append(f"target-soc: {self.target_soc}")
        if self.rsa2048 is not None:
            lines.append(f"rsa2048: {self.rsa2048.hex()}")
        return ("\n".join(lines) + "\n").encode("ascii")


def sig_timestamp(timestamp: int | None = None) -> int:
    """``timestamp`` if given, else $SOURCE_DATE_EPOCH when non-empty (even "0"), else now."""
    if timestamp is not None:
        if timestamp < 0:
            raise InputError(f"timestamp {timestamp} is negative")
        return timestamp
    value = os.environ.get("SOURCE_DATE_EPOCH", "")
    if value:
        if not value.isdigit():
            raise InputError(f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds",
                             hint="Set it to a decimal Unix time, or unset it.")
        return int(value)
    return int(time.time())


def make_sig(path: Path, *, signer: Signer | None = None, timestamp: int | None = None,
             target_soc: str | None = None) -> bytes:
    """The .sig contents for ``path``, with an ``rsa2048:`` line when ``signer`` is given."""
    from rpiboot.signing.signer import Payload

    path = Path(path)
    ts = sig_timestamp(timestamp)
    digest = sha256_file(path)
    signature = None
    if signer is not None:
        signature = signer.sign(Payload.of_file(path, digest=digest))
    return SigFile(digest.hex(), ts, target_soc, signature).to_bytes()


def write_sig(path: Path, sig_path: Path, *, signer: Signer | None = None,
              timestamp: int | None = None, target_soc: str | None = None) -> None:
    """Write the .sig of ``path`` to ``sig_path`` atomically (nothing written on failure)."""
    data = make_sig(path, signer=signer, timestamp=timestamp, target_soc=target_soc)
    atomic_write(sig_path, data)  # a device or FIFO is written in place, never renamed over


def signing_request(path: Path) -> bytes:
    """Offline flow, step 1: the SHA-256 digest an external signer must sign (PKCS#1 v1.5)."""
    return sha256_file(Path(path))


def make_sig_from_signature(path: Path, signature: bytes, public_key: Path, *,
                            timestamp: int | None = None,
                            target_soc: str | None = None) -> bytes:
    """Offline flow, step 2: a signed .sig from a signature made elsewhere, checked first
    (:func:`make_sig` with an :class:`~rpiboot.signing.signer.ExternalSignature`)."""
    from rpiboot.signing.keys import load_public_key
    from rpiboot.signing.signer import ExternalSignature

    signer = ExternalSignature(signature, load_public_key(public_key), label=str(public_key))
    return make_sig(path, signer=signer, timestamp=timestamp, target_soc=target_soc)


def _parse_line(sig: dict[str, object], line: str, where: str) -> None:
    name, sep, value = line.partition(":")
    if not sep:
        raise InputError(f"{where}: unexpected line {line[:60]!r}")
    value = value.strip()
    if name == "ts":
        if not value.isdigit():
            raise InputError(f"{where}: ts value {value[:30]!r} is not a number")
        if len(value) > len(str(MAX_TS)) or int(value) > MAX_TS:
            raise InputError(f"{where}: ts value {value[:30]!r}{'...' if len(value) > 30 else ''}"
                             f" ({len(value)} digits) is out of range (at most {MAX_TS})",
                             hint="ts is the signing time in Unix seconds; re-create the .sig.")
        sig["ts"] = int(value)
    elif name == "target-soc":
        sig["target_soc"] = value
    elif name == "rsa2048":
        try:
            sig["rsa2048"] = parse_signature_text(value, source=where)
        except SigningError as err:
            raise InputError(err.message) from None
    else:
        raise InputError(f"{where}: unknown field {name[:30]!r}")


def parse_sig(data: bytes, *, source: str = ".sig") -> SigFile:
    """Parse .sig bytes; raises InputError on anything malformed."""
    if len(data) > _MAX_SIG_FILE:
        raise InputError(f"{source}: {len(data)} bytes is too large for a .sig file")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise InputError(f"{source}: not a .sig file (not ASCII text)") from None
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or not _HEX64.fullmatch(lines[0].strip().lower()):
        raise InputError(f"{source}: first line is not a SHA-256 hex digest",
                         hint="A .sig file starts with the 64-digit sha256 of the image.")
    fields: dict[str, object] = {"ts": None}
    for number, line in enumerate(lines[1:], start=2):
        if line.strip():
            _parse_line(fields, line, f"{source} line {number}")
    return SigFile(lines[0].strip().lower(), fields["ts"],  # type: ignore[arg-type]
                   fields.get("target_soc"), fields.get("rsa2048"))  # type: ignore[arg-type]


def read_sig(sig_path: Path) -> SigFile:
    """Read and parse a .sig file (InputError naming the file if it is missing or malformed)."""
    try:
        with open(sig_path, "rb") as handle:
            data = handle.read(_MAX_SIG_FILE + 1)
    except FileNotFoundError:
        raise InputError(f"Signature file {sig_path} not found") from None
    except OSError as err:
        raise InputError(f"{sig_path}: cannot read: {err.strerror}") from None
    return parse_sig(data, source=str(sig_path))


def verify_sig(path: Path, sig_path: Path, *, key: Path | None = None) -> SigFile:
    """Check ``sig_path`` against ``path``: the sha256 line always, the signature with ``key``.

    ``key`` may be a public PEM, a private PEM or a pubkey.bin.  Raises SigningError.
    """
    from rpiboot.signing.keys import load_public_key

    sig = read_sig(Path(sig_path))
    pub = load_public_key(key) if key is not None else None
    if pub is not None and sig.rsa2048 is None:
        raise SigningError(f"No RSA signature in {sig_path}",
                           hint="The .sig has no rsa2048: line; sign it with a key.")
    digest = sha256_file(Path(path))
    if digest.hex() != sig.sha256:
        raise SigningError(f"{path} not verified: its sha256 does not match the first line "
                           f"of {sig_path}",
                           hint="The file changed after signing, or the .sig belongs to "
                           "another file.")
    if pub is not None and sig.rsa2048 is not None and not signature_matches(
            pub, digest, sig.rsa2048):
        raise SigningError(f"{path} not verified: the rsa2048 signature in {sig_path} does not "
                           f"match (key {key})",
                           hint="Wrong key, or the file/.sig was modified after signing.")
    return sig

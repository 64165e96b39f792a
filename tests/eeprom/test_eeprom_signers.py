"""The Signer interface and its three implementations, and the one place flags become a signer.

Signatures are checked with the openssl CLI (tests only; the product never runs it).
"""

from __future__ import annotations

import hashlib
import inspect
import subprocess
from pathlib import Path

import pytest
from eeprom_fixtures import *  # noqa: F403  (pytest fixtures)

from rpiboot.chips import CHIPS
from rpiboot.errors import InputError, SigningError, UsageError
from rpiboot.signing import (
    DigestSigner,
    ExternalSignature,
    HsmWrapperSigner,
    Payload,
    PrivateKeySigner,
    Signer,
    signer_from_options,
)
from rpiboot.signing.bootcode import sign_for_chip
from rpiboot.signing.keys import load_private_key, load_public_key
from rpiboot.signing.rsa import sign_digest

DATA = bytes(range(256)) * 40


def _openssl_verifies(public_pem: Path, data_file: Path, signature: bytes,
                      tmp_path: Path) -> bool:
    sig = tmp_path / "signature.bin"
    sig.write_bytes(signature)
    result = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(public_pem),
                             "-signature", str(sig), str(data_file)],
                            capture_output=True, check=False)
    return result.returncode == 0 and b"Verified OK" in result.stdout


def _recording_wrapper(tmp_path: Path, key: Path) -> tuple[str, Path]:
    """A wrapper that signs FILE with ``key`` and records FILE's path and its folder's mode."""
    log = tmp_path / "wrapper.log"
    script = tmp_path / "hsm.sh"
    script.write_text("#!/bin/sh\n"
                      '[ "$1" = -a ] && [ "$2" = rsa2048-sha256 ] || exit 9\n'
                      f'echo "$3 $(stat -c %a "$(dirname "$3")")" >> {log}\n'
                      f'openssl dgst -sha256 -hex -sign {key} "$3" | awk \'{{print $2}}\'\n')
    script.chmod(0o755)
    return str(script), log


@pytest.mark.parametrize("implementation", [PrivateKeySigner, HsmWrapperSigner,
                                            ExternalSignature])
def test_every_implementation_fits_the_interface(implementation: type[Signer]) -> None:
    assert issubclass(implementation, Signer) and not inspect.isabstract(implementation)
    assert inspect.isabstract(Signer) and inspect.isabstract(DigestSigner)
    with pytest.raises(TypeError):
        Signer()  # type: ignore[abstract]


def test_private_key_signer_verifies_with_openssl(private_pem: Path, public_pem: Path,
                                                  tmp_path: Path) -> None:
    signer = PrivateKeySigner.from_file(private_pem)
    data_file = tmp_path / "data.bin"
    data_file.write_bytes(DATA)
    from_bytes = signer.sign(Payload.of_bytes(DATA))
    assert _openssl_verifies(public_pem, data_file, from_bytes, tmp_path)
    assert signer.sign(Payload.of_file(data_file)) == from_bytes
    assert signer.sign_digest(hashlib.sha256(DATA).digest()) == from_bytes
    assert signer.public_key.public_numbers() == load_public_key(public_pem).public_numbers()
    assert signer.label == str(private_pem)


def test_hsm_signer_gets_a_private_file_that_is_removed(private_pem: Path, public_pem: Path,
                                                        tmp_path: Path) -> None:
    wrapper, log = _recording_wrapper(tmp_path, private_pem)
    signer = HsmWrapperSigner(wrapper, load_public_key(public_pem))
    expected = PrivateKeySigner.from_file(private_pem).sign(Payload.of_bytes(DATA))
    assert signer.sign(Payload.of_bytes(DATA, label="bytes")) == expected
    copy, mode = log.read_text().split()
    assert not Path(copy).exists() and mode == "700"  # private temporary folder, cleaned up
    data_file = tmp_path / "data.bin"
    data_file.write_bytes(DATA)
    assert signer.sign(Payload.of_file(data_file)) == expected
    assert log.read_text().splitlines()[1].split()[0] == str(data_file)  # a file: no copy


def test_hsm_signer_checks_the_public_key_only_when_known(private_pem: Path, other_key: Path,
                                                          tmp_path: Path) -> None:
    wrapper, _log = _recording_wrapper(tmp_path, other_key)
    unchecked = HsmWrapperSigner(wrapper)
    assert unchecked.public_key is None
    assert len(unchecked.sign(Payload.of_bytes(DATA))) == 256
    checked = HsmWrapperSigner(wrapper, load_public_key(private_pem))
    with pytest.raises(SigningError, match="does not verify with the given public key"):
        checked.sign(Payload.of_bytes(DATA))


def test_external_signature_accepted_only_for_its_data(private_pem: Path, public_pem: Path,
                                                       tmp_path: Path) -> None:
    made_elsewhere = sign_digest(load_private_key(private_pem), hashlib.sha256(DATA).digest())
    signer = ExternalSignature(made_elsewhere, load_public_key(public_pem),
                               label=str(public_pem))
    assert signer.sign(Payload.of_bytes(DATA)) == made_elsewhere
    assert signer.sign_digest(hashlib.sha256(DATA).digest()) == made_elsewhere
    with pytest.raises(SigningError, match=f"does not verify for other.bin with {public_pem}"):
        signer.sign(Payload.of_bytes(DATA + b"!", label="other.bin"))
    with pytest.raises(SigningError, match="does not verify for this digest"):
        signer.sign_digest(bytes(32))


def test_payload_holds_a_path_or_data() -> None:
    with pytest.raises(ValueError, match="either"):
        Payload(bytes(32), "nothing")
    with pytest.raises(ValueError, match="either"):
        Payload(bytes(32), "both", path=Path("x"), data=b"x")


# -- signer_from_options: the one place flags become a signer --------------------------------

def test_options_pick_one_signer(private_pem: Path, public_pem: Path, tmp_path: Path) -> None:
    wrapper, _log = _recording_wrapper(tmp_path, private_pem)
    signature = tmp_path / "sig.bin"
    signature.write_bytes(PrivateKeySigner.from_file(private_pem).sign(Payload.of_bytes(DATA)))
    assert signer_from_options() is None
    assert isinstance(signer_from_options(key=private_pem), PrivateKeySigner)
    by_wrapper = signer_from_options(key=private_pem, hsm_wrapper=wrapper, public_key=public_pem)
    assert isinstance(by_wrapper, HsmWrapperSigner) and by_wrapper.public_key is not None
    offline = signer_from_options(key=private_pem, hsm_wrapper=wrapper, public_key=public_pem,
                                  signature=signature)
    assert isinstance(offline, ExternalSignature)
    assert offline.sign(Payload.of_bytes(DATA)) == signature.read_bytes()


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"key": "KEY", "hsm_wrapper": "/bin/true", "exclusive": True}, UsageError,
     "give either --key or --hsm-wrapper, not both"),
    ({"signature": b"\0" * 256}, UsageError, "--signature needs --public-key to check it"),
    ({"key": Path("/nonexistent.pem")}, InputError, "Private key file /nonexistent.pem not found"),
    ({"hsm_wrapper": "no-such-wrapper-xyz"}, InputError, "not found on PATH"),
    ({"hsm_wrapper": "/bin/true", "public_key": Path("/nonexistent.pem")}, InputError,
     "key file not found"),
])
def test_bad_flag_combinations(private_pem: Path, options: dict[str, object],
                               error: type[Exception], message: str) -> None:
    if options.get("key") == "KEY":
        options = {**options, "key": private_pem}
    with pytest.raises(error, match=message):
        signer_from_options(**options)  # type: ignore[arg-type]


def test_bad_key_fails_when_the_signer_is_built(rsa1024_pem: Path) -> None:
    with pytest.raises(SigningError, match="must be 2048"):
        signer_from_options(key=rsa1024_pem)


# -- the chip table picks the bootcode format ------------------------------------------------

def test_sign_for_chip_reads_the_chip_table(private_pem: Path, tmp_path: Path,
                                            vectors_dir: Path) -> None:
    key = signer_from_options(key=private_pem)
    cm4, cm5, zero = CHIPS[0x2711], CHIPS[0x2712], CHIPS[0x2763]
    assert len(sign_for_chip(cm5, b"x" * 100, keynum=16, signer=key)) == 100 + 532
    hmac_file = vectors_dir / "eeprom/sign-bootcode-2711-hmac/inputs/hmac.key"
    assert len(sign_for_chip(cm4, b"x" * 100, keynum=1, signer=key,
                             hmac_key_file=hmac_file)) == 100 + 8 + 256 + 20
    with pytest.raises(InputError, match="HMAC key required for 2711"):
        sign_for_chip(cm4, b"x", keynum=1, signer=key)
    wrapper, _log = _recording_wrapper(tmp_path, private_pem)
    with pytest.raises(UsageError, match="needs an RSA-SHA1 signature"):
        sign_for_chip(cm4, b"x", keynum=1, signer=HsmWrapperSigner(wrapper),
                      hmac_key_file=hmac_file)
    with pytest.raises(UsageError, match="not signed"):
        sign_for_chip(zero, b"x", keynum=1, signer=key)


def test_signers_are_built_only_by_signer_from_options() -> None:
    """Outside rpiboot.signing nobody loads private keys or runs wrappers itself, and each
    command module that signs calls signer_from_options exactly once."""
    src = Path(__file__).resolve().parents[2] / "src" / "rpiboot"
    private = ("PrivateKeySigner(", "HsmWrapperSigner(", "ExternalSignature(",
               "load_private_key", "hsm_sign_file", "resolve_wrapper")
    for path in src.rglob("*.py"):
        if src / "signing" in path.parents or path == src / "__init__.py":
            continue  # the package's lazy table only names the public functions
        text = path.read_text()
        assert not [name for name in private if name in text], path
        if path.parent.name == "cli" and "signer" in text:
            assert text.count("signer_from_options(") == 1, path

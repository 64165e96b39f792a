"""Signing: .sig files, keys/pubkey.bin, HSM wrappers, offline flow, 2712/2711 bootcode blocks.

Signatures are cross-checked with the openssl CLI (tests only; the product never runs it).
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import pytest
from eeprom_fixtures import *  # noqa: F403  (pytest fixtures)
from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot.errors import InputError, SigningError
from rpiboot.signing import bootcode, keys
from rpiboot.signing import signer_from_options as signer
from rpiboot.signing.rsa import load_signature_file, parse_signature_text
from rpiboot.signing.sigfile import (
    make_sig,
    make_sig_from_signature,
    parse_sig,
    sig_timestamp,
    signing_request,
    verify_sig,
    write_sig,
)

EXAMPLE_KEY_HASH = "8251a63a2edee9d8f710d63e9da5d639064929ce15a2238986a189ac6fcd3cee"


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    path = tmp_path / "boot.img"
    path.write_bytes(bytes(range(256)) * 300)
    return path


def _wrapper(tmp_path: Path, body: str) -> str:
    path = tmp_path / "wrapper.sh"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def _openssl(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=False)


# -- .sig files ------------------------------------------------------------------------------

def test_signed_sig_verifies_with_openssl(payload: Path, tmp_path: Path, private_pem: Path,
                                          public_pem: Path) -> None:
    sig = parse_sig(make_sig(payload, signer=signer(key=private_pem), timestamp=5))
    assert sig.sha256 == hashlib.sha256(payload.read_bytes()).hexdigest() and sig.ts == 5
    raw = tmp_path / "sig.bin"
    raw.write_bytes(sig.rsa2048 or b"")
    result = _openssl("dgst", "-sha256", "-verify", str(public_pem), "-signature", str(raw),
                      str(payload))
    assert result.returncode == 0 and b"Verified OK" in result.stdout


def test_openssl_signature_accepted_by_offline_flow(payload: Path, tmp_path: Path,
                                                    private_pem: Path, public_pem: Path) -> None:
    raw = tmp_path / "sig.bin"
    assert _openssl("dgst", "-sha256", "-sign", str(private_pem), "-out", str(raw),
                    str(payload)).returncode == 0
    assert signing_request(payload) == hashlib.sha256(payload.read_bytes()).digest()
    offline = make_sig_from_signature(payload, load_signature_file(raw), public_pem, timestamp=7)
    assert offline == make_sig(payload, signer=signer(key=private_pem), timestamp=7)
    hex_file = tmp_path / "sig.hex"
    hex_file.write_text(raw.read_bytes().hex() + "\n")
    assert load_signature_file(hex_file) == raw.read_bytes()


def test_offline_flow_rejects_foreign_signature(payload: Path, other_key: Path,
                                                public_pem: Path) -> None:
    foreign = parse_sig(make_sig(payload, signer=signer(key=other_key),
                                 timestamp=1)).rsa2048 or b""
    with pytest.raises(SigningError, match="does not verify"):
        make_sig_from_signature(payload, foreign, public_pem)


def test_source_date_epoch(payload: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert parse_sig(make_sig(payload)).ts == 0
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "")
    assert sig_timestamp() > 1_600_000_000
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(InputError, match="SOURCE_DATE_EPOCH"):
        make_sig(payload)
    with pytest.raises(InputError, match="negative"):
        sig_timestamp(-1)


def test_verify_catches_every_tampering(payload: Path, tmp_path: Path, private_pem: Path,
                                        public_pem: Path, other_key: Path) -> None:
    sig_path = tmp_path / "boot.sig"
    write_sig(payload, sig_path, signer=signer(key=private_pem), timestamp=1)
    assert verify_sig(payload, sig_path, key=public_pem).ts == 1
    assert verify_sig(payload, sig_path, key=private_pem).ts == 1  # private PEM is fine
    with pytest.raises(SigningError, match="does not match"):
        verify_sig(payload, sig_path, key=other_key)
    text = sig_path.read_text()
    bad_sha = tmp_path / "badsha.sig"
    bad_sha.write_text("0" + text[1:])
    with pytest.raises(SigningError, match="sha256 does not match"):
        verify_sig(payload, bad_sha, key=public_pem)
    bad_rsa = tmp_path / "badrsa.sig"
    bad_rsa.write_text(text.replace("rsa2048: ", "rsa2048: 0"))  # odd number of hex digits
    with pytest.raises(InputError, match="not hexadecimal"):
        verify_sig(payload, bad_rsa, key=public_pem)
    flipped = tmp_path / "flipped.sig"
    head, _, hexsig = text.rpartition("rsa2048: ")
    flipped.write_text(head + "rsa2048: " + ("0" if hexsig[0] != "0" else "1") + hexsig[1:])
    with pytest.raises(SigningError, match="does not match"):
        verify_sig(payload, flipped, key=public_pem)
    payload.write_bytes(payload.read_bytes()[:-1] + b"\0")
    with pytest.raises(SigningError, match="sha256 does not match"):
        verify_sig(payload, sig_path, key=public_pem)


def test_unsigned_sig_with_key_and_missing_sig(payload: Path, tmp_path: Path,
                                               public_pem: Path) -> None:
    sig_path = tmp_path / "plain.sig"
    write_sig(payload, sig_path, timestamp=3)
    assert sig_path.read_bytes().count(b"\n") == 2
    assert verify_sig(payload, sig_path).rsa2048 is None
    with pytest.raises(SigningError, match="No RSA signature"):
        verify_sig(payload, sig_path, key=public_pem)
    with pytest.raises(InputError, match="not found"):
        verify_sig(payload, tmp_path / "none.sig")


def test_sig_output_not_written_when_signing_fails(payload: Path, tmp_path: Path,
                                                   rsa1024_pem: Path) -> None:
    sig_path = tmp_path / "out.sig"
    with pytest.raises(SigningError, match="2048"):
        write_sig(payload, sig_path, signer=signer(key=rsa1024_pem))
    assert not sig_path.exists() and list(tmp_path.iterdir()) == [payload]


def test_large_file_streams(tmp_path: Path, private_pem: Path, public_pem: Path) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as handle:
        for index in range(5):
            handle.write(bytes([index]) * (3 << 20))
    write_sig(big, tmp_path / "big.sig", signer=signer(key=private_pem), timestamp=1)
    verify_sig(big, tmp_path / "big.sig", key=public_pem)


# -- HSM wrapper -----------------------------------------------------------------------------

def test_hsm_wrapper_matches_key_signature(payload: Path, tmp_path: Path, private_pem: Path,
                                           public_pem: Path) -> None:
    wrapper = _wrapper(tmp_path, f'[ "$1" = -a ] && [ "$2" = rsa2048-sha256 ] || exit 9\n'
                       f'openssl dgst -sha256 -hex -sign {private_pem} "$3" | '
                       "awk '{print $2}'")
    by_hsm = signer(hsm_wrapper=wrapper, public_key=public_pem)
    assert make_sig(payload, signer=by_hsm, timestamp=1) == \
        make_sig(payload, signer=signer(key=private_pem), timestamp=1)


@pytest.mark.parametrize(("body", "message"), [
    ("echo 'hsm: no token' >&2; exit 3", "exit code 3: hsm: no token"),
    ("exit 0", "empty output"),
    ("echo 'not hex at all'", "not hexadecimal"),
    ("echo abcd", "expected 256"),
])
def test_hsm_wrapper_failures_are_detected(payload: Path, tmp_path: Path, body: str,
                                           message: str) -> None:
    wrapper = _wrapper(tmp_path, body)
    with pytest.raises(SigningError, match=message):
        write_sig(payload, tmp_path / "out.sig", signer=signer(hsm_wrapper=wrapper))
    assert not (tmp_path / "out.sig").exists()


def test_hsm_wrapper_with_wrong_key_is_caught(payload: Path, tmp_path: Path, other_key: Path,
                                              public_pem: Path) -> None:
    wrapper = _wrapper(tmp_path, f'openssl dgst -sha256 -hex -sign {other_key} "$3" | '
                       "awk '{print $2}'")
    with pytest.raises(SigningError, match="does not verify"):
        make_sig(payload, signer=signer(hsm_wrapper=wrapper, public_key=public_pem))


def test_hsm_wrapper_missing_or_not_executable(payload: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        make_sig(payload, signer=signer(hsm_wrapper=str(tmp_path / "nope")))
    with pytest.raises(InputError, match="not found on PATH"):
        make_sig(payload, signer=signer(hsm_wrapper="no-such-wrapper-xyz"))
    script = tmp_path / "plain.sh"
    script.write_text("echo hi\n")
    with pytest.raises(InputError, match="not executable"):
        make_sig(payload, signer=signer(hsm_wrapper=str(script)))


def test_signature_text_parsing() -> None:
    raw = bytes(range(256))
    assert parse_signature_text("0x" + raw.hex().upper(), source="t") == raw
    assert parse_signature_text(" ".join(raw.hex()[i:i + 64] for i in range(0, 512, 64)),
                                source="t") == raw


# -- keys ------------------------------------------------------------------------------------

def test_pubkey_bin_matches_openssl_and_known_hash(public_pem: Path, private_pem: Path,
                                                   tmp_path: Path) -> None:
    blob = keys.public_key_to_bin(keys.load_public_key(public_pem))
    assert blob == keys.public_key_to_bin(keys.load_public_key(private_pem))
    assert keys.key_hash(blob).hex() == EXAMPLE_KEY_HASH
    modulus = _openssl("rsa", "-pubin", "-in", str(public_pem), "-noout", "-modulus").stdout
    n_hex = modulus.decode().strip().split("=", 1)[1]
    assert blob[:256] == bytes.fromhex(n_hex)[::-1]
    assert blob[256:] == (65537).to_bytes(8, "little")
    pem = keys.public_key_pem(keys.public_key_from_bin(blob))
    der_ours = _openssl("rsa", "-pubin", "-outform", "DER", data=pem).stdout
    der_ref = _openssl("rsa", "-pubin", "-in", str(public_pem), "-outform", "DER").stdout
    assert der_ours and der_ours == der_ref
    (tmp_path / "pubkey.bin").write_bytes(blob)
    assert keys.load_public_key(tmp_path / "pubkey.bin").public_numbers() == \
        keys.load_public_key(public_pem).public_numbers()


def test_key_hash_words_are_little_endian() -> None:
    words = keys.key_hash_words(bytes.fromhex(EXAMPLE_KEY_HASH))
    assert words[:2] == [0x3AA65182, 0xD8E9DE2E]


def test_generated_key_is_0600_2048_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    keys.generate_private_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert keys.load_private_key(path).key_size == 2048
    with pytest.raises(InputError, match="already exists"):
        keys.generate_private_key(path)
    with pytest.raises(SigningError, match="must be 2048"):
        keys.generate_private_key(tmp_path / "big.pem", bits=4096)
    assert not (tmp_path / "big.pem").exists()


def test_bad_keys_are_refused(tmp_path: Path, rsa1024_pem: Path) -> None:
    with pytest.raises(SigningError, match="must be 2048"):
        keys.load_public_key(rsa1024_pem)
    with pytest.raises(SigningError, match="must be 2048"):
        keys.load_private_key(rsa1024_pem)
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    with pytest.raises(InputError, match="not an RSA"):
        keys.load_public_key(junk)
    with pytest.raises(InputError, match="not found"):
        keys.load_private_key(tmp_path / "missing.pem")
    with pytest.raises(InputError, match="does not hold a valid RSA-2048"):
        keys.public_key_from_bin(bytes(264))
    with pytest.raises(InputError, match="expected 264"):
        keys.public_key_from_bin(bytes(100))


@settings(max_examples=30, deadline=None)
@given(n_low=st.binary(min_size=255, max_size=255), e=st.sampled_from([3, 17, 65537]))
def test_pubkey_bin_roundtrip(n_low: bytes, e: int) -> None:
    blob = (n_low + b"\x80").ljust(256, b"\0")[:256]
    blob = bytes([blob[0] | 1]) + blob[1:] + e.to_bytes(8, "little")
    assert keys.public_key_to_bin(keys.public_key_from_bin(blob)) == blob


# -- bootcode signature blocks ---------------------------------------------------------------

def test_2712_block_layout_and_openssl_check(private_pem: Path, public_pem: Path,
                                             tmp_path: Path) -> None:
    data = bytes((i * 7 + 3) & 0xFF for i in range(1000))
    signed = bootcode.sign_2712(data, keynum=16, version=0, signer=signer(key=private_pem))
    assert len(signed) == 1532 and signed[:1000] == data
    (block,) = bootcode.parse_2712_blocks(signed)
    assert (block.length, block.keynum, block.version, block.verifies) == (1000, 16, 0, True)
    assert keys.key_hash(block.pubkey_bin).hex() == EXAMPLE_KEY_HASH
    (tmp_path / "covered").write_bytes(signed[:1012])
    (tmp_path / "sig").write_bytes(block.signature)
    assert _openssl("dgst", "-sha256", "-verify", str(public_pem), "-signature",
                    str(tmp_path / "sig"), str(tmp_path / "covered")).returncode == 0
    twice = bootcode.sign_2712(signed, keynum=16, signer=signer(key=private_pem))
    assert [b.length for b in bootcode.parse_2712_blocks(twice)] == [1532, 1000]


def test_2712_offline_and_hsm_match_key(private_pem: Path, public_pem: Path, other_key: Path,
                                        tmp_path: Path) -> None:
    data = b"\x11" * 500
    by_key = bootcode.sign_2712(data, keynum=16, signer=signer(key=private_pem))
    payload = bootcode.payload_2712(data, 16, 0)
    signature = keys.load_private_key(private_pem)
    from rpiboot.signing.rsa import sign_digest

    external = sign_digest(signature, hashlib.sha256(payload).digest())
    offline = signer(signature=external, public_key=public_pem)
    assert bootcode.sign_2712(data, keynum=16, signer=offline) == by_key
    with pytest.raises(SigningError, match="does not verify"):
        bootcode.sign_2712(data, keynum=16,
                           signer=signer(signature=external, public_key=other_key))
    wrapper = _wrapper(tmp_path, f'openssl dgst -sha256 -hex -sign {private_pem} "$3" | '
                       "awk '{print $2}'")
    assert bootcode.sign_2712(data, keynum=16,
                              signer=signer(hsm_wrapper=wrapper, public_key=public_pem)) == by_key
    with pytest.raises(InputError, match="Public key"):
        bootcode.sign_2712(data, signer=signer(hsm_wrapper=wrapper))
    with pytest.raises(InputError, match="no signing key"):
        bootcode.sign_2712(data)


@pytest.mark.parametrize(("keynum", "version", "message"), [
    (5, 0, "Bad key number 5"), (17, 0, "Bad key number"), (16, 33, "Bad version"),
    (16, -1, "Bad version")])
def test_2712_bad_keynum_version(private_pem: Path, keynum: int, version: int,
                                 message: str) -> None:
    with pytest.raises(InputError, match=message):
        bootcode.sign_2712(b"x", keynum=keynum, version=version, signer=signer(key=private_pem))


def test_2712_size_limit(private_pem: Path) -> None:
    fits = bootcode.sign_2712(b"\0" * (112640 - 532), signer=signer(key=private_pem))
    assert len(fits) == 112640
    with pytest.raises(InputError, match="Signed binary size 112641 is too large"):
        bootcode.sign_2712(b"\0" * (112640 - 531), signer=signer(key=private_pem))


def test_2711_format(vectors_dir: Path, private_pem: Path) -> None:
    case = vectors_dir / "eeprom/sign-bootcode-2711-hmac"
    hmac_key = bootcode.read_hmac_key(case / "inputs/hmac.key")
    signed = bootcode.sign_2711((case / "inputs/blob.bin").read_bytes(), keynum=1,
                                key=private_pem, hmac_key=hmac_key)
    assert signed == (case / "outputs/blob.2711.bin").read_bytes()


def test_2711_hmac_key_errors(tmp_path: Path) -> None:
    short = tmp_path / "short.key"
    short.write_text("0011\n")
    with pytest.raises(InputError, match="Bad key length 4 expected 40"):
        bootcode.read_hmac_key(short)
    bad = tmp_path / "bad.key"
    bad.write_text("zz" * 20)
    with pytest.raises(InputError, match="not hexadecimal"):
        bootcode.read_hmac_key(bad)


def test_real_firmware_blocks_verify(vectors_dir: Path) -> None:
    recovery = (vectors_dir / "eeprom/_inputs/recovery-2712.bin").read_bytes()
    (block,) = bootcode.parse_2712_blocks(recovery)
    assert block.verifies and block.keynum == 0 and block.version == 1
    assert keys.key_hash(block.pubkey_bin).hex().startswith("e3345447")
    tampered = bytearray(recovery)
    tampered[100] ^= 1
    assert not bootcode.parse_2712_blocks(bytes(tampered))[0].verifies


def test_no_openssl_subprocess_in_product() -> None:
    src = Path(__file__).resolve().parents[2] / "src" / "rpiboot"
    for folder in ("signing", "eeprom", "recovery"):
        for path in (src / folder).rglob("*.py"):
            text = path.read_text()
            for tool in ('"openssl"', '"xxd"', '"strings"', "'openssl'"):
                assert tool not in text, f"{path} runs {tool}"

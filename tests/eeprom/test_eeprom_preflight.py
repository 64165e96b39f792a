"""Preflight of the recovery flows (library API): every refusal raises the project's error and
writes NOTHING; ``force`` overrides only the Raspberry Pi signature refusals, and says so.

Real files from ../shared/firmware, the TEST keys of usbboot/secure-boot-example.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from eeprom_fixtures import *  # noqa: F403  (pytest fixtures)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from preflight_helpers import *  # noqa: F403  (fixtures and helpers)
from preflight_helpers import (
    EXAMPLE_KEY_HASH,
    NO_KEY,
    RPI_2712_KEY_HASH,
    Firmware,
    flipped,
    metadata,
    prepare_options,
    tree,
)

from rpiboot.chips import CHIPS, BootcodeSignature, chip_for_board_revision
from rpiboot.eeprom.image import EepromImage
from rpiboot.errors import ExitCode, InputError, RpibootError, SigningError, UsageError
from rpiboot.recovery.board import load_board_metadata, parse_key_hash
from rpiboot.recovery.preflight import Preflight, check_second_stage, otp_options_in
from rpiboot.recovery.prepare import prepare_recovery_dir
from rpiboot.signing import signer_from_options
from rpiboot.signing.bootcode import (
    bootcode_format,
    parse_2712_blocks,
    rpi_signature_problem,
    sign_2712,
)
from rpiboot.signing.keys import key_hash

BOOTCODE_BYTE = 0x1000  # inside the bootcode section's data (2712 image)
BOOTSYS_BYTE = 0x11018  # inside bootsys (file data at 0x10018)


def _refused(tmp_path: Path, error: type[RpibootError], match: str, opts: object) -> RpibootError:
    """prepare_recovery_dir(opts) raises ``error`` and leaves tmp_path/out absent."""
    with pytest.raises(error, match=match) as caught:
        prepare_recovery_dir(opts)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    return caught.value


# -- what identifies a file's chip ------------------------------------------------------------

def test_real_files_are_recognised(fw: Firmware, firmware_dir: Path) -> None:
    for chip in ("2711", "2712"):
        want = CHIPS[int(chip, 16)].bootcode_signature
        assert bootcode_format(fw.recovery(chip).read_bytes()).signature is want
    rec5 = bootcode_format(fw.recovery("2712").read_bytes())
    assert [key_hash(b.pubkey_bin).hex() for b in rec5.blocks] == [RPI_2712_KEY_HASH]
    assert rpi_signature_problem(rec5, CHIPS[0x2712].rpi_bootcode_key_hashes) is None
    assert CHIPS[0x2712].rpi_bootcode_key_hashes == {RPI_2712_KEY_HASH}
    msd = firmware_dir / "usbboot/msd"
    assert bootcode_format((msd / "bootcode4.bin").read_bytes()).signature \
        is BootcodeSignature.RSA_SHA1_HMAC
    assert bootcode_format((msd / "bootcode.bin").read_bytes()).signature \
        is BootcodeSignature.NONE


def test_board_revision_names_the_chip() -> None:
    assert chip_for_board_revision(0xB04170) is CHIPS[0x2712]  # Pi 5 (usbboot README)
    assert chip_for_board_revision(0xC03141) is CHIPS[0x2711]  # CM4
    assert chip_for_board_revision(0xA02082) is None  # Pi 3: not an EEPROM chip in the table
    assert chip_for_board_revision(0x0010) is None  # old-style code


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offset=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_any_bit_flip_in_the_pi5_recovery_bin_is_refused(fw: Firmware, offset: int,
                                                         bit: int) -> None:
    data = bytearray(fw.recovery("2712").read_bytes())
    data[offset % len(data)] ^= 1 << bit
    with pytest.raises(InputError):
        check_second_stage(Preflight(), bytes(data), what="recovery.bin", chip=CHIPS[0x2712])


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2048))
def test_format_recognition_never_crashes(data: bytes) -> None:
    fmt = bootcode_format(data)
    assert fmt.signature in BootcodeSignature


# -- chip checks --------------------------------------------------------------------------------

@pytest.mark.parametrize(("flow", "other"), [("secure-boot-recovery5", "2711"),
                                             ("recovery5", "2711"), ("recovery", "2712"),
                                             ("secure-boot-recovery", "2712")])
def test_recovery_bin_of_the_other_chip_is_refused_even_with_force(
        fw: Firmware, tmp_path: Path, flow: str, other: str) -> None:
    opts = prepare_options(fw, flow, tmp_path / "out", force=True)
    opts.recovery_bin = fw.recovery(other)
    err = _refused(tmp_path, InputError, "second stage", opts)
    family = "BCM2711 (Pi 4 family)" if other == "2711" else "BCM2712 (Pi 5 family)"
    assert family in err.message and err.exit_code == ExitCode.FAILED


def test_unsigned_second_stage_is_refused_unless_forced(fw: Firmware, firmware_dir: Path,
                                                        tmp_path: Path) -> None:
    opts = prepare_options(fw, "recovery", tmp_path / "out")
    opts.recovery_bin = firmware_dir / "usbboot/msd/bootcode.bin"  # BCM2835/7: no signature
    err = _refused(tmp_path, InputError, "not a signed BCM2711", opts)
    assert "--force" in (err.hint or "")
    opts.force = True
    result = prepare_recovery_dir(opts)
    assert len(result.overrides) == 1 and "not a signed BCM2711" in result.overrides[0]


@pytest.mark.parametrize(("where", "offset"), [("bootcode", BOOTCODE_BYTE),
                                               ("bootsys", BOOTSYS_BYTE)])
def test_pi5_image_with_a_flipped_byte_is_refused_then_forced(
        fw: Firmware, tmp_path: Path, where: str, offset: int) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    image = flipped(fw.image("2712"), offset, inputs / "pieeprom.bin")
    opts = prepare_options(fw, "secure-boot-recovery5", tmp_path / "out")
    opts.image = image
    err = _refused(tmp_path, InputError, "Raspberry Pi signature does not verify", opts)
    assert where in err.message and "--force" in (err.hint or "")
    opts.force = True
    seen: list[list[str]] = []
    result = prepare_recovery_dir(opts, on_overrides=seen.append)
    assert seen == [result.overrides] and where in result.overrides[0]
    part = EepromImage.load(tmp_path / "out/pieeprom.bin").read_file(
        "bootcode.bin" if where == "bootcode" else where)
    blocks = parse_2712_blocks(part or b"")
    assert [(b.keynum, b.verifies) for b in blocks] == [(16, True), (0, False)]


def test_pi5_recovery_bin_with_a_flipped_byte_is_refused(fw: Firmware, tmp_path: Path) -> None:
    opts = prepare_options(fw, "recovery5", tmp_path / "out")
    opts.recovery_bin = flipped(fw.recovery("2712"), 0x2000, tmp_path / "recovery.bin")
    with pytest.raises(InputError, match=r"recovery\.bin .*does not verify"):
        prepare_recovery_dir(opts)
    assert not (tmp_path / "out").exists()


def test_raspberry_pi_block_made_with_another_key_is_refused(fw: Firmware, other_key: Path,
                                                             tmp_path: Path) -> None:
    original = fw.recovery("2712").read_bytes()
    inner = parse_2712_blocks(original)[-1]
    forged = sign_2712(original[:inner.offset], keynum=0, version=1,
                       signer=signer_from_options(key=other_key))
    assert parse_2712_blocks(forged)[0].verifies  # it verifies ... with its own key
    (tmp_path / "forged.bin").write_bytes(forged)
    opts = prepare_options(fw, "recovery5", tmp_path / "out")
    opts.recovery_bin = tmp_path / "forged.bin"
    with pytest.raises(InputError, match="not the Raspberry Pi key"):
        prepare_recovery_dir(opts)
    assert not (tmp_path / "out").exists()


def test_already_countersigned_image_is_refused_even_with_force(fw: Firmware,
                                                               tmp_path: Path) -> None:
    first = prepare_options(fw, "secure-boot-recovery5", tmp_path / "first")
    prepare_recovery_dir(first)
    opts = prepare_options(fw, "secure-boot-recovery5", tmp_path / "out", force=True)
    opts.image = tmp_path / "first/pieeprom.signed_boot.bin"
    with pytest.raises(InputError, match="already countersigned"):
        prepare_recovery_dir(opts)
    assert not (tmp_path / "out").exists()


def test_program_pubkey_needs_a_new_enough_pi4_bootloader(fw: Firmware, tmp_path: Path) -> None:
    """The BUILD_TIMESTAMP of a copy is set to the 2021-12-02 release's.  Its bootcode still
    passes: a 2711 signature can only be checked for structure off the board."""
    data = fw.image("2711").read_bytes()
    old = data.replace(b"BUILD_TIMESTAMP=1779045198", b"BUILD_TIMESTAMP=1638443283")
    (tmp_path / "old.bin").write_bytes(old)
    opts = prepare_options(fw, "secure-boot-recovery", tmp_path / "out", program_pubkey=True,
                           confirmed_irreversible=True)
    opts.image = tmp_path / "old.bin"
    with pytest.raises(InputError, match="older than the first BCM2711 bootloader"):
        prepare_recovery_dir(opts)
    assert not (tmp_path / "out").exists()
    opts.program_pubkey = opts.confirmed_irreversible = False
    prepare_recovery_dir(opts)  # without program_pubkey the same image is fine


# -- keys ---------------------------------------------------------------------------------------

def test_embedded_key_other_than_the_signing_key_is_refused_before_program_pubkey(
        fw: Firmware, other_key: Path, tmp_path: Path) -> None:
    opts = prepare_options(fw, "secure-boot-recovery5", tmp_path / "out", program_pubkey=True,
                           confirmed_irreversible=True, public_key=other_key)
    err = _refused(tmp_path, SigningError, "do not match", opts)
    assert EXAMPLE_KEY_HASH in err.message and key_hash_of(other_key) in err.message


def key_hash_of(pem: Path) -> str:
    from rpiboot.signing.keys import load_public_key, public_key_to_bin

    return key_hash(public_key_to_bin(load_public_key(pem))).hex()


def test_hsm_signing_with_another_key_than_the_public_key_is_refused(
        fw: Firmware, other_key: Path, tmp_path: Path) -> None:
    wrapper = tmp_path / "hsm"
    wrapper.write_text(f'#!/bin/sh\nopenssl dgst -sha256 -hex -sign {other_key} "$3" | '
                       "awk '{print $2}'\n")
    wrapper.chmod(0o755)
    opts = prepare_options(fw, "secure-boot-recovery", tmp_path / "out", program_pubkey=True,
                           confirmed_irreversible=True)
    opts.signer = signer_from_options(hsm_wrapper=str(wrapper), public_key=fw.public_pem)
    _refused(tmp_path, SigningError, "does not verify", opts)


def test_stale_embedded_key_in_an_unsigned_flow_is_refused(vectors_dir: Path, fw: Firmware,
                                                           tmp_path: Path) -> None:
    """An image that embeds a key and a bootconf.sig: replacing its config without signing
    leaves a signature a board locked to that key refuses."""
    opts = prepare_options(fw, "recovery", tmp_path / "out")
    opts.image = vectors_dir / "eeprom/_inputs/test-pieeprom-signed-2711.bin"
    _refused(tmp_path, SigningError, "bootconf.sig that does not verify", opts)


@pytest.mark.parametrize("expected", [EXAMPLE_KEY_HASH, "1" * 64])
def test_expect_key_hash(fw: Firmware, tmp_path: Path, expected: str) -> None:
    opts = prepare_options(fw, "secure-boot-recovery", tmp_path / "out", expect_key_hash=expected)
    if expected == EXAMPLE_KEY_HASH:
        assert prepare_recovery_dir(opts).key_hash == expected
    else:
        _refused(tmp_path, SigningError, "not the expected", opts)


# -- the board ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("flow", "board_hash", "boardrev", "extra", "error", "match"), [
    ("secure-boot-recovery5", "1" * 64, "b04170", {}, SigningError, "locked to key hash 1111"),
    ("secure-boot-recovery", "1" * 64, "c03141", {"program_pubkey": True}, SigningError,
     "locked to key hash"),
    ("recovery5", EXAMPLE_KEY_HASH, "b04170", {}, SigningError, "embeds no key"),
    ("secure-boot-recovery5", NO_KEY, "c03141", {}, InputError, "is a BCM2711 .Pi 4."),
    ("secure-boot-recovery5", EXAMPLE_KEY_HASH, "b04170", {}, InputError,
     "only runs a countersigned bootcode5.bin"),
    ("secure-boot-recovery5", NO_KEY, "b04170", {"countersign_recovery": True}, InputError,
     "rejects a countersigned bootcode5.bin"),
])
def test_board_metadata_refusals(fw: Firmware, tmp_path: Path, flow: str, board_hash: str,
                                 boardrev: str, extra: dict[str, object],
                                 error: type[RpibootError], match: str) -> None:
    board = load_board_metadata(metadata(tmp_path, board_hash, boardrev))
    if extra.get("program_pubkey"):
        extra = {**extra, "confirmed_irreversible": True}
    opts = prepare_options(fw, flow, tmp_path / "out", board=board, force=True, **extra)
    _refused(tmp_path, error, match, opts)


@pytest.mark.parametrize(("board_hash", "countersign"), [(NO_KEY, False),
                                                         (EXAMPLE_KEY_HASH, True)])
def test_board_metadata_accepted(fw: Firmware, tmp_path: Path, board_hash: str,
                                 countersign: bool) -> None:
    board = load_board_metadata(metadata(tmp_path, board_hash))
    opts = prepare_options(fw, "secure-boot-recovery5", tmp_path / "out", board=board,
                           countersign_recovery=countersign, program_pubkey=True,
                           confirmed_irreversible=True)
    assert prepare_recovery_dir(opts).key_hash == EXAMPLE_KEY_HASH


@pytest.mark.parametrize(("content", "match"), [
    ('{"USER_BOARDREV": "b04170"}', "no CUSTOMER_KEY_HASH"),
    ('{"CUSTOMER_KEY_HASH": "xyz"}', "is not a key hash"),
    ('["CUSTOMER_KEY_HASH"]', "not a board metadata file"),
    ('{"CUSTOMER_KEY_HASH": ', "not a board metadata file"),
])
def test_bad_metadata_files(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "meta.json"
    path.write_text(content)
    with pytest.raises(InputError, match=match):
        load_board_metadata(path)
    with pytest.raises(InputError, match="not found"):
        load_board_metadata(tmp_path / "missing.json")


def test_key_hash_spellings() -> None:
    spaced = " ".join(EXAMPLE_KEY_HASH[i:i + 8] for i in range(0, 64, 8))
    for text in (EXAMPLE_KEY_HASH.upper(), "0x" + EXAMPLE_KEY_HASH, spaced + "\n"):
        assert parse_key_hash(text, source="t") == EXAMPLE_KEY_HASH


# -- OTP options --------------------------------------------------------------------------------

def test_otp_options_in_config_txt(fw: Firmware, tmp_path: Path) -> None:
    assert otp_options_in(fw.config_txt("secure-boot-recovery")) == []  # all commented out
    config = tmp_path / "config.txt"
    config.write_text("uart_2ndstage=1\n program_pubkey = 1 # lock\nrevoke_devkey=0\n"
                      "#program_jtag_lock=1\nprogram_rpiboot_gpio=8\n")
    assert otp_options_in(config) == ["program_pubkey", "program_rpiboot_gpio"]
    assert otp_options_in(tmp_path / "absent.txt") == []


@pytest.mark.parametrize(("flow", "gpio", "match"), [("secure-boot-recovery5", 8, "does not exist"),
                                                     ("recovery", 3, "accepts GPIO 2, 4")])
def test_program_rpiboot_gpio_values(fw: Firmware, tmp_path: Path, flow: str, gpio: int,
                                     match: str) -> None:
    opts = prepare_options(fw, flow, tmp_path / "out", program_rpiboot_gpio=gpio,
                           confirmed_irreversible=True)
    _refused(tmp_path, UsageError, match, opts)


def test_nothing_is_touched_in_an_existing_directory_on_refusal(fw: Firmware,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "out"
    prepare_recovery_dir(prepare_options(fw, "secure-boot-recovery5", out))
    before = tree(out)
    opts = prepare_options(fw, "secure-boot-recovery5", out, overwrite=True, force=True)
    opts.recovery_bin = fw.recovery("2711")
    with pytest.raises(InputError):
        prepare_recovery_dir(opts)
    assert tree(out) == before


@pytest.mark.parametrize("cause", ["config too large", "other chip", "flipped bootsys",
                                   "board locked to another key"])
def test_no_signature_is_made_before_every_check_passed(fw: Firmware, eeprom_inputs: Path,
                                                        tmp_path: Path, cause: str) -> None:
    """An HSM wrapper that records each call: a refused run never called it."""
    calls = tmp_path / "calls.log"
    wrapper = tmp_path / "hsm"
    wrapper.write_text(f'#!/bin/sh\necho "$3" >> {calls}\nopenssl dgst -sha256 -hex -sign '
                       f"{fw.private_pem} \"$3\" | awk '{{print $2}}'\n")
    wrapper.chmod(0o755)
    opts = prepare_options(fw, "secure-boot-recovery5", tmp_path / "out",
                           countersign_recovery=True)
    opts.signer = signer_from_options(hsm_wrapper=str(wrapper), public_key=fw.public_pem)
    if cause == "config too large":
        opts.boot_conf = eeprom_inputs / "bootconf-4077.txt"
    elif cause == "other chip":
        opts.recovery_bin = fw.recovery("2711")
    elif cause == "flipped bootsys":
        opts.image = flipped(fw.image("2712"), BOOTSYS_BYTE, tmp_path / "flipped.bin")
    else:
        opts.board = load_board_metadata(metadata(tmp_path, "2" * 64))
    with pytest.raises(RpibootError):
        prepare_recovery_dir(opts)
    assert not calls.exists() and not (tmp_path / "out").exists()
    if cause == "flipped bootsys":  # the same run, forced: now the wrapper signs
        opts.force = True
        prepare_recovery_dir(opts)
        assert len(calls.read_text().splitlines()) == 4  # recovery, bootcode, bootsys, config

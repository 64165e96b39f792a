"""Crafted EEPROM images and .sig files: out-of-range or thousands-of-digits timestamps and
oversized files are InputErrors naming the file and the offset/line, never a crash."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rpiboot.cli.main import main as rpiboot_main
from rpiboot.eeprom.image import MAX_TIMESTAMP, EepromImage
from rpiboot.eeprom.info import describe
from rpiboot.errors import InputError
from rpiboot.signing.sigfile import MAX_TS, parse_sig, read_sig

STAMP = b"BUILD_TIMESTAMP="


@pytest.fixture(scope="module")
def image_2711(firmware_dir: Path) -> bytes:
    return (firmware_dir / "rpi-eeprom/2711/pieeprom-2026-05-17.bin").read_bytes()


def _with_timestamp(original: bytes, digits: bytes) -> tuple[bytes, int]:
    """The image with its build timestamp overwritten in place (the section chain intact)."""
    data = bytearray(original)
    at = data.index(STAMP) + len(STAMP)
    data[at:at + len(digits) + 1] = digits + b"\0"
    return bytes(data), at


@pytest.mark.parametrize("digits", [b"9" * 5000, b"9" * 11, str(MAX_TIMESTAMP + 1).encode()])
def test_build_timestamps_out_of_range_name_the_offset(image_2711: bytes, digits: bytes) -> None:
    data, at = _with_timestamp(image_2711, digits)
    image = EepromImage(data, source="crafted.bin")
    with pytest.raises(InputError, match=rf"crafted\.bin: BUILD_TIMESTAMP at offset {at:#x} "
                       rf"is out of range: .* \({len(digits)} digits"):
        describe(image)


def test_the_largest_build_timestamp_is_shown(image_2711: bytes, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = _with_timestamp(image_2711, str(MAX_TIMESTAMP).encode())
    path = tmp_path / "max.bin"
    path.write_bytes(data)
    assert rpiboot_main(["eeprom", "info", str(path)]) == 0
    assert "4294967295 (2106-02-07 06:28:15 UTC)" in capsys.readouterr().out


def test_eeprom_info_on_a_crafted_timestamp_exits_1_with_the_offset(
        image_2711: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, at = _with_timestamp(image_2711, b"1" * 4400)
    path = tmp_path / "crafted.bin"
    path.write_bytes(data)
    assert rpiboot_main(["eeprom", "info", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: BUILD_TIMESTAMP at offset {at:#x} is out of range" in err
    assert "Traceback" not in err and "internal error" not in err


def test_a_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    huge = tmp_path / "huge.bin"
    with open(huge, "wb") as handle:
        handle.truncate(64 << 30)  # 64 GiB, sparse: reading it would exhaust memory
    started = time.monotonic()
    with pytest.raises(InputError, match=f"got actual size {64 << 30} bytes"):
        EepromImage.load(huge)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("ts", ["9" * 5000, str(MAX_TS + 1), "1" + "0" * 25])
def test_sig_timestamps_out_of_range_name_the_line(ts: str) -> None:
    text = f"{'a' * 64}\nts: {ts}\n".encode()
    with pytest.raises(InputError, match=rf"boot\.sig line 2: ts value .* \({len(ts)} digits\) "
                       "is out of range"):
        parse_sig(text, source="boot.sig")


def test_the_largest_sig_timestamp_round_trips() -> None:
    sig = parse_sig(f"{'a' * 64}\nts: {MAX_TS}\n".encode())
    assert sig.ts == MAX_TS and parse_sig(sig.to_bytes()) == sig


def test_a_huge_sig_file_is_refused_after_reading_64k(tmp_path: Path) -> None:
    huge = tmp_path / "boot.sig"
    with open(huge, "wb") as handle:
        handle.truncate(8 << 30)
    with pytest.raises(InputError, match=r"boot\.sig: 65537 bytes is too large"):
        read_sig(huge)


def test_the_real_boot_sig_parses(firmware_dir: Path) -> None:
    sig = read_sig(firmware_dir / "usbboot/secure-boot-example/boot.sig")
    assert sig.ts == 1734010524 and sig.rsa2048 is not None and len(sig.sha256) == 64

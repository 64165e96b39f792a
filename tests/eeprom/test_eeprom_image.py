"""EEPROM image library: parsing real images, replacing files, timestamps, every error path."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rpiboot.eeprom.image import (
    MAGIC_FILE,
    MAGIC_PAD,
    EepromImage,
    parse_sections,
)
from rpiboot.errors import InputError

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def img2711(vectors_dir: Path) -> bytes:
    return (vectors_dir / "eeprom/_inputs/pieeprom-2711.bin").read_bytes()


@pytest.fixture(scope="module")
def img2712(vectors_dir: Path) -> bytes:
    return (vectors_dir / "eeprom/_inputs/pieeprom-2712.bin").read_bytes()


def test_2711_layout_matches_spec(img2711: bytes) -> None:
    image = EepromImage(img2711)
    files = {s.name: s.offset for s in image.file_sections()}
    assert files == {"updatetime": 0x071C78, "pubkey.bin": 0x071D00, "cacert.der": 0x072000,
                     "bootconf.sig": 0x072900, "bootconf.txt": 0x072E00}
    assert not image.is_ab
    assert image.build_timestamp() == 1779045198
    assert len(image.read_file("bootcode.bin") or b"") == 73120


def test_2712_layout_matches_spec(img2712: bytes) -> None:
    image = EepromImage(img2712)
    assert image.is_ab
    assert image.find_file("bootsys") is not None
    assert image.find_file("bootsys").offset == 0x10000  # type: ignore[union-attr]
    assert [s.offset for s in image.file_sections() if s.name == "updatetime"] == [
        0x0067A0, 0x0A1D10]
    assert image.build_timestamp() == 1779807685
    assert image.sections[-1].offset == 0x107000 and image.sections[-1].magic == MAGIC_PAD


@pytest.mark.parametrize("name", ["img2711", "img2712"])
def test_writing_back_own_config_is_identity(name: str, request: pytest.FixtureRequest) -> None:
    original = request.getfixturevalue(name)
    image = EepromImage(original)
    image.replace_file("bootconf.txt", image.read_file("bootconf.txt") or b"")
    assert image.to_bytes() == original


@SETTINGS
@given(config=st.binary(min_size=0, max_size=4076))
def test_config_replace_roundtrip(img2712: bytes, img2711: bytes, config: bytes) -> None:
    for original in (img2711, img2712):
        image = EepromImage(original)
        before = {s.name: image.section_data(s) for s in image.file_sections()
                  if s.name != "bootconf.txt"}
        image.replace_file("bootconf.txt", config)
        reparsed = EepromImage(image.to_bytes())
        assert reparsed.read_file("bootconf.txt") == config
        after = {s.name: reparsed.section_data(s) for s in reparsed.file_sections()
                 if s.name != "bootconf.txt"}
        assert after == before
        reparsed.replace_file("bootconf.txt", EepromImage(original).read_file("bootconf.txt")
                              or b"")
        assert reparsed.to_bytes() == original


def test_cacert_fits_exactly_and_one_more_byte_is_rejected(img2711: bytes) -> None:
    image = EepromImage(img2711)
    image.replace_file("cacert.der", bytes(range(256)) * 8 + bytes(232))  # 2280 bytes
    assert EepromImage(image.to_bytes()).read_file("cacert.der") == bytes(range(256)) * 8 + \
        bytes(232)
    for size in (2281, 2284):  # the reference accepts 2281..2284 and corrupts bootconf.sig
        with pytest.raises(InputError, match="does not fit"):
            EepromImage(img2711).replace_file("cacert.der", bytes(size))


def test_file_over_4076_bytes_is_rejected(img2711: bytes) -> None:
    with pytest.raises(InputError, match="maximum size is 4076"):
        EepromImage(img2711).replace_file("bootconf.txt", b"x" * 4077)


def test_bootcode_overflow_on_ab_image_is_rejected(img2712: bytes) -> None:
    image = EepromImage(img2712)
    room = 0x67A0 - 8
    image.replace_file("bootcode.bin", b"\xaa" * room)  # exactly fills, no padding header
    assert EepromImage(image.to_bytes()).read_file("bootcode.bin") == b"\xaa" * room
    with pytest.raises(InputError, match="does not fit"):
        EepromImage(img2712).replace_file("bootcode.bin", b"\xaa" * (room + 1))


def test_bootcode_replace_on_2711_needs_128k(img2711: bytes) -> None:
    with pytest.raises(InputError, match="128K must be reserved"):
        EepromImage(img2711).replace_file("bootcode.bin", b"\0" * 100)


def test_bootsys_grows_into_padding(img2712: bytes) -> None:
    image = EepromImage(img2712)
    bootsys = (image.read_file("bootsys") or b"") + b"\x55" * 532
    image.replace_file("bootsys", bootsys)
    reparsed = EepromImage(image.to_bytes())
    assert reparsed.read_file("bootsys") == bootsys
    pad = reparsed.sections[reparsed.sections.index(reparsed.find_file("bootsys")) + 1]
    assert pad.magic == MAGIC_PAD and pad.length == 0  # the zero-length padding section


def test_missing_target_is_reported(img2711: bytes) -> None:
    with pytest.raises(InputError, match=r"Update target nosuch\.bin not found"):
        EepromImage(img2711).replace_file("nosuch.bin", b"x")


def test_timestamp_2712_writes_both_updatetime_files(img2712: bytes) -> None:
    image = EepromImage(img2712)
    image.set_update_timestamp(1700000000)
    expected = bytes.fromhex("ff0eac9a00f15365")
    data = image.to_bytes()
    assert data[0x67A0 + 24:0x67A0 + 32] == expected
    assert data[0xA1D10 + 24:0xA1D10 + 32] == expected
    assert sum(a != b for a, b in zip(data, img2712, strict=True)) <= 16


def test_timestamp_2711_goes_to_last_8_bytes(img2711: bytes) -> None:
    image = EepromImage(img2711)
    image.set_update_timestamp(1700000000)
    assert image.to_bytes()[-8:] == struct.pack("<II", ~1700000000 & 0xFFFFFFFF, 1700000000)
    with pytest.raises(InputError, match="32 bits"):
        image.set_update_timestamp(1 << 32)


def test_wrong_size_is_rejected() -> None:
    with pytest.raises(InputError, match="Expected sizes"):
        EepromImage(b"\xff" * 1000)


def test_missing_image_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="Failed to read"):
        EepromImage.load(tmp_path / "nope.bin")


def test_corrupted_magic(img2711: bytes) -> None:
    data = bytearray(img2711)
    data[0x011FC0:0x011FC4] = bytes.fromhex("12345678")
    with pytest.raises(InputError, match="corrupted at offset 0x11fc0"):
        EepromImage(data)


def test_section_running_past_end_is_rejected(img2711: bytes) -> None:
    data = bytearray(img2711)
    struct.pack_into(">I", data, 0x072E00 + 4, 0x100000)
    with pytest.raises(InputError, match="runs past the end"):
        EepromImage(data)


def test_truncated_file_section_header_is_rejected(img2711: bytes) -> None:
    data = bytearray(img2711)
    struct.pack_into(">II", data, 0x072E00, MAGIC_FILE, 4)
    with pytest.raises(InputError, match="only 4 bytes"):
        parse_sections(data)


def test_image_without_bootcode_is_rejected() -> None:
    data = bytearray(b"\xff" * 524288)
    with pytest.raises(InputError, match="no bootcode"):
        EepromImage(data)

"""Pack/parse of the RPIBOOT wire messages (spec sections 2-4)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot.errors import BootError
from rpiboot.protocol.messages import (
    BOOT_MESSAGE_SIZE,
    FILE_MESSAGE_SIZE,
    Command,
    pack_boot_message,
    pack_file_message,
    pack_status,
    parse_boot_message,
    parse_file_message,
    parse_metadata_record,
    parse_status,
)
from rpiboot.usb.link import join_length, split_length

FAST = settings(max_examples=60, deadline=None)
lengths = st.integers(min_value=0, max_value=0xFFFF_FFFF)


@FAST
@given(lengths)
def test_split_length_is_low_and_high_16_bits(length: int) -> None:
    w_value, w_index = split_length(length)
    assert 0 <= w_value <= 0xFFFF and 0 <= w_index <= 0xFFFF
    assert struct.pack("<HH", w_value, w_index) == struct.pack("<I", length)
    assert join_length(w_value, w_index) == length


@pytest.mark.parametrize("bad", [-1, 1 << 32])
def test_split_length_rejects_out_of_range(bad: int) -> None:
    with pytest.raises(ValueError):
        split_length(bad)


def test_split_length_known_value() -> None:
    assert split_length(105984) == (105984 - 65536, 1)


@FAST
@given(lengths, st.binary(min_size=20, max_size=20))
def test_boot_message_layout_and_roundtrip(length: int, signature: bytes) -> None:
    blob = pack_boot_message(length, signature)
    assert len(blob) == BOOT_MESSAGE_SIZE
    assert blob[:4] == length.to_bytes(4, "little")
    assert blob[4:] == signature
    assert parse_boot_message(blob) == (length, signature)


def test_boot_message_unsigned_has_zero_signature() -> None:
    assert pack_boot_message(52624) == (52624).to_bytes(4, "little") + bytes(20)


@pytest.mark.parametrize("signature", [b"\1" * 19, b"\1" * 21])
def test_boot_message_rejects_wrong_signature_size(signature: bytes) -> None:
    with pytest.raises(ValueError):
        pack_boot_message(1, signature)


@FAST
@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_status_roundtrip(status: int) -> None:
    assert parse_status(pack_status(status)) == status


def test_status_wrong_size_is_boot_error() -> None:
    with pytest.raises(BootError):
        parse_status(b"\0\0")


names = st.binary(max_size=255).map(lambda b: b.replace(b"\0", b"x"))


@FAST
@given(st.integers(min_value=-(2**31), max_value=2**31 - 1), names)
def test_file_message_roundtrip(command: int, name: bytes) -> None:
    blob = pack_file_message(command, name)
    assert len(blob) == FILE_MESSAGE_SIZE
    assert blob[:4] == struct.pack("<i", command)
    message = parse_file_message(blob)
    assert (message.command, message.name) == (command, name)


@FAST
@given(names, st.binary(max_size=100))
def test_file_message_name_ends_at_first_nul(name: bytes, garbage: bytes) -> None:
    raw = (name + b"\0" + garbage)[:256].ljust(256, b"\0")
    blob = struct.pack("<i", 1) + raw
    assert parse_file_message(blob).name == name[:256]


def test_file_message_name_without_nul_uses_all_256_bytes() -> None:
    blob = struct.pack("<i", 0) + b"a" * 256
    assert parse_file_message(blob).name == b"a" * 256


@pytest.mark.parametrize("size", [0, 4, 259, 261])
def test_file_message_wrong_size_is_boot_error(size: int) -> None:
    with pytest.raises(BootError):
        parse_file_message(bytes(size))


def test_metadata_flag_depends_on_star_and_command() -> None:
    assert parse_file_message(pack_file_message(0, b"*MAC_ADDR*x")).is_metadata
    assert not parse_file_message(pack_file_message(Command.DONE, b"*x")).is_metadata
    assert not parse_file_message(pack_file_message(1, b"config.txt")).is_metadata


@FAST
@given(st.text(alphabet=st.characters(blacklist_characters="*\0", codec="utf-8"), min_size=1,
               max_size=40),
       st.text(alphabet=st.characters(blacklist_characters="\0", codec="utf-8"), max_size=80))
def test_metadata_record_split_at_first_star(key: str, value: str) -> None:
    record = ("*" + key + "*" + value).encode()
    assert parse_metadata_record(record) == (key, value)


def test_metadata_record_non_record() -> None:
    assert parse_metadata_record(b"config.txt") is None
    assert parse_metadata_record(b"*ONLYKEY") == ("ONLYKEY", "")


def test_name_text_keeps_undecodable_bytes_visible() -> None:
    message = parse_file_message(pack_file_message(0, b"a\xffb"))
    assert message.name_text() == "a\\xffb"

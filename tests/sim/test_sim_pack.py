"""Property tests for the simulator's pack/parse helpers."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot.sim.fileserver import name_fields
from rpiboot.sim.scenario import file_bytes
from rpiboot.sim.usbmodel import DeviceDesc, Setup, boot_config, string_descriptor

FEW = settings(max_examples=60, deadline=None)


@FEW
@given(st.integers(0, 2**32 - 1))
def test_length32_splits_over_wvalue_and_windex(length: int) -> None:
    setup = Setup(0x40, 0, length & 0xFFFF, length >> 16, 0)
    assert setup.length32 == length


@FEW
@given(st.text(max_size=126))
def test_string_descriptor_round_trips(text: str) -> None:
    packed = string_descriptor(text)
    assert packed[1] == 3 and packed[0] == len(packed)
    decoded = packed[2:].decode("utf-16-le", "surrogatepass")
    assert text.encode("utf-16-le", "surrogatepass").startswith(
        decoded.encode("utf-16-le", "surrogatepass"))


@FEW
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 255))
def test_device_descriptor_packs_the_usb_layout(vid: int, pid: int, serial: int) -> None:
    packed = DeviceDesc(vid, pid, iSerialNumber=serial).pack()
    fields = struct.unpack("<BBHBBBBHHHBBBB", packed)
    assert (fields[0], fields[1], fields[7], fields[8], fields[12]) == (18, 1, vid, pid, serial)


@FEW
@given(st.booleans())
def test_config_total_length_matches_the_bytes(two: bool) -> None:
    config = boot_config(two)
    packed = config.pack()
    assert struct.unpack_from("<H", packed, 2)[0] == len(packed) == config.wTotalLength
    assert packed[4] == (2 if two else 1)


@FEW
@given(st.binary(max_size=64))
def test_name_fields_hex_only_for_unprintable_names(name: bytes) -> None:
    fields = name_fields(name)
    printable = all(0x20 <= b < 0x7F for b in name)
    assert ("name_hex" in fields) != printable
    if not printable:
        assert bytes.fromhex(fields["name_hex"]) == name


@FEW
@given(st.text(min_size=1, max_size=20), st.integers(0, 4096))
def test_random_files_are_deterministic(seed: str, size: int) -> None:
    one = file_bytes({"random": size}, seed)
    assert len(one) == size and one == file_bytes({"random": size}, seed)

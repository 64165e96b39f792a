"""Every parser of external bytes, on any bytes and on mutations of the real files in
../shared/firmware: a valid result (its invariants hold) or the project's own error, within a
small deadline and with allocations bounded by the input's size."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import mutated

from rpiboot.bootimg.inspect import check_total_size, image_info
from rpiboot.bootimg.reader import FatImage, find_partition
from rpiboot.eeprom.image import EepromImage
from rpiboot.eeprom.info import describe
from rpiboot.errors import BootError, InputError, RpibootError
from rpiboot.metadata import MetadataCollector, decode_factory_uuid
from rpiboot.protocol.messages import (
    pack_file_message,
    parse_boot_message,
    parse_file_message,
    parse_metadata_record,
    parse_status,
)
from rpiboot.signing.sigfile import parse_sig
from rpiboot.tarreader import iter_members

SLOW_PARSER = settings(max_examples=100, deadline=2000,
                       suppress_health_check=[HealthCheck.too_slow,
                                              HealthCheck.function_scoped_fixture])
FAST_PARSER = settings(max_examples=300, deadline=500,
                       suppress_health_check=[HealthCheck.function_scoped_fixture])
MiB = 1 << 20


def bounded(parse: Callable[[bytes], Any], data: bytes, allowed: type[RpibootError]) -> Any:
    """``parse(data)``: its result, or None when it raised ``allowed``; asserts the peak of
    Python allocations stays within 4x the input + 8 MiB."""
    tracemalloc.start()
    try:
        return parse(data)
    except allowed:
        return None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak <= 4 * len(data) + 8 * MiB, f"{peak} bytes allocated for {len(data)}"


# ------------------------------------------------------------------------------- EEPROM
SHARED = Path(os.environ.get("RPIBOOT_SHARED", Path(__file__).resolve().parents[3] / "shared"))


def _load(*parts: str) -> bytes:
    """A real file from ../shared/firmware (the strategies are built from them)."""
    return (SHARED / "firmware").joinpath(*parts).read_bytes()


EEPROMS = [_load("rpi-eeprom/2711/pieeprom-2026-05-17.bin"),
           _load("rpi-eeprom/2712/pieeprom-2026-05-26.bin")]


def _eeprom_fields(data: bytes) -> list[int]:
    offsets = [s.offset for s in EepromImage(data).sections]
    return [*offsets, *[o + 4 for o in offsets], data.index(b"BUILD_TIMESTAMP=") + 16]


def _eeprom(data: bytes) -> object:
    image = EepromImage(data, source="fuzz.bin")
    info = describe(image)
    files = image.extractable_files()
    assert info.size == len(data) and all(s.end <= len(data) for s in image.sections)
    assert info.build_timestamp is None or 0 <= info.build_timestamp < 2**32
    return files


@SLOW_PARSER
@given(mutated(EEPROMS, [_eeprom_fields(d) for d in EEPROMS], keep_size=True))
def test_eeprom_mutations(data: bytes) -> None:
    bounded(_eeprom, data, InputError)


@SLOW_PARSER
@given(st.binary(max_size=2048), st.sampled_from((512 * 1024, 2 * MiB)))
def test_eeprom_any_bytes(prefix: bytes, size: int) -> None:
    bounded(_eeprom, prefix + b"\xff" * (size - len(prefix)), InputError)


# ----------------------------------------------------------------------------------- .sig
SIG = _load("usbboot/secure-boot-example/boot.sig")


def _sig(data: bytes) -> object:
    sig = parse_sig(data, source="fuzz.sig")
    assert len(sig.sha256) == 64 and parse_sig(sig.to_bytes()) == sig
    return sig


@FAST_PARSER
@given(mutated([SIG], [[0, 64, 65, 69, 80, 81, 90]]) | st.binary(max_size=1000))
def test_sig_mutations_and_any_bytes(data: bytes) -> None:
    bounded(_sig, data, InputError)


# ------------------------------------------------------------------------------------ FAT
BOOT_IMG = _load("usbboot/secure-boot-msd/boot.img")


def _fat_fields(data: bytes) -> list[int]:
    image = FatImage(io.BytesIO(data), name="seed")
    g = image.geometry
    root = g.root_start * g.sector_size
    return [*range(11, 64, 2), g.fat_start * g.sector_size, *range(root, root + 160, 32),
            *range(root + 11, root + 160, 32), *range(root + 26, root + 160, 32)]


def _fat(data: bytes) -> object:
    image = FatImage(io.BytesIO(data), offset=find_partition(data[:512], None), name="fuzz")
    info = image_info(image)
    entries = list(image.walk())
    check_total_size(image, entries)
    for entry in entries:
        if not entry.is_dir:
            assert sum(len(chunk) for chunk in image.iter_file(entry)) == entry.size
    assert info["image_bytes"] <= len(data) - image.offset
    json.dumps([entry.path for entry in entries])  # every name is printable text
    return entries


@SLOW_PARSER
@given(mutated([BOOT_IMG], [_fat_fields(BOOT_IMG)]))
def test_fat_mutations(data: bytes) -> None:
    bounded(_fat, data, InputError)


@FAST_PARSER
@given(st.binary(min_size=0, max_size=4096))
def test_fat_any_bytes(data: bytes) -> None:
    bounded(_fat, data, InputError)


# ------------------------------------------------------------------------------------ tar
BOOTFILES = _load("usbboot/mass-storage-gadget64/bootfiles.bin")
TAR_HEADERS = [m.offset - 512 for m in iter_members(io.BytesIO(BOOTFILES), len(BOOTFILES), "")]


def _tar_checksums(data: bytearray, hot: list[int]) -> None:
    for header in sorted({offset - offset % 512 for offset in hot}):
        block = data[header:header + 512]
        if len(block) == 512:
            block[148:156] = b" " * 8
            data[header + 148:header + 156] = b"%06o\0 " % sum(block)


def _tar(data: bytes) -> object:
    members = list(iter_members(io.BytesIO(data), len(data), "fuzz.tar"))
    for member in members:
        assert member.offset >= 0 and 0 <= member.size <= len(data) - member.offset
    return members


@SLOW_PARSER
@given(mutated([BOOTFILES], [[h + f for h in TAR_HEADERS for f in (0, 124, 156, 257, 345)]],
               fixup=_tar_checksums))
def test_tar_mutations(data: bytes) -> None:
    bounded(_tar, data, InputError)


# ----------------------------------------------------------------- file-server messages
MESSAGES = [pack_file_message(0, b"start4.elf"), pack_file_message(1, b"config.txt"),
            pack_file_message(0, b"*MAC_ADDR*dc:a6:32:01:02:03"), pack_file_message(2, b"")]


def _message(data: bytes) -> object:
    for parse, size in ((parse_boot_message, 24), (parse_status, 4)):
        with contextlib.suppress(BootError):
            parse(data[:size])
    message = parse_file_message(data)
    assert b"\0" not in message.name and len(message.name) <= 256
    return message.name_text(), message.is_metadata


@FAST_PARSER
@given(mutated(MESSAGES, [[0, 4, 5] for _ in MESSAGES], keep_size=True)
       | st.binary(max_size=300))
def test_file_server_messages(data: bytes) -> None:
    bounded(_message, data, BootError)


# --------------------------------------------------------------------- metadata records
def _metadata(name: bytes) -> object:
    record = parse_metadata_record(name)
    if record is None:
        assert not name.startswith(b"*")
        return None
    collector = MetadataCollector()
    collector.add(*record)
    assert json.loads(collector.to_json()) == collector.records
    return record


@FAST_PARSER
@given(mutated([b"*FACTORY_UUID*19a519a6_19ab520e_1ac0212b", b"*MAC_ADDR*dc:a6:32:01:02:03"],
               [[0, 1, 13, 14], [0, 1, 9, 10]]) | st.binary(max_size=300))
def test_metadata_records(name: bytes) -> None:
    bounded(_metadata, name, RpibootError)  # never raises: an odd record is kept as text


@FAST_PARSER
@given(st.text(max_size=300) | st.from_regex(r"[0-9a-fA-F_]{0,80}", fullmatch=True))
def test_factory_uuid_decoding_never_raises(encoded: str) -> None:
    decoded = decode_factory_uuid(encoded)
    assert isinstance(decoded, str)
    assert decoded == encoded or set(decoded) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def test_the_strategies_reach_valid_results() -> None:
    """The mutation strategies are not all-errors: unmutated seeds parse."""
    assert _eeprom(EEPROMS[0]) and _fat(BOOT_IMG) and _tar(BOOTFILES) and _sig(SIG)
    assert [_message(m) for m in MESSAGES][2] == ("*MAC_ADDR*dc:a6:32:01:02:03", True)


@pytest.mark.parametrize("parse", [_eeprom, _fat, _tar, _sig, _message])
def test_empty_input_is_a_project_error(parse: Callable[[bytes], Any]) -> None:
    with pytest.raises(RpibootError):
        parse(b"")

"""Metadata records: FACTORY_UUID decoding, safe serial file names, escaped atomic JSON."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot.metadata import (
    MetadataCollector,
    decode_factory_uuid,
    safe_serial_filename,
    write_metadata,
)

C40 = string.digits + string.ascii_uppercase


def encode_factory_uuid(text: str) -> str:
    """Independent encoder (test oracle): triples of C40 values -> 16-bit halves -> words."""
    values = [C40.index(c) + 4 for c in text]
    halves = [v0 * 1600 + v1 * 40 + v2 + 1 for v0, v1, v2 in zip(*[iter(values)] * 3,
                                                                     strict=True)]
    if len(halves) % 2:
        halves.append(0)
    words = [low | (high << 16) for low, high in zip(halves[::2], halves[1::2], strict=True)]
    return "_".join(f"{w:08x}" for w in words)


def test_factory_uuid_spec_example() -> None:
    assert decode_factory_uuid("19a519a6_19ab520e_1ac0212b") == "001000911006186073"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=C40, min_size=3, max_size=3), min_size=1, max_size=8)
       .map("".join))
def test_factory_uuid_roundtrip(text: str) -> None:
    assert decode_factory_uuid(encode_factory_uuid(text)) == text


@pytest.mark.parametrize("raw", ["", "xyz", "19a5_", "123456789", "ab cd"])
def test_malformed_factory_uuid_is_kept_raw(raw: str) -> None:
    assert decode_factory_uuid(raw) == raw


def test_collector_keeps_arrival_order_and_decodes_uuid() -> None:
    collector = MetadataCollector()
    for key, value in [("MAC_ADDR", "d8:3a:dd:01:02:03"), ("FACTORY_UUID",
                       "19a519a6_19ab520e_1ac0212b"), ("BOOT_ROM", "0x12345678")]:
        collector.add(key, value)
    parsed = json.loads(collector.to_json())
    assert list(parsed) == ["MAC_ADDR", "FACTORY_UUID", "BOOT_ROM"]
    assert parsed["FACTORY_UUID"] == "001000911006186073"


@pytest.mark.parametrize("serial", ["../../etc/passwd", "..", ".", "", None, "a/b", "a\\b",
                                    "x\0y", ".hidden", "C:\\evil", "\n", "é漢字"])
def test_serial_file_names_stay_in_directory(tmp_path: Path, serial: str | None) -> None:
    stem = safe_serial_filename(serial, fallback="1-1.3")
    assert stem and stem not in (".", "..") and not stem.startswith(".")
    assert "/" not in stem and "\\" not in stem and "\0" not in stem
    path = write_metadata(tmp_path, serial, MetadataCollector())
    assert path.parent == tmp_path and path.is_file()


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=300)), st.text(max_size=20))
def test_serial_file_name_property(serial: str | None, fallback: str) -> None:
    stem = safe_serial_filename(serial, fallback)
    assert 0 < len(stem) <= 96
    assert stem not in (".", "..") and not stem.startswith(".")
    assert set(stem) <= set(string.ascii_letters + string.digits + "._-")


def test_plain_serial_kept() -> None:
    assert safe_serial_filename("b29d2da0") == "b29d2da0"


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=20), st.text(max_size=60), max_size=6))
def test_hostile_values_survive_json_roundtrip(records: dict[str, str]) -> None:
    collector = MetadataCollector()
    for key, value in records.items():
        if key != "FACTORY_UUID":
            collector.add(key, value)
    assert json.loads(collector.to_json()) == {k: v for k, v in records.items()
                                               if k != "FACTORY_UUID"}


def test_written_file_is_valid_json_with_quotes_and_newlines(tmp_path: Path) -> None:
    collector = MetadataCollector()
    collector.add("USER_SERIAL_NUM", 'evil"}, "x": "y\nz')
    path = write_metadata(tmp_path, "b29d2da0", collector)
    assert path == tmp_path / "b29d2da0.json"
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "USER_SERIAL_NUM": 'evil"}, "x": "y\nz'}
    assert [p.name for p in tmp_path.iterdir()] == ["b29d2da0.json"]  # no temp file left

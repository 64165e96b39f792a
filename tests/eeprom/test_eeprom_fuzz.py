"""Fuzzing: mutated real EEPROM images and .sig files give our clean errors, never a crash."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rpiboot.eeprom.image import EepromImage
from rpiboot.eeprom.info import describe
from rpiboot.errors import RpibootError
from rpiboot.signing.bootcode import parse_2712_blocks
from rpiboot.signing.sigfile import SigFile, parse_sig

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture(scope="module")
def images(vectors_dir: Path) -> list[bytes]:
    inputs = vectors_dir / "eeprom/_inputs"
    return [(inputs / name).read_bytes() for name in
            ("pieeprom-2711.bin", "pieeprom-2712.bin", "test-pieeprom-signed-2711.bin")]


def _headers(data: bytes) -> list[int]:
    """Offsets of every section header (where mutations hurt most)."""
    try:
        return [s.offset for s in EepromImage(data).sections]
    except RpibootError:
        return [0]


mutation = st.tuples(st.integers(0, 2), st.integers(0, 1 << 30), st.integers(0, 31),
                     st.binary(min_size=1, max_size=8))


@FUZZ
@given(mutations=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_images_only_raise_clean_errors(images: list[bytes],
                                                mutations: list[tuple[int, int, int, bytes]]
                                                ) -> None:
    for which, where, delta, patch in mutations:
        data = bytearray(images[which])
        headers = _headers(bytes(data))
        offset = headers[where % len(headers)] + delta  # near a section header
        data[offset:offset + len(patch)] = patch
        try:
            image = EepromImage(bytes(data))
            info = describe(image)
            image.replace_file("bootconf.txt", b"[all]\n")
        except RpibootError:
            continue
        assert info.size == len(data)


@FUZZ
@given(size=st.integers(0, 3 << 20).filter(lambda n: n not in (524288, 2097152)))
def test_any_other_size_is_refused(size: int) -> None:
    with pytest.raises(RpibootError, match="Expected sizes"):
        EepromImage(b"\xff" * min(size, 64) + b"\0" * max(0, size - 64))


@FUZZ
@given(length=st.integers(0, 0xFFFFFFFF), magic_nibbles=st.integers(0, 0xFF))
def test_arbitrary_section_header_after_bootcode(images: list[bytes], length: int,
                                                 magic_nibbles: int) -> None:
    data = bytearray(images[0])
    struct.pack_into(">II", data, 0x011DA8, 0x55AAF00F | (magic_nibbles << 4), length)
    try:
        image = EepromImage(bytes(data))
    except RpibootError:
        return
    assert all(s.end <= len(data) for s in image.sections)


sig_line = st.one_of(
    st.just("ts: 1700000000"), st.just("rsa2048: " + "ab" * 256), st.just("target-soc: 2712"),
    st.text(max_size=80), st.from_regex(r"rsa2048: [0-9a-f]{0,600}", fullmatch=True),
    st.from_regex(r"ts: -?[0-9]{0,12}", fullmatch=True))


@FUZZ
@given(first=st.one_of(st.just("a" * 64), st.text(max_size=70)), lines=st.lists(sig_line,
                                                                                max_size=5))
def test_sig_parser_only_raises_clean_errors(first: str, lines: list[str]) -> None:
    text = "\n".join([first, *lines]) + "\n"
    try:
        sig = parse_sig(text.encode("utf-8"))
    except RpibootError:
        return
    assert isinstance(sig, SigFile) and len(sig.sha256) == 64
    assert parse_sig(sig.to_bytes()) == sig


@FUZZ
@given(data=st.binary(max_size=700))
def test_sig_parser_on_random_bytes(data: bytes) -> None:
    with contextlib.suppress(RpibootError):
        parse_sig(data)


@FUZZ
@given(data=st.binary(min_size=0, max_size=2000), tail=st.binary(min_size=532, max_size=532))
def test_signature_block_parser_never_crashes(data: bytes, tail: bytes) -> None:
    blob = data + struct.pack("<I", len(data)) + tail[4:]
    blocks = parse_2712_blocks(blob)
    assert all(not b.verifies for b in blocks)  # random data never verifies


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000), keynum=st.sampled_from([0, 1, 2, 3, 4, 16]),
       version=st.integers(0, 32))
def test_2712_pack_parse_roundtrip(vectors_dir: Path, data: bytes, keynum: int,
                                   version: int) -> None:
    from rpiboot.signing import signer_from_options
    from rpiboot.signing.bootcode import sign_2712

    key = vectors_dir / "eeprom/_inputs/example-private.pem"
    signed = sign_2712(data, keynum=keynum, version=version, signer=signer_from_options(key=key))
    outer = parse_2712_blocks(signed)[0]
    assert (outer.length, outer.keynum, outer.version, outer.verifies) == (
        len(data), keynum, version, True)
    assert signed[:len(data)] == data


@FUZZ
@given(stamp=st.integers(0, 0xFFFFFFFF))
def test_update_timestamp_roundtrip(images: list[bytes], stamp: int) -> None:
    for original in images[:2]:
        image = EepromImage(original)
        image.set_update_timestamp(stamp)
        info = describe(EepromImage(image.to_bytes()))
        assert info.update_timestamp == (None if stamp == 0xFFFFFFFF else stamp)

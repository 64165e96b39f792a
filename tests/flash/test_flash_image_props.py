"""Properties of format detection and of open_image on arbitrary (hostile) bytes."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import struct
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rpiboot.errors import InputError
from rpiboot.flash import formats
from rpiboot.flash.image import open_image

MAGICS = {"gzip": b"\x1f\x8b\x08", "xz": b"\xfd7zXZ\x00", "zstd": b"\x28\xb5\x2f\xfd",
          "zip": b"PK\x03\x04", "bzip2": b"BZh91AY&SY"}
KNOWN = set(formats.SUPPORTED) | set(formats.UNSUPPORTED_HINTS)


@given(st.binary(max_size=600))
def test_detection_always_names_a_known_format(head: bytes) -> None:
    assert formats.detect_format(head) in KNOWN


@given(st.sampled_from(sorted(MAGICS)), st.binary(max_size=600))
def test_a_magic_decides_whatever_follows(kind: str, tail: bytes) -> None:
    assert formats.detect_format(MAGICS[kind] + tail) == kind


@given(st.binary(max_size=600).filter(lambda b: formats.detect_format(b) == "raw"))
def test_raw_is_what_no_signature_claims(head: bytes) -> None:
    assert not any(head.startswith(m) for m in MAGICS.values())


@given(st.binary(max_size=4096), st.integers(0, 1 << 40))
def test_size_claims_never_raise(data: bytes, size: int) -> None:
    def pread(length: int, offset: int) -> bytes:
        return data[offset:offset + length] if 0 <= offset < len(data) else b""
    for claim in (formats.gzip_size_claim(pread, len(data)),
                  formats.xz_size_claim(pread, len(data)),
                  formats.xz_size_claim(pread, size), formats.zstd_size_claim(data)):
        assert claim is None or claim >= 0


def test_the_xz_index_walk_counts_every_stream() -> None:
    parts = [os.urandom(1000), bytes(70_000)]
    data = b"".join(lzma.compress(part) for part in parts) + bytes(8)
    def pread(length: int, offset: int) -> bytes:
        return data[offset:offset + length]
    assert formats.xz_size_claim(pread, len(data)) == 71_000


def test_gzip_claims_the_size_modulo_4_gib() -> None:
    data = gzip.compress(b"abc") + b""
    assert formats.gzip_size_claim(lambda n, o: data[o:o + n], len(data)) == 3
    assert struct.unpack("<I", data[-4:])[0] == 3


def _compressed_prefixes() -> st.SearchStrategy[bytes]:
    samples = [gzip.compress(b"a" * 5000), lzma.compress(b"b" * 5000), bz2.compress(b"c" * 5000)]
    return st.sampled_from(samples).flatmap(
        lambda data: st.tuples(st.integers(0, len(data)), st.binary(max_size=64)).map(
            lambda cut: data[:cut[0]] + cut[1]))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=2048), _compressed_prefixes()))
def test_any_bytes_give_an_image_or_an_input_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "image.img"
        path.write_bytes(data)
        try:
            with open_image(path) as source:
                total = sum(len(chunk) for chunk in source.chunks(1 << 16))
        except InputError as exc:
            assert str(path) in str(exc)
            return
        assert total <= 10_000 or source.format == "raw"

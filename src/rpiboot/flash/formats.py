"""What an image file is, told by its first bytes (never by its name), and what its
trailer or index claims its uncompressed size is.

Pure functions on bytes (and a ``pread``-like callable for the size claims), so they can be
property-tested.  Sizes read from a trailer are *estimates*: a gzip trailer holds the size
modulo 4 GiB of its last member only, an xz index or a zstd frame header can lie.  They are
for display; nothing safety-related is decided on them.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

# formats rpiboot decompresses itself (plus "raw": none of the signatures below)
COMPRESSIONS = ("gzip", "xz", "bzip2", "zstd")
SUPPORTED = ("raw", "zip", *COMPRESSIONS)
HEAD_SIZE = 512  # bytes needed by detect_format (tar's signature is at 257)

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b\x08", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty archive
    (b"PK\x07\x08", "zip"),  # a spanned archive's marker
    # known, not supported: named so they are refused instead of written to a disk as is
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"\x02\x21\x4c\x18", "lz4"),  # legacy frame
    (b"\x89LZO\x00\r\n\x1a\n", "lzop"),
    (b"QFI\xfb", "qcow2"),
    (b"\x3a\xff\x26\xed", "android-sparse"),
    (b"vhdxfile", "vhdx"),
    (b"KDMV", "vmdk"),
)
_BZIP2 = re.compile(rb"BZh[1-9](\x31\x41\x59\x26\x53\x59|\x17\x72\x45\x38\x50\x90)")
_ZSTD_SKIPPABLE = range(0x184D2A50, 0x184D2A60)

# how to get a supported image out of a format rpiboot refuses
UNSUPPORTED_HINTS = {
    "7z": "Extract it first (7z x FILE), or stream it: 7z e -so FILE | rpiboot flash -",
    "rar": "Extract it first (unrar x FILE).",
    "lz4": "Decompress it first (lz4 -d FILE), or stream it: lz4 -dc FILE | rpiboot flash -",
    "lzop": "Decompress it first (lzop -d FILE), or stream it: lzop -dc FILE | rpiboot flash -",
    "qcow2": "Convert it to a raw image first: qemu-img convert -O raw FILE image.img",
    "vhdx": "Convert it to a raw image first: qemu-img convert -O raw FILE image.img",
    "vmdk": "Convert it to a raw image first: qemu-img convert -O raw FILE image.img",
    "android-sparse": "Convert it to a raw image first: simg2img FILE image.img",
    "tar": "Extract the image from the archive first (tar xf FILE).",
}


def detect_format(head: bytes) -> str:
    """The format of data starting with ``head`` (its first :data:`HEAD_SIZE` bytes, fewer
    if the data is shorter): one of :data:`SUPPORTED`, or the name of a format rpiboot
    refuses (a key of :data:`UNSUPPORTED_HINTS`).  Anything unrecognised is ``"raw"``."""
    for magic, name in _SIGNATURES:
        if head.startswith(magic):
            return name
    if _BZIP2.match(head):
        return "bzip2"
    if len(head) >= 4 and struct.unpack_from("<I", head)[0] in _ZSTD_SKIPPABLE:
        return "zstd"
    if head[257:262] == b"ustar":
        return "tar"
    return "raw"


# ------------------------------------------------------------------ size claims
Pread = Callable[[int, int], bytes]  # (length, offset) -> bytes, like os.pread


def gzip_size_claim(pread: Pread, file_size: int) -> int | None:
    """The uncompressed size the gzip trailer (ISIZE) claims: the size modulo 2**32 of the
    last member only, so an estimate at best."""
    if file_size < 18:
        return None
    tail = pread(4, file_size - 4)
    return struct.unpack("<I", tail)[0] if len(tail) == 4 else None


_XZ_MAX_STREAMS = 256
_XZ_MAX_INDEX = 1 << 20  # 1 MiB: ~50,000 blocks; a larger index is not worth an estimate


def xz_size_claim(pread: Pread, file_size: int) -> int | None:
    """The uncompressed size the indexes of an xz file claim (every stream, walked from
    the end), or None when the file does not end like an xz file should."""
    total, end = 0, file_size
    for _ in range(_XZ_MAX_STREAMS):
        while end >= 4 and pread(4, end - 4) == b"\0\0\0\0":  # stream padding
            end -= 4
        if end == 0:
            return total
        stream = _xz_stream(pread, end)
        if stream is None:
            return None
        start, size = stream
        total += size
        end = start
        if end == 0:
            return total
    return None


def _xz_stream(pread: Pread, end: int) -> tuple[int, int] | None:
    """(start offset, uncompressed size) of the xz stream that ends at ``end``."""
    if end < 24:
        return None
    footer = pread(12, end - 12)
    if len(footer) != 12 or footer[10:] != b"YZ":
        return None
    index_size = (struct.unpack_from("<I", footer, 4)[0] + 1) * 4
    index_start = end - 12 - index_size
    if index_size > _XZ_MAX_INDEX or index_start < 12:
        return None
    parsed = parse_xz_index(pread(index_size, index_start))
    if parsed is None:
        return None
    blocks_size, uncompressed = parsed
    start = index_start - blocks_size - 12
    return (start, uncompressed) if start >= 0 else None


def parse_xz_index(index: bytes) -> tuple[int, int] | None:
    """(bytes of the blocks before this index, uncompressed size) from an xz index, or None
    when it is malformed."""
    if not index or index[0] != 0:
        return None
    pos = 1
    count, pos = _varint(index, pos)
    if count < 0 or count > len(index):  # every record takes at least 2 bytes
        return None
    blocks = uncompressed = 0
    for _ in range(count):
        unpadded, pos = _varint(index, pos)
        size, pos = _varint(index, pos)
        if unpadded < 0 or size < 0:
            return None
        blocks += (unpadded + 3) & ~3
        uncompressed += size
    return blocks, uncompressed


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """An xz multibyte integer at ``pos``: (value, next position); value -1 if malformed."""
    value = 0
    for shift in range(0, 63, 7):
        if pos >= len(data):
            return -1, pos
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    return -1, pos


def zstd_size_claim(head: bytes) -> int | None:
    """The content size the first zstd frame's header claims (None when it does not say,
    e.g. a stream compressed from a pipe).  Only the first frame is looked at."""
    if len(head) < 5 or not head.startswith(b"\x28\xb5\x2f\xfd"):
        return None
    descriptor = head[4]
    fcs_flag, single_segment = descriptor >> 6, bool(descriptor & 0x20)
    field_size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    if field_size == 0:
        return None
    pos = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[descriptor & 3]
    raw = head[pos:pos + field_size]
    if len(raw) != field_size:
        return None
    value = int.from_bytes(raw, "little")
    return value + 256 if field_size == 2 else value

"""FAT directory records: 32-byte entries, long names gathered and checked, as FatEntry values.

Nothing here reads the image: it parses the bytes of one directory.  Long-name entries are
used only when they form a valid set for the short entry that follows them (ordinals N|0x40,
N-1 ... 1, at most 20 of them, checksums matching); otherwise the short name is shown, as
Windows and Linux do.  Invalid UTF-16 (a lone surrogate) becomes U+FFFD, never an exception.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from rpiboot.bootimg.names import ATTR_LFN, decode_lfn_parts, decode_short, sfn_checksum

ATTR_VOLUME = 0x08
ATTR_DIR = 0x10
ENTRY_SIZE = 32
MAX_LFN_ENTRIES = 20  # 20 x 13 UTF-16 units: room for the 255 a long name may have
_LFN_LAST = 0x40
_DELETED = 0xE5


@dataclass(frozen=True)
class FatEntry:
    """One file or directory found in an image."""

    name: str
    short_name: str
    is_dir: bool
    size: int
    first_cluster: int
    mtime: dt.datetime | None  # as stored (FAT has no time zone; ours are UTC)
    attributes: int
    parts: tuple[str, ...] = ()  # the names from the root down to this entry

    @property
    def path(self) -> str:
        """'/'-joined, relative to the root (made on demand: a walk holding many deep
        entries keeps only their ``parts``, which share the parents' name strings)."""
        return "/".join(self.parts) if self.parts else self.name


def decode_datetime(fat_date: int, fat_time: int) -> dt.datetime | None:
    """A FAT date and time, or None when unset or not a real date (month 13, hour 31...)."""
    if fat_date == 0:
        return None
    try:
        return dt.datetime(1980 + (fat_date >> 9), (fat_date >> 5) & 0xF, fat_date & 0x1F,
                           fat_time >> 11, (fat_time >> 5) & 0x3F, (fat_time & 0x1F) * 2)
    except ValueError:
        return None


def raw_entries(data: bytes) -> Iterator[bytes]:
    """The 32-byte entries of a directory, up to the first free-and-last marker (0x00)."""
    for offset in range(0, len(data) - ENTRY_SIZE + 1, ENTRY_SIZE):
        raw = data[offset:offset + ENTRY_SIZE]
        if raw[0] == 0:
            return
        yield raw


def long_name(pending: list[bytes], short: bytes) -> str | None:
    """The long name spelled by ``pending`` (in on-disk order) if they are a valid set for
    the short entry ``short``, else None."""
    if not pending or len(pending) > MAX_LFN_ENTRIES:
        return None
    count = pending[0][0] & 0x3F
    if not pending[0][0] & _LFN_LAST or count != len(pending):
        return None
    checksum = sfn_checksum(short)
    for index, raw in enumerate(pending):
        if raw[0] & 0x3F != count - index or raw[13] != checksum:
            return None
    return decode_lfn_parts(pending) or None


def parse_directory(data: bytes, parents: tuple[str, ...], fat32: bool) -> Iterator[FatEntry]:
    """The files and directories of one directory's bytes (not '.', '..', labels, deleted)."""
    return (entry for _, entry in scan_directory(data, parents, fat32))


def scan_directory(data: bytes, parents: tuple[str, ...], fat32: bool
                   ) -> Iterator[tuple[int, FatEntry]]:
    """Like :func:`parse_directory`, each entry with the slot (32-byte index) of its short
    entry, for code that edits the directory in place."""
    pending: list[bytes] = []
    for slot, raw in enumerate(raw_entries(data)):
        attr = raw[11]
        if raw[0] == _DELETED:
            pending = []
            continue
        if attr == ATTR_LFN:
            if raw[0] & _LFN_LAST:
                pending = []
            if len(pending) <= MAX_LFN_ENTRIES:  # a longer run is invalid anyway
                pending.append(raw)
            continue
        if attr & ATTR_VOLUME or (raw[:2] in (b".\x20", b"..") and attr & ATTR_DIR):
            pending = []
            continue
        short_name = decode_short(raw[:11], 0)
        name = long_name(pending, raw[:11]) or decode_short(raw[:11], raw[12])
        pending = []
        (_, _, _, _, _, _, _, hi, mtime, mdate, lo, size) = struct.unpack("<11sBBBHHHHHHHI", raw)
        is_dir = bool(attr & ATTR_DIR)
        parts = (*parents, name)
        yield slot, FatEntry(name=name, parts=parts, short_name=short_name, is_dir=is_dir,
                             size=0 if is_dir else size, first_cluster=(hi << 16) * fat32 | lo,
                             mtime=decode_datetime(mdate, mtime), attributes=attr)

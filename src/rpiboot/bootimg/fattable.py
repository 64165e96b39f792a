"""The file allocation table as data: read an entry, and (for in-place editing) change
entries, find free clusters, count them, and tell which FAT sectors changed.

Entries are 12, 16 or 32 bits (FAT12 packs two entries into three bytes).  On FAT32 only the
low 28 bits are the entry; the top 4 are reserved and kept as they are when an entry is set.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterator

EOC = {12: 0xFFF, 16: 0xFFFF, 32: 0x0FFFFFFF}  # the end-of-chain value we write
END_OF_CHAIN = {12: 0xFF8, 16: 0xFFF8, 32: 0x0FFFFFF8}  # this value or above ends a chain
_LOW_NIBBLE = bytes(value & 0x0F for value in range(256))


def read_entry(fat: bytes | bytearray, fat_type: int, cluster: int) -> int:
    """The FAT entry of ``cluster`` (the caller checks ``cluster`` is inside the table)."""
    if fat_type == 32:
        return int(struct.unpack_from("<I", fat, cluster * 4)[0]) & 0x0FFFFFFF
    if fat_type == 16:
        return int(struct.unpack_from("<H", fat, cluster * 2)[0])
    pair = int(struct.unpack_from("<H", fat, cluster * 3 // 2)[0])
    return pair >> 4 if cluster & 1 else pair & 0xFFF


def _native(values: array[int]) -> array[int]:
    if sys.byteorder == "big":
        values.byteswap()
    return values


def entry_array(fat: bytes | bytearray, fat_type: int, clusters: int) -> array[int]:
    """Every entry 0 .. clusters + 1, decoded (FAT32 without its reserved top bits): one
    pass in C for FAT16/32, so walking chains costs an index per link."""
    count = clusters + 2
    if fat_type == 32:
        raw = bytearray(fat[:4 * count])
        raw[3::4] = raw[3::4].translate(_LOW_NIBBLE)
        return _native(array("I", bytes(raw)))
    if fat_type == 16:
        return _native(array("H", bytes(fat[:2 * count])))
    return array("H", (read_entry(fat, 12, cluster) for cluster in range(count)))


class FatTable:
    """One FAT in memory, editable.  ``data`` is the table's bytes (every sector of it);
    :meth:`put` records the sectors it touches in ``dirty``."""

    def __init__(self, data: bytes | bytearray, fat_type: int, clusters: int,
                 sector_size: int) -> None:
        self.data = bytearray(data)
        self.fat_type = fat_type
        self.clusters = clusters  # data clusters: numbered 2 .. clusters + 1
        self.sector_size = sector_size
        self.dirty: set[int] = set()  # indices of changed sectors within the table

    def get(self, cluster: int) -> int:
        return read_entry(self.data, self.fat_type, cluster)

    def put(self, cluster: int, value: int) -> None:
        data = self.data
        if self.fat_type == 32:
            at = cluster * 4
            kept = int(struct.unpack_from("<I", data, at)[0]) & 0xF0000000
            struct.pack_into("<I", data, at, kept | (value & 0x0FFFFFFF))
            span = 4
        elif self.fat_type == 16:
            at = cluster * 2
            struct.pack_into("<H", data, at, value & 0xFFFF)
            span = 2
        else:
            at = cluster * 3 // 2
            pair = int(struct.unpack_from("<H", data, at)[0])
            pair = ((pair & 0x000F) | ((value & 0xFFF) << 4) if cluster & 1
                    else (pair & 0xF000) | (value & 0xFFF))
            struct.pack_into("<H", data, at, pair)
            span = 2
        self.dirty.add(at // self.sector_size)
        self.dirty.add((at + span - 1) // self.sector_size)

    def _values(self) -> array[int]:
        return entry_array(self.data, self.fat_type, self.clusters)

    def free_count(self) -> int:
        """Clusters whose entry is 0 (free), as fsck.fat counts them."""
        return self._values()[2:].count(0)

    def iter_free(self, start: int = 2) -> Iterator[int]:
        """Free clusters from ``start`` up to the last one, then from 2 up to ``start``, as
        they are now (entries put after this is called are not looked at again)."""
        values = self._values()
        end = self.clusters + 2
        start = start if 2 <= start < end else 2
        for low, high in ((start, end), (2, start)):
            position = low
            while position < high:
                try:
                    position = values.index(0, position, high)
                except ValueError:
                    break
                yield position
                position += 1

    def sector_runs(self, sectors: set[int]) -> list[tuple[int, bytes]]:
        """(byte offset in the table, bytes) of each run of consecutive ``sectors``."""
        runs: list[tuple[int, bytes]] = []
        ordered = sorted(sectors)
        index = 0
        while index < len(ordered):
            first = last = ordered[index]
            while index + 1 < len(ordered) and ordered[index + 1] == last + 1:
                index += 1
                last = ordered[index]
            index += 1
            size = self.sector_size
            runs.append((first * size, bytes(self.data[first * size:(last + 1) * size])))
        return runs

"""One FAT directory held in memory while an edit is planned: find names, place new entries
in free slots (growing the directory by whole clusters), and say which bytes must be written.

Slot rules (as Windows, Linux and mtools read directories): a slot whose first byte is 0xE5
is free; the first slot whose first byte is 0x00 ends the directory, so every slot from it
on is free.  When new entries reach past that end, the slot right after them is set to 0x00
(unless it already is), so bytes left behind beyond the old end never become entries.
"""

from __future__ import annotations

from collections.abc import Callable

from rpiboot.bootimg.direntry import ENTRY_SIZE, FatEntry, raw_entries, scan_directory
from rpiboot.bootimg.geometry import FatGeometry
from rpiboot.bootimg.names import ATTR_LFN, same_name_key

MAX_DIR_SLOTS = 65536  # a FAT directory holds at most 65,536 entries (2 MiB)
_FREE = 0xE5

# grow(clusters) -> the new clusters, already linked after the directory's chain
Grow = Callable[[int], list[int]]


class DirBuffer:
    """A directory's bytes and where they live: ``chain`` (clusters) or, for the FAT12/16
    root, the fixed region at ``fixed_offset`` (bytes from the start of the filesystem)."""

    def __init__(self, path: str, data: bytes | bytearray, *, geometry: FatGeometry,
                 chain: list[int], fixed_offset: int | None = None, new: bool = False) -> None:
        self.path = path
        self.data = bytearray(data)
        self.geometry = geometry
        self.chain = list(chain)
        self.fixed_offset = fixed_offset
        self.existing = 0 if new else len(self.data)  # bytes that are already on the disk
        self.dirty: set[int] = set()  # changed sectors (indices into data) below `existing`
        self._entries: list[tuple[int, FatEntry]] | None = None

    @property
    def first_cluster(self) -> int:
        """The cluster '..' entries of sub-directories point to (0 for the root)."""
        return 0 if self.path == "/" or not self.chain else self.chain[0]

    @property
    def key(self) -> int:
        """Unique per directory: its first cluster (-1 for the FAT12/16 root)."""
        return self.chain[0] if self.chain else -1

    # -- reading ----------------------------------------------------------------------------
    def entries(self) -> list[tuple[int, FatEntry]]:
        if self._entries is None:
            self._entries = list(scan_directory(bytes(self.data), (),
                                                self.geometry.fat_type == 32))
        return self._entries

    def find(self, name: str) -> tuple[int, FatEntry] | None:
        """(slot, entry) of ``name``: its long name, else its 8.3 alias, case-insensitively."""
        key = same_name_key(name)
        by_alias = None
        for slot, entry in self.entries():
            if same_name_key(entry.name) == key:
                return slot, entry
            if by_alias is None and same_name_key(entry.short_name) == key:
                by_alias = (slot, entry)
        return by_alias

    def taken_shorts(self) -> set[bytes]:
        """The 11-byte short names of every live entry (labels and dot entries included)."""
        return {raw[:11] for raw in raw_entries(bytes(self.data))
                if raw[0] != _FREE and raw[11] != ATTR_LFN}

    # -- changing ---------------------------------------------------------------------------
    def write(self, slot: int, raw: bytes) -> None:
        start = slot * ENTRY_SIZE
        self.data[start:start + len(raw)] = raw
        self._entries = None
        if start < self.existing:
            size = self.geometry.sector_size
            last = min(start + len(raw), self.existing) - 1
            self.dirty.update(range(start // size, last // size + 1))

    def _end(self) -> int:
        """The slot of the end marker (or the slot count when there is none)."""
        return sum(1 for _ in raw_entries(bytes(self.data)))

    def _live_lfn(self, slot: int, end: int) -> bool:
        at = slot * ENTRY_SIZE
        return slot < end and self.data[at] != _FREE and self.data[at + 11] == ATTR_LFN

    def _first_run(self, count: int) -> tuple[int, int]:
        """(start, length) of the first run of ``count`` free slots, or of the free run that
        reaches the end of the directory when there is no such run.  A run never starts
        right after a live long-name entry: one left without its short entry (damage) would
        otherwise be read as the start of the new entry's long name, or lend it its name."""
        end, total = self._end(), len(self.data) // ENTRY_SIZE
        start = length = 0
        for slot in range(total):
            if not (slot >= end or self.data[slot * ENTRY_SIZE] == _FREE):
                length = 0
                continue
            if not length and slot and self._live_lfn(slot - 1, end):
                continue
            if not length:
                start = slot
            length += 1
            if length == count:
                return start, length
        return (start, length) if length else (total, 0)

    def place(self, raw: bytes, grow: Grow) -> int:
        """Write ``raw`` (long-name entries + the short entry) into free slots; the slot of
        the short entry.  ``grow`` adds clusters when the directory is full (it raises when
        the space is not there; the caller checks that a FAT12/16 root has :meth:`room`)."""
        count = len(raw) // ENTRY_SIZE
        end = self._end()
        start, length = self._first_run(count)
        if length < count:
            missing = (count - length) * ENTRY_SIZE
            clusters = grow(-(-missing // self.geometry.cluster_size))
            self.chain.extend(clusters)
            self.data.extend(bytes(len(clusters) * self.geometry.cluster_size))
        for skipped in range(end, start):  # the end mark after a dangling long name moves
            self.write(skipped, bytes([_FREE]) + bytes(ENTRY_SIZE - 1))
        self.write(start, raw)
        after = start + count
        if after > end and after * ENTRY_SIZE < len(self.data) \
                and self.data[after * ENTRY_SIZE] != 0:
            self.write(after, bytes(ENTRY_SIZE))  # keep the end marker right after them
        return after - 1

    def room(self, count: int) -> bool:
        """Whether ``count`` slots fit without growing."""
        return self._first_run(count)[1] >= count

    # -- what to write --------------------------------------------------------------------
    def new_clusters(self) -> list[tuple[int, bytes]]:
        """(cluster, bytes) of each cluster that is not on the disk yet (written with the
        file data, before the FAT links it)."""
        size = self.geometry.cluster_size
        first_new = self.existing // size
        return [(cluster, bytes(self.data[index * size:(index + 1) * size]))
                for index, cluster in enumerate(self.chain) if index >= first_new]

    def dirty_writes(self) -> list[tuple[int, bytes]]:
        """(offset in the filesystem, bytes) of the changed sectors already on the disk, in
        ascending order within the directory (long-name entries before their short entry)."""
        size = self.geometry.sector_size
        out: list[tuple[int, bytes]] = []
        for sector in sorted(self.dirty):
            at = sector * size
            chunk = bytes(self.data[at:at + size])
            if self.fixed_offset is not None:
                out.append((self.fixed_offset + at, chunk))
            else:
                cluster_size = self.geometry.cluster_size
                cluster = self.chain[at // cluster_size]
                out.append((self.geometry.cluster_offset(cluster) + at % cluster_size, chunk))
        return out

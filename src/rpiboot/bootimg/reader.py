"""Reading FAT12/16/32 images: ours, mkfs.fat + mtools, the Linux kernel's, Windows'.

Accepts a bare filesystem or a disk image with an MBR partition table (the first FAT
partition, or the one asked for).  Reads lazily: the FAT is loaded once, directories and
files cluster by cluster.
"""

from __future__ import annotations

import datetime as dt
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from rpiboot.bootimg.geometry import FatGeometry
from rpiboot.bootimg.names import ATTR_LFN, decode_lfn_parts, decode_short, sfn_checksum
from rpiboot.errors import InputError

FAT_PARTITION_TYPES = {0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E}
ATTR_VOLUME = 0x08
ATTR_DIR = 0x10
READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class FatEntry:
    """One file or directory found in an image."""

    path: str  # '/'-joined, relative to the root
    name: str
    short_name: str
    is_dir: bool
    size: int
    first_cluster: int
    mtime: dt.datetime | None  # as stored (FAT has no time zone; ours are UTC)
    attributes: int
    parts: tuple[str, ...] = ()  # the names from the root down to this entry



def _decode_datetime(fat_date: int, fat_time: int) -> dt.datetime | None:
    if fat_date == 0:
        return None
    try:
        return dt.datetime(1980 + (fat_date >> 9), (fat_date >> 5) & 0xF, fat_date & 0x1F,
                           fat_time >> 11, (fat_time >> 5) & 0x3F, (fat_time & 0x1F) * 2)
    except ValueError:
        return None


def _looks_like_bpb(sector: bytes) -> bool:
    bps, spc, reserved, nfats = struct.unpack_from("<HBHB", sector, 11)
    return (sector[0] in (0xEB, 0xE9) and bps in (512, 1024, 2048, 4096, 8192, 16384, 32768)
            and spc in (1, 2, 4, 8, 16, 32, 64, 128) and reserved >= 1 and nfats >= 1)


def find_partition(first_sector: bytes, partition: int | None) -> int:
    """Byte offset of the FAT filesystem, given the first 512 bytes of the image."""
    if len(first_sector) < 512 or first_sector[510:512] != b"\x55\xaa":
        raise InputError("not a FAT image: no boot signature (0x55AA) in the first sector",
                         hint="is this a boot.img? `file IMAGE` tells what it is")
    if partition is None and _looks_like_bpb(first_sector):
        return 0
    entries = [struct.unpack_from("<B3xB3xII", first_sector, 446 + 16 * i) for i in range(4)]
    if any(kind == 0xEE for _, kind, _, _ in entries):
        raise InputError("the image has a GPT partition table, which is not supported",
                         hint="extract the FAT partition first (e.g. with dd)")
    if partition is not None:
        if not 1 <= partition <= 4 or entries[partition - 1][1] == 0:
            raise InputError(f"partition {partition} does not exist in the MBR",
                             hint="partitions are numbered 1-4")
        return int(entries[partition - 1][2]) * 512
    for _, kind, start, _count in entries:
        if kind in FAT_PARTITION_TYPES and start:
            return int(start) * 512
    raise InputError("not a FAT image: no FAT boot sector and no FAT partition in the MBR")


class FatImage:
    """A FAT filesystem inside ``handle`` at byte ``offset`` (see :meth:`open`)."""

    def __init__(self, handle: BinaryIO, *, offset: int = 0, name: str = "image") -> None:
        self._handle = handle
        self.offset = offset
        self.name = name
        handle.seek(offset)
        boot = handle.read(512)
        if len(boot) < 512 or not _looks_like_bpb(boot):
            raise InputError(f"{name}: no valid FAT boot sector at offset {offset}")
        self.boot_sector = boot
        self.geometry, self.volume_id, self.bpb_label, self.oem = self._parse_bpb(boot)
        self._fat = self._read_fat()

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, partition: int | None = None) -> FatImage:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by close()/__exit__
        except OSError as err:
            raise InputError(f"{path}: cannot open image: {err.strerror}") from None
        try:
            offset = find_partition(handle.read(512), partition)
            return cls(handle, offset=offset, name=str(path))
        except InputError as err:
            handle.close()
            if not err.message.startswith(str(path)):
                err.message = f"{path}: {err.message}"
                err.args = (err.message,)
            raise

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> FatImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _parse_bpb(self, boot: bytes) -> tuple[FatGeometry, int, str, str]:
        (bps, spc, reserved, nfats, root_entries, total16, media, fat16, spt, heads, hidden,
         total32) = struct.unpack_from("<HBHBHHBHHHII", boot, 11)
        fat_sectors = fat16 or struct.unpack_from("<I", boot, 36)[0]
        total = total16 or total32
        root_sectors = -(-root_entries * 32 // bps)
        data_start = reserved + nfats * fat_sectors + root_sectors
        if fat_sectors == 0 or total <= data_start:
            raise InputError(f"{self.name}: inconsistent FAT boot sector (sizes do not add up)")
        clusters = (total - data_start) // spc
        # Like Linux and mtools, a zero 16-bit FAT size means FAT32; else count clusters.
        fat_type = (32 if fat16 == 0 else 12 if clusters < 4085
                    else 16 if clusters < 65525 else 32)
        ext = 64 if fat_type == 32 else 36
        volume_id = 0
        label = ""
        if boot[ext + 2] in (0x28, 0x29):
            volume_id = struct.unpack_from("<I", boot, ext + 3)[0]
            if boot[ext + 2] == 0x29:
                label = boot[ext + 7:ext + 18].decode("cp437").rstrip(" ")
        geometry = FatGeometry(
            fat_type=fat_type, sector_size=bps, sectors_per_cluster=spc, total_sectors=total,
            reserved_sectors=reserved, num_fats=nfats, fat_sectors=fat_sectors,
            root_entries=root_entries, clusters=clusters, media=media,
            drive_number=boot[ext], heads=heads, sectors_per_track=spt, hidden_sectors=hidden)
        return geometry, volume_id, label, boot[3:11].decode("ascii", "replace")

    def _read_fat(self) -> bytes:
        g = self.geometry
        self._handle.seek(self.offset + g.fat_start * g.sector_size)
        return self._handle.read(g.fat_sectors * g.sector_size)

    def fat_entry(self, cluster: int) -> int:
        fat, kind = self._fat, self.geometry.fat_type
        if kind == 32:
            return int(struct.unpack_from("<I", fat, cluster * 4)[0]) & 0x0FFFFFFF
        if kind == 16:
            return int(struct.unpack_from("<H", fat, cluster * 2)[0])
        pair = int(struct.unpack_from("<H", fat, cluster * 3 // 2)[0])
        return pair >> 4 if cluster & 1 else pair & 0xFFF

    def chain(self, first: int) -> list[int]:
        """The clusters of a chain; raises InputError on loops or out-of-range links."""
        g = self.geometry
        end_marker = {12: 0xFF8, 16: 0xFFF8, 32: 0x0FFFFFF8}[g.fat_type]
        clusters: list[int] = []
        cluster = first
        while 2 <= cluster < end_marker:
            if cluster >= g.clusters + 2 or len(clusters) > g.clusters:
                raise InputError(f"{self.name}: broken cluster chain starting at {first}",
                                 hint="the image is damaged; check it with `fsck.fat -n`")
            clusters.append(cluster)
            cluster = self.fat_entry(cluster)
        return clusters

    def _runs(self, first: int) -> Iterator[tuple[int, int]]:
        """(first cluster, count) of each contiguous stretch of a chain."""
        chain = self.chain(first)
        index = 0
        while index < len(chain):
            start = index
            while index + 1 < len(chain) and chain[index + 1] == chain[index] + 1:
                index += 1
            index += 1
            yield chain[start], index - start

    def _read_clusters(self, first: int, size: int | None) -> Iterator[bytes]:
        """The chain's data in pieces of up to READ_CHUNK bytes (``size`` bytes, or all)."""
        g = self.geometry
        remaining = size
        per_read = max(1, READ_CHUNK // g.cluster_size)
        for start, count in self._runs(first):
            done = 0
            while done < count:
                if remaining is not None and remaining <= 0:
                    return
                step = min(per_read, count - done)
                want = step * g.cluster_size
                want = want if remaining is None else min(want, remaining)
                self._handle.seek(self.offset + g.cluster_offset(start + done))
                data = self._handle.read(want)
                if len(data) < want:
                    raise InputError(f"{self.name}: image is truncated (cluster {start + done})")
                if remaining is not None:
                    remaining -= len(data)
                done += step
                yield data
        if remaining:
            raise InputError(f"{self.name}: a file's cluster chain is shorter than its size")

    def _root_bytes(self) -> bytes:
        g = self.geometry
        if g.fat_type == 32:
            root_cluster = struct.unpack_from("<I", self.boot_sector, 44)[0]
            return b"".join(self._read_clusters(root_cluster, None))
        self._handle.seek(self.offset + g.root_start * g.sector_size)
        return self._handle.read(g.root_dir_sectors * g.sector_size)

    def volume_label(self) -> str:
        """The label from the root directory's label entry (or the boot sector's)."""
        for raw in _raw_entries(self._root_bytes()):
            if raw[11] & 0x1F == ATTR_VOLUME and raw[11] != ATTR_LFN:
                return raw[:11].decode("cp437").rstrip(" ")
        return self.bpb_label

    def list_dir(self, entry: FatEntry | None = None) -> list[FatEntry]:
        """Entries of the root (``entry`` None) or of a directory entry."""
        parents: tuple[str, ...]
        if entry is None:
            data, parents = self._root_bytes(), ()
        else:
            data, parents = b"".join(self._read_clusters(entry.first_cluster, None)), entry.parts
        return list(_parse_directory(data, parents, self.geometry.fat_type == 32))

    def walk(self, entry: FatEntry | None = None) -> Iterator[FatEntry]:
        """Every entry below ``entry`` (default: the root), depth-first, in stored order."""
        for child in self.list_dir(entry):
            yield child
            if child.is_dir:
                yield from self.walk(child)

    def find(self, path: str) -> FatEntry | None:
        """The entry at ``path`` ('/'-separated, case-insensitive like FAT), or None."""
        current: FatEntry | None = None
        for part in [p for p in path.strip("/").split("/") if p]:
            if current is not None and not current.is_dir:
                return None
            match = [e for e in self.list_dir(current)
                     if part.upper() in (e.name.upper(), e.short_name.upper())]
            if not match:
                return None
            current = match[0]
        return current

    def iter_file(self, entry: FatEntry) -> Iterator[bytes]:
        """A file's contents, one cluster at a time."""
        if entry.is_dir:
            raise InputError(f"{self.name}: {entry.path} is a directory")
        if entry.size == 0:
            return iter(())
        return self._read_clusters(entry.first_cluster, entry.size)

    def read_file(self, entry: FatEntry) -> bytes:
        return b"".join(self.iter_file(entry))


def _raw_entries(data: bytes) -> Iterator[bytes]:
    for offset in range(0, len(data) - 31, 32):
        raw = data[offset:offset + 32]
        if raw[0] == 0:
            return
        yield raw


def _parse_directory(data: bytes, parents: tuple[str, ...], fat32: bool
                     ) -> Iterator[FatEntry]:
    pending: list[bytes] = []
    for raw in _raw_entries(data):
        attr = raw[11]
        if raw[0] == 0xE5:
            pending = []
            continue
        if attr == ATTR_LFN:
            if raw[0] & 0x40:
                pending = []
            pending.append(raw)
            continue
        if attr & ATTR_VOLUME or (raw[:2] in (b".\x20", b"..") and attr & ATTR_DIR):
            pending = []
            continue
        short_name = decode_short(raw[:11], 0)
        name = decode_short(raw[:11], raw[12])
        if pending and all(p[13] == sfn_checksum(raw[:11]) for p in pending):
            name = decode_lfn_parts(pending)
        pending = []
        (_, _, _, _, _, _, _, hi, mtime, mdate, lo, size) = struct.unpack("<11sBBBHHHHHHHI", raw)
        is_dir = bool(attr & ATTR_DIR)
        parts = (*parents, name)
        yield FatEntry(path="/".join(parts), name=name, parts=parts,
                       short_name=short_name, is_dir=is_dir, size=0 if is_dir else size,
                       first_cluster=(hi << 16) * fat32 | lo, mtime=_decode_datetime(mdate, mtime),
                       attributes=attr)

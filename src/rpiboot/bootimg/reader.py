"""Reading FAT12/16/32 images: ours, mkfs.fat + mtools, the Linux kernel's, Windows'.

Accepts a bare filesystem or a disk image with an MBR partition table (the first FAT
partition, or the one asked for).  Reads lazily: the FAT is loaded once, directories and
files cluster by cluster.

Images are untrusted input, so every number the boot sector claims is checked against the
file's real size before it is used, and every walk is bounded by what the image holds: a
cluster chain has at most ``clusters`` links (a loop is an error, never a hang), a directory
walk visits each directory cluster once (a directory that contains itself is an error
naming it) and at most :data:`MAX_DEPTH` levels.  Every problem is an
:class:`~rpiboot.errors.InputError` naming the image and the field, cluster or path.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import BinaryIO

from rpiboot.bootimg.direntry import ATTR_VOLUME, FatEntry, parse_directory, raw_entries
from rpiboot.bootimg.fattable import END_OF_CHAIN, read_entry
from rpiboot.bootimg.geometry import FatGeometry
from rpiboot.bootimg.names import ATTR_LFN
from rpiboot.errors import InputError

__all__ = ["END_OF_CHAIN", "FatEntry", "FatImage", "find_partition", "looks_like_bpb"]

FAT_PARTITION_TYPES = {0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E}
READ_CHUNK = 1 << 20
MAX_DEPTH = 64  # directory levels below the start of a walk (no boot image comes close)
FSCK_HINT = "The image is damaged or crafted; check it with `fsck.fat -n IMAGE`."


def looks_like_bpb(sector: bytes) -> bool:
    bps, spc, reserved, nfats = struct.unpack_from("<HBHB", sector, 11)
    return (sector[0] in (0xEB, 0xE9) and bps in (512, 1024, 2048, 4096, 8192, 16384, 32768)
            and spc in (1, 2, 4, 8, 16, 32, 64, 128) and reserved >= 1 and nfats >= 1)


def _total_field(boot: bytes) -> str:
    """Which boot sector field holds the sector count (the 16-bit one unless it is 0)."""
    return ("total_sectors (offset 0x13)" if struct.unpack_from("<H", boot, 19)[0]
            else "total_sectors_32 (offset 0x20)")


def find_partition(first_sector: bytes, partition: int | None) -> int:
    """Byte offset of the FAT filesystem, given the first 512 bytes of the image."""
    if len(first_sector) < 512 or first_sector[510:512] != b"\x55\xaa":
        raise InputError("not a FAT image: no boot signature (0x55AA) in the first sector",
                         hint="is this a boot.img? `file IMAGE` tells what it is")
    if partition is None and looks_like_bpb(first_sector):
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
        self.file_size = self._file_size()
        boot = self._read(offset, 512, "the boot sector", exact=False)
        if len(boot) < 512 or not looks_like_bpb(boot):
            raise InputError(f"{name}: no valid FAT boot sector at offset {offset}")
        self.boot_sector = boot
        self.geometry, self.volume_id, self.bpb_label, self.oem = self._parse_bpb(boot)
        self._check_sizes(boot)
        g = self.geometry
        self._fat: bytes | bytearray = self._read(offset + g.fat_start * g.sector_size,
                                                  g.fat_sectors * g.sector_size, "the FAT")

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, partition: int | None = None) -> FatImage:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by close()/__exit__
        except OSError as err:
            raise InputError(f"{path}: cannot open image: {err.strerror}") from None
        try:
            try:
                first = handle.read(512)
            except OSError as err:
                raise InputError(f"{path}: cannot read the first sector: {err}") from None
            offset = find_partition(first, partition)
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

    # -- reading the file ---------------------------------------------------------------

    def _file_size(self) -> int:
        try:
            return self._handle.seek(0, os.SEEK_END)
        except OSError as err:
            raise InputError(f"{self.name}: cannot read: {err}") from None

    def _read(self, position: int, count: int, what: str, *, exact: bool = True) -> bytes:
        """``count`` bytes at ``position`` (fewer only when ``exact`` is False)."""
        try:
            self._handle.seek(position)
            data = self._handle.read(count)
        except (OSError, OverflowError) as err:
            raise InputError(f"{self.name}: cannot read {what} at offset {position}: {err}",
                             hint=FSCK_HINT) from None
        if exact and len(data) < count:
            raise InputError(f"{self.name}: image is truncated: {what} at offset {position} "
                             f"needs {count} bytes, the file holds {len(data)}",
                             hint="The file was cut short (an interrupted copy?); copy it "
                             "again.")
        return data

    def read_at(self, position: int, count: int, what: str) -> bytes:
        """``count`` bytes at ``position`` bytes from the start of the filesystem."""
        return self._read(self.offset + position, count, what)

    # -- the boot sector ----------------------------------------------------------------

    def _parse_bpb(self, boot: bytes) -> tuple[FatGeometry, int, str, str]:
        (bps, spc, reserved, nfats, root_entries, total16, media, fat16, spt, heads, hidden,
         total32) = struct.unpack_from("<HBHBHHBHHHII", boot, 11)
        fat_sectors = fat16 or struct.unpack_from("<I", boot, 36)[0]
        total = total16 or total32
        available = max(0, self.file_size - self.offset)
        if total * bps > available:
            raise InputError(
                f"{self.name}: boot sector field {_total_field(boot)} claims {total} sectors "
                f"of {bps} bytes ({total * bps} bytes), but the file holds only {available} "
                f"bytes from offset {self.offset}",
                hint="The image is truncated or its boot sector is damaged; copy it again.")
        root_sectors = -(-root_entries * 32 // bps)
        data_start = reserved + nfats * fat_sectors + root_sectors
        if fat_sectors == 0 or total <= data_start:
            raise InputError(
                f"{self.name}: inconsistent FAT boot sector (sizes do not add up): "
                f"reserved_sectors {reserved} + num_fats {nfats} x fat_sectors {fat_sectors} + "
                f"{root_sectors} root directory sectors leave no data area in total_sectors "
                f"{total}", hint=FSCK_HINT)
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

    def _check_sizes(self, boot: bytes) -> None:
        """Every area the boot sector describes lies inside the file; the FAT covers every
        cluster; cluster numbers stay below the end-of-chain markers."""
        g = self.geometry
        total_field = _total_field(boot)
        fat_field = ("fat_sectors (offset 0x16)" if struct.unpack_from("<H", boot, 22)[0]
                     else "fat_sectors_32 (offset 0x24)")
        last = g.clusters + 1
        needed = {12: last * 3 // 2 + 2, 16: 2 * (last + 1), 32: 4 * (last + 1)}[g.fat_type]
        if needed > g.fat_sectors * g.sector_size:
            raise InputError(
                f"{self.name}: boot sector field {fat_field} gives a FAT of "
                f"{g.fat_sectors * g.sector_size} bytes, too small for the {g.clusters} "
                f"clusters of this FAT{g.fat_type} ({needed} bytes needed)", hint=FSCK_HINT)
        if last >= END_OF_CHAIN[g.fat_type] - 1:
            raise InputError(f"{self.name}: boot sector field {total_field}: {g.clusters} "
                             f"clusters are more than FAT{g.fat_type} can number",
                             hint=FSCK_HINT)

    # -- the FAT and cluster chains -----------------------------------------------------

    def fat_bytes(self) -> bytes | bytearray:
        """The first FAT, as loaded (every sector of it)."""
        return self._fat

    def fat_entry(self, cluster: int) -> int:
        return read_entry(self._fat, self.geometry.fat_type, cluster)

    def iter_chain(self, first: int, what: str = "", limit: int | None = None
                   ) -> Iterator[int]:
        """The clusters of a chain, lazily, at most ``limit`` of them.

        A chain visits each cluster at most once (so it has at most ``clusters`` links): one
        that comes back to a cluster loops.  A link outside the data area (or to a reserved
        or bad-cluster value) is an error too.  Both errors name the chain.
        """
        g = self.geometry
        end = END_OF_CHAIN[g.fat_type]
        seen: set[int] = set()
        cluster = first
        while 2 <= cluster < end and (limit is None or len(seen) < limit):
            if cluster >= g.clusters + 2:
                raise self._broken(first, what, f"a link points to cluster {cluster}, past "
                                   f"the last cluster ({g.clusters + 1})")
            if cluster in seen:
                raise self._broken(first, what, f"it loops back to cluster {cluster} after "
                                   f"{len(seen)} links")
            seen.add(cluster)
            yield cluster
            cluster = self.fat_entry(cluster)

    def chain(self, first: int, what: str = "") -> list[int]:
        """The clusters of a chain; raises InputError on loops or out-of-range links."""
        return list(self.iter_chain(first, what))

    def _broken(self, first: int, what: str, problem: str) -> InputError:
        owner = f" of {what}" if what else ""
        return InputError(f"{self.name}: broken cluster chain{owner} starting at cluster "
                          f"{first}: {problem}", hint=FSCK_HINT)

    def _runs(self, first: int, what: str, limit: int | None, longest: int
              ) -> Iterator[tuple[int, int]]:
        """(first cluster, count) of each contiguous stretch of a chain (``longest`` max)."""
        start = count = 0
        for cluster in self.iter_chain(first, what, limit):
            if count and cluster == start + count and count < longest:
                count += 1
                continue
            if count:
                yield start, count
            start, count = cluster, 1
        if count:
            yield start, count

    def _read_clusters(self, first: int, size: int | None, what: str) -> Iterator[bytes]:
        """The chain's data in pieces of up to READ_CHUNK bytes (``size`` bytes, or all)."""
        g = self.geometry
        limit = None if size is None else -(-size // g.cluster_size)
        remaining = size
        for start, count in self._runs(first, what, limit, max(1, READ_CHUNK // g.cluster_size)):
            want = count * g.cluster_size
            if remaining is not None:
                want = min(want, remaining)
                remaining -= want
            yield self._read(self.offset + g.cluster_offset(start), want,
                             f"cluster {start} of {what}")
        if remaining:
            raise InputError(f"{self.name}: {what}: its cluster chain is shorter than its "
                             f"size ({remaining} bytes missing)", hint=FSCK_HINT)

    # -- directories ----------------------------------------------------------------------

    def _root_cluster(self) -> int:
        return int(struct.unpack_from("<I", self.boot_sector, 44)[0])

    def _root_bytes(self) -> bytes:
        g = self.geometry
        if g.fat_type == 32:
            return b"".join(self._read_clusters(self._root_cluster(), None,
                                                "the root directory"))
        return self._read(self.offset + g.root_start * g.sector_size,
                          g.root_dir_sectors * g.sector_size, "the root directory")

    def volume_label(self) -> str:
        """The label from the root directory's label entry (or the boot sector's)."""
        for raw in raw_entries(self._root_bytes()):
            if raw[11] & 0x1F == ATTR_VOLUME and raw[11] != ATTR_LFN:
                return raw[:11].decode("cp437").rstrip(" ")
        return self.bpb_label

    def directory_bytes(self, entry: FatEntry | None = None) -> bytes:
        """The raw bytes of the root (``entry`` None) or of a directory entry."""
        if entry is None:
            return self._root_bytes()
        return b"".join(self._read_clusters(entry.first_cluster, None,
                                            f"directory {entry.path!r}"))

    def list_dir(self, entry: FatEntry | None = None) -> list[FatEntry]:
        """Entries of the root (``entry`` None) or of a directory entry."""
        parents = () if entry is None else entry.parts
        return list(parse_directory(self.directory_bytes(entry), parents,
                                    self.geometry.fat_type == 32))

    def _claim(self, entry: FatEntry | None, owners: dict[int, str]) -> None:
        """Record the clusters of a directory; one that is already taken means the tree
        loops (a directory containing itself or a parent) or is cross-linked."""
        path = "/" if entry is None else entry.path
        if entry is None and self.geometry.fat_type != 32:
            return  # the FAT12/16 root is not in the data area
        first = self._root_cluster() if entry is None else entry.first_cluster
        for cluster in self.iter_chain(first, f"directory {path!r}"):
            if cluster in owners:
                raise InputError(
                    f"{self.name}: directory {path!r} loops: its cluster {cluster} already "
                    f"holds directory {owners[cluster]!r} (a directory that contains itself "
                    "or a parent, or two directories sharing clusters)", hint=FSCK_HINT)
            owners[cluster] = path

    def walk(self, entry: FatEntry | None = None) -> Iterator[FatEntry]:
        """Every entry below ``entry`` (default: the root), depth-first, in stored order.

        Each directory cluster is visited once and at most :data:`MAX_DEPTH` levels deep,
        so a crafted image cannot make the walk loop or grow without bound.
        """
        owners: dict[int, str] = {}
        self._claim(entry, owners)
        stack = [iter(self.list_dir(entry))]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                continue
            yield child
            if child.is_dir:
                if len(stack) >= MAX_DEPTH:
                    raise InputError(f"{self.name}: {child.path!r}: directories nested more "
                                     f"than {MAX_DEPTH} levels deep", hint=FSCK_HINT)
                self._claim(child, owners)
                stack.append(iter(self.list_dir(child)))

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
        """A file's contents, up to 1 MiB at a time (only the clusters its size needs)."""
        if entry.is_dir:
            raise InputError(f"{self.name}: {entry.path} is a directory")
        if entry.size == 0:
            return iter(())
        return self._read_clusters(entry.first_cluster, entry.size, repr(entry.path))

    def read_file(self, entry: FatEntry) -> bytes:
        return b"".join(self.iter_file(entry))

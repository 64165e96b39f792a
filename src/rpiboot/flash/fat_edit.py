"""Editing a FAT12/16/32 filesystem in place, on a disk image or a block device, at an
offset, without mounting it: list, read, and create or replace files (creating folders).

The disk's bytes are untrusted.  Before anything is planned the editor checks the boot
sector (:class:`~rpiboot.bootimg.reader.FatImage`), that the filesystem fits its partition,
that every FAT copy is identical, and the whole tree (:func:`check_consistency`: no loops,
no cross-links, chains match sizes).  Then the whole edit is planned in memory (names,
clusters, directory entries, free space) and only then written, in this order, so that an
interruption at any point leaves the old files intact and at worst lost clusters or an
orphaned long name that ``fsck.fat -a`` removes:

1. the data clusters: new file contents and new directory clusters (unreferenced so far);
2. every FAT copy, in order: the new chains linked (a replaced file's old chain is still
   allocated);
3. the directory entries in existing directory sectors (a new entry, or a replaced file's
   entry pointing at its new chain) — this is what makes the change visible;
4. every FAT copy again: replaced files' old chains freed;
5. the FAT32 FSInfo sector (the free count fsck.fat expects, the last cluster allocated);
   then fsync.

:meth:`FatEditor.plan` makes every check and returns these writes without making them;
:meth:`FatEditor.apply` makes them (``write_files`` does both).
"""

from __future__ import annotations

import errno
import os
import stat
import struct
import time
from collections.abc import Iterable
from typing import BinaryIO

from rpiboot.bootimg.direntry import FatEntry
from rpiboot.bootimg.fatcheck import check_consistency
from rpiboot.bootimg.fattable import FatTable
from rpiboot.bootimg.partitions import Partition, find_fat_partition
from rpiboot.bootimg.reader import FSCK_HINT, FatImage
from rpiboot.errors import DeviceGone, InputError, InternalError, RpibootError
from rpiboot.flash.fat_plan import (
    SPACE_HINT,
    EditPlan,
    FileChange,
    PlannedEdit,
    PlannedWrite,
    split_path,
)
from rpiboot.fspaths import path_error

__all__ = ["DiskError", "FatEditor", "FileChange", "PlannedEdit", "PlannedWrite",
           "locate_partition", "open_disk", "open_fat", "open_partition"]

_FSINFO_SIGNATURES = ((0, 0x41615252), (484, 0x61417272), (508, 0xAA550000))
_GONE = {errno.ENODEV, errno.ENXIO}


class DiskError(RpibootError):
    """Reading or writing the disk failed (an I/O error, a short write, no space)."""


def open_disk(path: str | os.PathLike[str]) -> BinaryIO:
    """``path`` opened for reading and writing, unbuffered; a block device exclusively
    (O_EXCL: refused while it is mounted or opened exclusively elsewhere)."""
    flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        if stat.S_ISBLK(os.stat(path).st_mode):
            flags |= os.O_EXCL
        fd = os.open(path, flags)
    except OSError as err:
        if err.errno == errno.EBUSY:
            raise InputError(f"{path}: cannot open for writing: it is busy (mounted, or open "
                             "exclusively elsewhere)", hint="unmount it first") from None
        raise path_error(path, err, doing="access (for writing)") from None
    return open(fd, "r+b", buffering=0)  # the caller closes it


def locate_partition(handle: BinaryIO, name: str, *, partition: int | None = None,
                     sector_size: int | None = None) -> Partition:
    """The FAT partition of the disk open as ``handle`` (see :func:`find_fat_partition`)."""
    fd = handle.fileno()

    def read(offset: int, count: int) -> bytes:
        try:
            return os.pread(fd, count, offset)
        except OSError as err:
            raise InputError(f"{name}: cannot read at offset {offset}: {err.strerror}") from None

    try:
        size = os.lseek(fd, 0, os.SEEK_END)
    except OSError as err:
        raise InputError(f"{name}: cannot find the disk's size: {err.strerror}") from None
    return find_fat_partition(read, size, name=name, partition=partition,
                              sector_size=sector_size)


def open_partition(path: str | os.PathLike[str], *, partition: int | None = None,
                   sector_size: int | None = None) -> tuple[FatEditor, Partition]:
    """Open the first FAT partition of a disk (MBR or GPT; or the whole disk when it has no
    partition table), or partition number ``partition``, for editing.  ``sector_size``: the
    disk's logical sector size when it is not 512 (the unit of MBR LBAs)."""
    handle = open_disk(path)
    try:
        part = locate_partition(handle, str(path), partition=partition,
                                sector_size=sector_size)
        name = str(path) if part.scheme == "none" else f"{path}, {part.description}"
        return FatEditor(handle, offset=part.start, size=part.size, name=name), part
    except BaseException:
        handle.close()
        raise


def open_fat(path: str | os.PathLike[str], *, offset: int = 0, size: int | None = None
             ) -> FatEditor:
    """Open the FAT filesystem at byte ``offset`` of ``path`` (``size`` bytes long, when
    known) for editing (see :func:`open_disk`)."""
    handle = open_disk(path)
    try:
        return FatEditor(handle, offset=offset, size=size, name=str(path))
    except BaseException:
        handle.close()
        raise


class FatEditor(FatImage):
    """A FAT filesystem opened for reading and in-place editing (see the module docstring).

    ``handle`` is a raw (unbuffered) file opened for reading and writing; the editor reads
    with seek/read and writes with ``os.pwrite`` on its file descriptor."""

    def __init__(self, handle: BinaryIO, *, offset: int = 0, size: int | None = None,
                 name: str = "disk") -> None:
        super().__init__(handle, offset=offset, name=name)
        g = self.geometry
        if size is not None and g.image_bytes > size:
            raise InputError(f"{name}: the FAT filesystem at offset {offset} claims "
                             f"{g.image_bytes} bytes but its partition holds {size}",
                             hint=FSCK_HINT)
        self._fd = handle.fileno()
        self._check_bpb()
        self._check_fat_copies()
        self._fsinfo_sector, self._fsinfo = self._find_fsinfo()
        self.table = FatTable(self._fat, g.fat_type, g.clusters, g.sector_size)
        self._fat = self.table.data  # chain walks see the edits
        self._failed: str | None = None
        self._pending: tuple[PlannedEdit, bytes] | None = None
        self._in_chains = 0  # clusters in chains, counted by the check before each plan

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, partition: int | None = None
             ) -> FatEditor:
        """The first FAT partition of ``path`` (or number ``partition``), opened for editing
        (see :func:`open_partition`)."""
        return open_partition(path, partition=partition)[0]

    def __enter__(self) -> FatEditor:
        return self

    # -- checks at open ---------------------------------------------------------------------
    def _check_bpb(self) -> None:
        """Fields the reader tolerates but other systems read differently (so an edit would
        not be what they see): Linux refuses such filesystems too."""
        g = self.geometry
        problem = None
        if g.media != 0xF0 and g.media < 0xF8:
            problem = f"media (offset 0x15) is 0x{g.media:02x}, not 0xf0 or 0xf8..0xff"
        elif g.fat_type == 32 and struct.unpack_from("<H", self.boot_sector, 22)[0]:
            problem = (f"fat_sectors (offset 0x16) is not 0, but {g.clusters} clusters make "
                       "this FAT32 (Linux and mtools disagree on its layout)")
        elif g.fat_type == 32 and g.root_entries:
            problem = f"root_entries (offset 0x11) is {g.root_entries}, must be 0 on FAT32"
        elif g.fat_type != 32 and (not g.root_entries
                                   or g.root_entries * 32 % g.sector_size):
            problem = (f"root_entries (offset 0x11) is {g.root_entries}, not a whole number "
                       f"of {g.sector_size}-byte sectors")
        if problem:
            raise InputError(f"{self.name}: boot sector field {problem}", hint=FSCK_HINT)

    def _check_fat_copies(self) -> None:
        g = self.geometry
        if g.fat_type == 32 and struct.unpack_from("<H", self.boot_sector, 40)[0] & 0x80:
            raise InputError(f"{self.name}: FAT mirroring is off (boot sector field ext_flags "
                             "at offset 0x28): editing such a filesystem is not supported",
                             hint=FSCK_HINT)
        size = g.fat_sectors * g.sector_size
        for copy in range(1, g.num_fats):
            data = self.read_at((g.fat_start + copy * g.fat_sectors) * g.sector_size, size,
                                f"FAT copy {copy + 1}")
            if data != self._fat:
                first = next(i for i in range(size) if data[i] != self._fat[i])
                sector = g.fat_start + copy * g.fat_sectors + first // g.sector_size
                raise InputError(f"{self.name}: FAT copy {copy + 1} differs from FAT 1 at byte "
                                 f"{first} of the table (sector {sector})", hint=FSCK_HINT)

    def _find_fsinfo(self) -> tuple[int | None, bytes]:
        g = self.geometry
        if g.fat_type != 32:
            return None, b""
        sector = struct.unpack_from("<H", self.boot_sector, 48)[0]
        if not 1 <= sector < g.reserved_sectors:
            return None, b""
        raw = self.read_at(sector * g.sector_size, g.sector_size, "the FSInfo sector")
        if any(struct.unpack_from("<I", raw, at)[0] != value
               for at, value in _FSINFO_SIGNATURES):
            return None, b""  # not a valid FSInfo: nobody reads it, leave it alone
        return sector, raw

    def _free_hint(self) -> int:
        if self._fsinfo_sector is None:
            return 2
        hint = int(struct.unpack_from("<I", self._fsinfo, 492)[0])
        return hint if 2 <= hint <= self.geometry.clusters + 1 else 2

    # -- reading ----------------------------------------------------------------------------
    def listdir(self, path: str = "/") -> list[FatEntry]:
        """The entries of the folder at ``path`` ('/'-separated, case-insensitive)."""
        if path.strip("/") == "":
            return self.list_dir(None)
        entry = self.find(path)
        if entry is None or not entry.is_dir:
            raise InputError(f"{self.name}: no folder {path!r}")
        return self.list_dir(entry)

    def read(self, path: str) -> bytes:
        """The contents of the file at ``path``."""
        entry = self.find(path)
        if entry is None or entry.is_dir:
            raise InputError(f"{self.name}: no file {path!r}")
        return self.read_file(entry)

    # -- writing ----------------------------------------------------------------------------
    def write_file(self, path: str, data: bytes, *, timestamp: float | None = None
                   ) -> FileChange:
        """Create or replace one file (creating missing folders)."""
        return self.write_files([(path, data)], timestamp=timestamp)[0]

    def write_files(self, files: Iterable[tuple[str, bytes]], *, folders: Iterable[str] = (),
                    timestamp: float | None = None) -> list[FileChange]:
        """Create or replace ``files`` ((path, contents) pairs) and create ``folders``, as one
        edit: :meth:`plan` (every check; nothing is written when one fails), then
        :meth:`apply`.  ``timestamp``: the entries' time (UTC, default now)."""
        edit = self.plan(files, folders=folders, timestamp=timestamp)
        self.apply(edit)
        return list(edit.changes)

    def plan(self, files: Iterable[tuple[str, bytes]], *, folders: Iterable[str] = (),
             timestamp: float | None = None) -> PlannedEdit:
        """Check and plan an edit without writing anything: the changes and every write, in
        the order :meth:`apply` makes them.  Until it is applied or :meth:`discard`-ed, the
        editor reads its own plan (a new plan discards an unapplied one)."""
        if self._failed is not None:
            raise DiskError(f"{self.name}: an earlier edit failed while writing "
                            f"({self._failed}); open the disk again",
                            hint="check it with `fsck.fat -n`")
        self.discard()
        files = list(files)
        self._in_chains = check_consistency(self).clusters_in_chains
        self._check_space(files)
        snapshot = bytes(self.table.data)
        try:
            plan = EditPlan(self, self.table, timestamp=time.time() if timestamp is None
                            else timestamp, free_hint=self._free_hint())
            for folder in folders:
                plan.directory(split_path(folder, self.name), self.name)
            for path, data in files:
                plan.put_file(path, data)
            edit = PlannedEdit(changes=tuple(plan.changes), writes=tuple(self._writes(plan)))
        except BaseException:
            self.table.data[:] = snapshot
            self.table.dirty.clear()
            raise
        self._pending = (edit, snapshot)
        return edit

    def discard(self) -> None:
        """Forget an unapplied plan (the in-memory FAT goes back to the disk's)."""
        if self._pending is not None:
            self.table.data[:] = self._pending[1]
            self.table.dirty.clear()
            self._pending = None

    def apply(self, edit: PlannedEdit) -> None:
        """Make the writes of ``edit`` (the editor's latest plan), then fsync."""
        if self._pending is None or self._pending[0] is not edit:
            raise InternalError(f"{self.name}: apply() needs the editor's latest plan")
        self._pending = None
        self._failed = "interrupted"
        for write in edit.writes:
            self._pwrite(write.offset, write.data)
            if write.phase == "fsinfo":
                self._fsinfo = bytes(write.data)
        try:
            os.fsync(self._fd)
        except OSError as err:
            raise self._io_error(err, "flush", self.offset) from None
        self._failed = None

    def _check_space(self, files: list[tuple[str, bytes]]) -> None:
        size = self.geometry.cluster_size
        need = sum(-(-len(data) // size) for _, data in files)
        free = self.table.free_count()
        if need > free:
            raise InputError(
                f"{self.name}: not enough free space: the files need {need} clusters of {size} "
                f"bytes ({need * size} bytes), {free} are free ({free * size} bytes)",
                hint=SPACE_HINT + " (a replaced file's clusters are freed only after its new "
                "copy is written)")

    def _writes(self, plan: EditPlan) -> list[PlannedWrite]:
        """Every write of the plan, in the crash-safe order of the module docstring."""
        g = self.geometry
        writes = [PlannedWrite("data", offset, chunk) for chain, data in plan.file_data
                  for offset, chunk in self._chain_writes(chain, data)]
        writes.extend(PlannedWrite("data", g.cluster_offset(cluster), chunk)
                      for directory in plan.dirs.values()
                      for cluster, chunk in directory.new_clusters())
        writes.extend(self._fat_writes("fat"))
        writes.extend(PlannedWrite("entries", offset, chunk) for directory in plan.dirs.values()
                      for offset, chunk in directory.dirty_writes())
        for cluster in plan.frees:
            self.table.put(cluster, 0)
        writes.extend(self._fat_writes("free"))
        if self._fsinfo_sector is not None:
            writes.append(PlannedWrite("fsinfo", self._fsinfo_sector * g.sector_size,
                                       self._new_fsinfo(plan)))
        for write in writes:  # a bug guard: never outside the filesystem
            if write.offset < g.sector_size or write.offset + len(write.data) > g.image_bytes:
                raise InternalError(f"{self.name}: planned write at {write.offset} "
                                    f"(+{len(write.data)}) is outside the filesystem")
        return writes

    def _new_fsinfo(self, plan: EditPlan) -> bytes:
        """The FSInfo sector after the edit: the last cluster allocated, and the free count
        as fsck.fat counts it (every cluster in no chain: lost clusters are free once it has
        reclaimed them), whatever was stored before."""
        info = bytearray(self._fsinfo)
        in_chains = self._in_chains + len(plan.allocated) - len(plan.frees)
        struct.pack_into("<I", info, 488, self.geometry.clusters - in_chains)
        if plan.allocated:
            struct.pack_into("<I", info, 492, plan.allocated[-1])
        return bytes(info)

    def _chain_writes(self, chain: list[int], data: bytes) -> list[tuple[int, bytes | memoryview]]:
        """The data of one file: one write per run of consecutive clusters, the last cluster
        padded with zeros."""
        size = self.geometry.cluster_size
        view = memoryview(data)
        out: list[tuple[int, bytes | memoryview]] = []
        index = 0
        while index < len(chain):
            run = 1
            while index + run < len(chain) and chain[index + run] == chain[index] + run:
                run += 1
            piece = view[index * size:(index + run) * size]
            if len(piece) < run * size:
                piece = memoryview(bytes(piece) + bytes(run * size - len(piece)))
            out.append((self.geometry.cluster_offset(chain[index]), piece))
            index += run
        return out

    def _fat_writes(self, phase: str) -> list[PlannedWrite]:
        g = self.geometry
        runs = self.table.sector_runs(self.table.dirty)
        self.table.dirty.clear()
        return [PlannedWrite(phase, (g.fat_start + copy * g.fat_sectors) * g.sector_size + at,
                             chunk) for copy in range(g.num_fats) for at, chunk in runs]

    def _pwrite(self, offset: int, chunk: bytes | memoryview) -> None:
        view = memoryview(chunk)
        position = self.offset + offset
        done = 0
        while done < len(view):
            try:
                count = os.pwrite(self._fd, view[done:], position + done)
            except OSError as err:
                raise self._io_error(err, "write", position + done) from None
            if count <= 0:
                self._failed = f"short write at offset {position + done}"
                raise DiskError(f"{self.name}: short write at offset {position + done}",
                                hint="is the disk smaller than its partition table says?")
            done += count

    def _io_error(self, err: OSError, doing: str, position: int) -> RpibootError:
        self._failed = f"{doing} at offset {position}: {err.strerror}"
        message = f"{self.name}: cannot {doing} at offset {position}: {err.strerror}"
        if err.errno in _GONE:
            return DeviceGone(message, hint="the disk went away (unplugged, or the board "
                              "reset); check it with `fsck.fat -n` once it is back")
        return DiskError(message, hint="check the disk (dmesg) and run `fsck.fat -n` on it")

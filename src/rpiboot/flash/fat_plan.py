"""Planning an in-place FAT edit: every check, every cluster and every entry, in memory.

Nothing here writes to the disk.  A plan allocates clusters in the editor's in-memory FAT
(new chains linked, replaced files' old chains only listed in ``frees``), builds the new
directory entries in :class:`~rpiboot.flash.fat_dirs.DirBuffer` copies of the directories
it touches, and keeps each new file's bytes with its chain.  The editor then writes it all
in a crash-safe order (see :mod:`rpiboot.flash.fat_edit`), or throws the plan away.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator

from rpiboot.bootimg.direntry import ATTR_DIR, ENTRY_SIZE, FatEntry
from rpiboot.bootimg.fattable import EOC, FatTable
from rpiboot.bootimg.names import assign_names, lfn_entries, pack_short, validate_name
from rpiboot.bootimg.reader import FatImage
from rpiboot.bootimg.writer import ATTR_ARCHIVE, fat_datetime, pack_dir_entry
from rpiboot.errors import InputError
from rpiboot.flash.fat_dirs import MAX_DIR_SLOTS, DirBuffer
from rpiboot.record import record

SPACE_HINT = "free some space in the partition, or make the files smaller"


@record
class FileChange:
    """One file written by an edit."""

    path: str  # '/'-separated from the root, as asked for
    size: int
    created: bool  # False: an existing file was replaced


@record
class PlannedWrite:
    """One write of a planned edit."""

    phase: str  # "data" | "fat" | "entries" | "free" | "fsinfo" (the order they happen in)
    offset: int  # bytes from the start of the filesystem
    data: bytes | memoryview


@record
class PlannedEdit:
    """What an edit will change and every write that does it, in order."""

    changes: tuple[FileChange, ...]
    writes: tuple[PlannedWrite, ...]


def split_path(path: str, where: str) -> tuple[str, ...]:
    """The components of a '/'-separated path, each a valid FAT long name."""
    parts = tuple(path.strip("/").split("/"))
    if parts == ("",):
        raise InputError(f"{where}: {path!r} is not a file path")
    for part in parts:
        validate_name(part, f"{where}: {path!r}")
    return parts


class EditPlan:
    """The planned changes of one edit (see the module docstring)."""

    def __init__(self, fs: FatImage, table: FatTable, *, timestamp: float,
                 free_hint: int) -> None:
        self.fs = fs
        self.table = table
        self.geometry = fs.geometry
        self.stamp = timestamp
        self.free_at_start = table.free_count()
        self.dirs: dict[int, DirBuffer] = {}
        self.file_data: list[tuple[list[int], bytes]] = []
        self.frees: list[int] = []  # clusters of replaced files' old chains
        self.changes: list[FileChange] = []
        self.allocated: list[int] = []
        self._free: Iterator[int] = table.iter_free(free_hint)
        self._written: dict[tuple[int, int], str] = {}  # (directory, slot) -> path

    # -- clusters ---------------------------------------------------------------------------
    def allocate(self, count: int, what: str) -> list[int]:
        """``count`` free clusters, linked into a chain ending with an end-of-chain mark."""
        clusters = []
        for _ in range(count):
            cluster = next(self._free, None)
            if cluster is None:
                size = self.geometry.cluster_size
                raise InputError(
                    f"{self.fs.name}: not enough free space for {what}: the edit needs more "
                    f"than the {self.free_at_start} free clusters of {size} bytes "
                    f"({self.free_at_start * size} bytes)", hint=SPACE_HINT)
            clusters.append(cluster)
        self.link(clusters)
        self.allocated.extend(clusters)
        return clusters

    def link(self, clusters: list[int]) -> None:
        for here, after in itertools.pairwise(clusters):
            self.table.put(here, after)
        if clusters:
            self.table.put(clusters[-1], EOC[self.geometry.fat_type])

    # -- directories ------------------------------------------------------------------------
    def root(self) -> DirBuffer:
        g = self.geometry
        if g.fat_type != 32:
            if -1 not in self.dirs:
                data = self.fs.read_at(g.root_start * g.sector_size,
                                       g.root_dir_sectors * g.sector_size, "the root directory")
                self.dirs[-1] = DirBuffer("/", data, geometry=g, chain=[],
                                          fixed_offset=g.root_start * g.sector_size)
            return self.dirs[-1]
        first = int(struct.unpack_from("<I", self.fs.boot_sector, 44)[0])
        return self._load(first, "/")

    def _load(self, first: int, path: str) -> DirBuffer:
        if first not in self.dirs:
            chain = self.fs.chain(first, f"directory {path!r}")
            data = b"".join(self.fs.read_at(self.geometry.cluster_offset(c),
                                            self.geometry.cluster_size, f"directory {path!r}")
                            for c in chain)
            self.dirs[first] = DirBuffer(path, data, geometry=self.geometry, chain=chain)
        return self.dirs[first]

    def directory(self, parts: tuple[str, ...], where: str) -> DirBuffer:
        """The directory at ``parts``, created (with its missing parents) if needed."""
        current = self.root()
        for depth, name in enumerate(parts):
            path = "/" + "/".join(parts[:depth + 1])
            found = current.find(name)
            if found is None:
                current = self._make_dir(current, name, path)
            elif not found[1].is_dir:
                raise InputError(f"{where}: cannot create {path!r}: a file of that name is in "
                                 "the way", hint="rename the folder, or remove the file")
            else:
                current = self._load(found[1].first_cluster, path)
        return current

    def _make_dir(self, parent: DirBuffer, name: str, path: str) -> DirBuffer:
        (cluster,) = self.allocate(1, f"folder {path!r}")
        g = self.geometry
        data = bytearray(g.cluster_size)
        data[:ENTRY_SIZE] = pack_dir_entry(pack_short(".", ""), ATTR_DIR, 0, cluster, 0,
                                           self.stamp)
        data[ENTRY_SIZE:2 * ENTRY_SIZE] = pack_dir_entry(
            pack_short("..", ""), ATTR_DIR, 0, parent.first_cluster, 0, self.stamp)
        made = DirBuffer(path, data, geometry=g, chain=[cluster], new=True)
        self.dirs[cluster] = made
        self._add_entry(parent, name, ATTR_DIR, cluster, 0, path)
        return made

    def _grow(self, directory: DirBuffer, clusters: int) -> list[int]:
        slots = (len(directory.data) + clusters * self.geometry.cluster_size) // ENTRY_SIZE
        if slots > MAX_DIR_SLOTS:
            raise InputError(f"{self.fs.name}: folder {directory.path!r} would hold more than "
                             f"{MAX_DIR_SLOTS} entries, the most FAT allows",
                             hint="spread the files over several folders")
        last = directory.chain[-1]
        added = self.allocate(clusters, f"folder {directory.path!r} to grow")
        self.table.put(last, added[0])
        return added

    def _add_entry(self, parent: DirBuffer, name: str, attr: int, cluster: int, size: int,
                   path: str) -> int:
        (planned,) = assign_names([name], taken=parent.taken_shorts())
        raw = pack_dir_entry(planned.short, attr, planned.nt_flags, cluster, size, self.stamp)
        if planned.long_name is not None:
            raw = lfn_entries(planned.long_name, planned.short) + raw
        if parent.fixed_offset is not None and not parent.room(len(raw) // ENTRY_SIZE):
            capacity = len(parent.data) // ENTRY_SIZE
            raise InputError(
                f"{self.fs.name}: the root directory is full: FAT{self.geometry.fat_type} "
                f"gives it a fixed {capacity} entries and {path!r} needs "
                f"{len(raw) // ENTRY_SIZE} free ones (a long name takes several)",
                hint="put the files in a sub-folder (folders grow), use shorter (8.3) names, "
                "or make the filesystem with more root entries (mkfs.fat -r)")
        slot = parent.place(raw, lambda count: self._grow(parent, count))
        self._written[(parent.key, slot)] = path
        return slot

    # -- files ------------------------------------------------------------------------------
    def put_file(self, path: str, data: bytes) -> FileChange:
        parts = split_path(path, self.fs.name)
        shown = "/".join(parts)
        parent = self.directory(parts[:-1], self.fs.name)
        found = parent.find(parts[-1])
        if found is not None:
            slot, entry = found
            if entry.is_dir:
                raise InputError(f"{self.fs.name}: cannot write file {shown!r}: it is a "
                                 "folder in the partition", hint="rename the file")
            if (parent.key, slot) in self._written:
                raise InputError(f"{self.fs.name}: {shown!r} and "
                                 f"{self._written[(parent.key, slot)]!r} are the same name "
                                 "in FAT (names are case-insensitive)",
                                 hint="give the files different names")
        chain = self.allocate(-(-len(data) // self.geometry.cluster_size), repr(shown))
        first = chain[0] if chain else 0
        if found is None:
            self._add_entry(parent, parts[-1], ATTR_ARCHIVE, first, len(data), shown)
        else:
            self._replace_entry(parent, found[0], found[1], first, len(data))
            self._written[(parent.key, found[0])] = shown
        self.file_data.append((chain, data))
        change = FileChange(path=shown, size=len(data), created=found is None)
        self.changes.append(change)
        return change

    def _replace_entry(self, parent: DirBuffer, slot: int, entry: FatEntry, first: int,
                       size: int) -> None:
        """Point the existing entry at the new chain (name and creation time kept); list the
        old chain's clusters to be freed once the entry is written."""
        if entry.first_cluster:
            self.frees.extend(self.fs.chain(entry.first_cluster, repr(entry.name)))
        raw = bytearray(parent.data[slot * ENTRY_SIZE:(slot + 1) * ENTRY_SIZE])
        fat_time, fat_date = fat_datetime(self.stamp)
        high = first >> 16 if self.geometry.fat_type == 32 else 0
        raw[11] |= ATTR_ARCHIVE
        struct.pack_into("<HHHHHI", raw, 18, fat_date, high, fat_time, fat_date, first & 0xFFFF,
                         size)
        parent.write(slot, bytes(raw))

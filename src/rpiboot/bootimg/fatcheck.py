"""A read-only consistency check of a whole FAT filesystem: run before one is edited in place.

It proves what an in-place edit relies on, and refuses (InputError naming the path and the
cluster) otherwise:

* every chain (the FAT32 root, each directory, each file) starts inside the data area, links
  only to clusters inside it and ends with an end-of-chain mark (not in a free cluster);
* no cluster belongs to two chains (cross-linked files), and no chain loops;
* each file's chain has exactly the clusters its size needs (fsck.fat would truncate it);
* every sub-directory starts with its '.' and '..' entries, and no directory holds entries
  after its end-of-directory mark (see :func:`_listing`).

So a cluster whose FAT entry is 0 belongs to nothing and may be allocated, and freeing the
chain of a file removes nothing another file uses.  The work is bounded: each cluster is
claimed at most once and directories are nested at most :data:`MAX_DEPTH` levels.
"""

from __future__ import annotations

import struct
from array import array

from rpiboot.bootimg.direntry import (
    ATTR_DIR,
    ATTR_VOLUME,
    ENTRY_SIZE,
    FatEntry,
    parse_directory,
    raw_entries,
)
from rpiboot.bootimg.fattable import END_OF_CHAIN, entry_array
from rpiboot.bootimg.names import ATTR_LFN
from rpiboot.bootimg.reader import FSCK_HINT, MAX_DEPTH, FatImage
from rpiboot.errors import InputError
from rpiboot.record import record

__all__ = ["FsSummary", "check_consistency"]


@record
class FsSummary:
    files: int
    directories: int  # below the root
    clusters_in_chains: int


class _Claims:
    """Which chain owns each cluster (an index into ``paths``; 0 = none yet)."""

    def __init__(self, image: FatImage) -> None:
        self.image = image
        g = image.geometry
        self.owner = array("I", bytes(4 * (g.clusters + 2)))
        self.links = entry_array(image.fat_bytes(), g.fat_type, g.clusters)
        self.paths: list[str] = []
        self.claimed = 0

    def _error(self, path: str, problem: str) -> InputError:
        return InputError(f"{self.image.name}: {path}: {problem}", hint=FSCK_HINT)

    def chain(self, first: int, path: str, size: int | None) -> int:
        """Claim the chain starting at ``first``; its cluster count.  ``size`` None: a
        directory (at least one cluster)."""
        g = self.image.geometry
        last = g.clusters + 1
        if first == 0:
            if size is None or size > 0:
                what = "is a directory" if size is None else f"has a size of {size} bytes"
                raise self._error(path, f"has no first cluster but {what}")
            return 0
        if not 2 <= first <= last:
            raise self._error(path, f"starts at cluster {first}, outside the data area "
                              f"(clusters 2..{last})")
        self.paths.append(path)
        tag, end, cluster, count = len(self.paths), END_OF_CHAIN[g.fat_type], first, 0
        while True:
            if self.owner[cluster]:
                other = self.paths[self.owner[cluster] - 1]
                raise self._error(path, f"its cluster chain loops back to cluster {cluster}"
                                  if other is path else f"cluster {cluster} also belongs to "
                                  f"{other} (cross-linked)")
            self.owner[cluster] = tag
            count += 1
            following = self.links[cluster]
            if following >= end:
                break
            if following < 2 or following > last:
                raise self._error(path, f"cluster {cluster} links to {following}, which is "
                                  + ("not a cluster (a free or reserved entry, not an "
                                     "end-of-chain mark)" if following < 2 else
                                     f"past the last cluster ({last})"))
            cluster = following
        self.claimed += count
        if size is not None and count != -(-size // g.cluster_size):
            raise self._error(path, f"its size ({size} bytes) needs "
                              f"{-(-size // g.cluster_size)} clusters of {g.cluster_size} "
                              f"bytes, its chain has {count}")
        return count


def _check_dots(image: FatImage, data: bytes, entry: FatEntry, parent: int) -> None:
    """A sub-directory starts with '.' (itself) and '..' (its parent, 0 for the root)."""
    root = int(struct.unpack_from("<I", image.boot_sector, 44)[0])
    for slot, (name, cluster) in enumerate(((".", entry.first_cluster), ("..", parent))):
        raw = data[slot * ENTRY_SIZE:(slot + 1) * ENTRY_SIZE]
        if len(raw) < ENTRY_SIZE or raw[:11] != name.ljust(11).encode() \
                or not raw[11] & ATTR_DIR:
            raise InputError(f"{image.name}: /{entry.path}: slot {slot} is not its {name!r} "
                             "entry (this is not the start of a directory)", hint=FSCK_HINT)
        high, low = struct.unpack_from("<H", raw, 20)[0], struct.unpack_from("<H", raw, 26)[0]
        points = (high << 16) * (image.geometry.fat_type == 32) | low
        if points != cluster and not (name == ".." and cluster == 0 and points == root):
            raise InputError(f"{image.name}: /{entry.path}: its {name!r} entry points to "
                             f"cluster {points}, not {cluster}", hint=FSCK_HINT)


def _hidden_owners(image: FatImage, data: bytes, entry: FatEntry | None
                   ) -> list[tuple[str, int, int]]:
    """(what, first cluster, size) of the entries a listing leaves out that still own
    clusters to fsck.fat: volume labels with a cluster.  A '.' or '..' entry anywhere but
    the first two slots of a sub-directory is refused."""
    where = "the root directory" if entry is None else "/" + entry.path
    owners = []
    for slot, raw in enumerate(raw_entries(data)):
        attr = raw[11]
        if raw[0] == 0xE5 or attr == ATTR_LFN:
            continue
        (high, low, size) = struct.unpack_from("<H4xHI", raw, 20)
        cluster = (high << 16) * (image.geometry.fat_type == 32) | low
        if raw[:2] in (b". ", b"..") and attr & ATTR_DIR and (entry is None or slot >= 2):
            raise InputError(f"{image.name}: {where}: slot {slot} is a stray "
                             f"{raw[:2].decode().strip()!r} entry", hint=FSCK_HINT)
        if attr & ATTR_VOLUME and cluster:
            owners.append((f"{where} (the volume label entry in slot {slot})", cluster, size))
    return owners


def _listing(image: FatImage, entry: FatEntry | None, parent: int, claims: _Claims
             ) -> list[FatEntry]:
    """The entries of a directory, once it is known that its dot entries are right and
    that nothing hides after its end mark: Linux, Windows and mtools stop at the first slot
    starting with 0x00, fsck.fat reads on, so a live-looking slot after it would be a file
    to one and free space to the other.  Chains owned by entries it leaves out are
    claimed."""
    data = image.directory_bytes(entry)
    if entry is not None:
        _check_dots(image, data, entry, parent)
    for what, cluster, size in _hidden_owners(image, data, entry):
        claims.chain(cluster, what, size)
    end = next((at for at in range(0, len(data) - ENTRY_SIZE + 1, ENTRY_SIZE)
                if data[at] == 0), len(data))
    for at in range(end + ENTRY_SIZE, len(data) - ENTRY_SIZE + 1, ENTRY_SIZE):
        if data[at] not in (0x00, 0xE5):
            path = "the root directory" if entry is None else "/" + entry.path
            raise InputError(f"{image.name}: {path}: slot {at // ENTRY_SIZE} holds an entry "
                             f"after the end-of-directory mark in slot {end // ENTRY_SIZE}",
                             hint=FSCK_HINT)
    parents = () if entry is None else entry.parts
    return list(parse_directory(data, parents, image.geometry.fat_type == 32))


def check_consistency(image: FatImage) -> FsSummary:
    """Walk every directory and claim every chain; InputError at the first inconsistency."""
    claims = _Claims(image)
    if image.geometry.fat_type == 32:
        root = int(struct.unpack_from("<I", image.boot_sector, 44)[0])
        claims.chain(root, "the root directory", None)
    files = directories = 0
    stack: list[tuple[list[FatEntry], int, int]] = [(_listing(image, None, 0, claims), 0, 0)]
    while stack:
        entries, depth, parent = stack.pop()
        for entry in entries:
            path = "/" + entry.path
            if not entry.is_dir:
                files += 1
                claims.chain(entry.first_cluster, path, entry.size)
                continue
            directories += 1
            if depth + 1 >= MAX_DEPTH:
                raise InputError(f"{image.name}: {path}: directories nested more than "
                                 f"{MAX_DEPTH} levels deep", hint=FSCK_HINT)
            claims.chain(entry.first_cluster, path, None)
            stack.append((_listing(image, entry, parent, claims), depth + 1,
                          entry.first_cluster))
    return FsSummary(files=files, directories=directories,
                     clusters_in_chains=claims.claimed)

"""A read-only consistency check of a whole FAT filesystem: run before one is edited in place.

It proves what an in-place edit relies on, and refuses (InputError naming the path and the
cluster) otherwise:

* every chain (the FAT32 root, each directory, each file) starts inside the data area, links
  only to clusters inside it and ends with an end-of-chain mark (not in a free cluster);
* no cluster belongs to two chains (cross-linked files), and no chain loops;
* each file's chain has exactly the clusters its size needs (fsck.fat would truncate it).

So a cluster whose FAT entry is 0 belongs to nothing and may be allocated, and freeing the
chain of a file removes nothing another file uses.  The work is bounded: each cluster is
claimed at most once and directories are nested at most :data:`MAX_DEPTH` levels.
"""

from __future__ import annotations

import struct
from array import array

from rpiboot.bootimg.direntry import FatEntry
from rpiboot.bootimg.fattable import END_OF_CHAIN
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
            following = self.image.fat_entry(cluster)
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


def check_consistency(image: FatImage) -> FsSummary:
    """Walk every directory and claim every chain; InputError at the first inconsistency."""
    claims = _Claims(image)
    if image.geometry.fat_type == 32:
        root = int(struct.unpack_from("<I", image.boot_sector, 44)[0])
        claims.chain(root, "the root directory", None)
    files = directories = 0
    stack: list[tuple[list[FatEntry], int]] = [(image.list_dir(None), 0)]
    while stack:
        entries, depth = stack.pop()
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
            stack.append((image.list_dir(entry), depth + 1))
    return FsSummary(files=files, directories=directories,
                     clusters_in_chains=claims.claimed)

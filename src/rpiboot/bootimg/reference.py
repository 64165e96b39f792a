"""What the reference ``rpi-make-boot-image`` (usbboot 87d6e03) does before mkfs.fat.

Pruning by board and architecture, and its size estimate, ported quirk for quirk so the
drop-in picks the same FAT type and image size wherever the reference succeeds.  The
estimate works on paths as they would appear in the reference's staging folder
(``/tmp/tmp.XXXXXXXXXX/staging``), because the long-name term counts the full path.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from rpiboot.bootimg.tree import EntryFilter

STAGING_PREFIX = "/tmp/tmp.XXXXXXXXXX/staging"
FAT_OVERHEAD_KIB = 16
LARGE_IMAGE_KIB = 20 * 1024

# Files removed from the top level for -b pi4 / pi400 / cm4 (the older boards' firmware).
BOARD_PRUNE = (
    "kernel.img", "kernel7.img", "bootcode.bin",
    "start.elf", "fixup.dat", "start_cd.elf", "fixup_cd.dat", "start_db.elf", "fixup_db.dat",
    "start_x.elf", "fixup_x.dat", "start4cd.elf", "fixup4cd.dat", "start4db.elf",
    "fixup4db.dat", "bcm2708*", "bcm2709*", "bcm2710*",
)
PI400_EXTRA_PRUNE = ("start4x.elf", "fixup4x.dat")
PRUNING_BOARDS = ("pi4", "pi400", "cm4")

_SFN_CLASS = r"[A-Z0-9 !#$%&'()\-@^_`{}~\x80-\xff]"
_REFERENCE_83 = re.compile(rf"^{_SFN_CLASS}{{1,8}}(?:\.{_SFN_CLASS}{{1,3}})$")


def pruned_names(board: str | None, arch: str) -> list[str]:
    """Top-level glob patterns the reference deletes from its staging copy."""
    patterns: list[str] = []
    if board in PRUNING_BOARDS:
        patterns.extend(BOARD_PRUNE)
    if arch == "32":
        patterns.append("kernel8.img")
    elif arch == "64":
        patterns.append("kernel7l.img")
    if board == "pi400":
        patterns.extend(PI400_EXTRA_PRUNE)
    return patterns


def reference_keep(board: str | None, arch: str) -> EntryFilter:
    """EntryFilter: drop top-level dot-files (``cp -rp src/*``) and the pruned names."""
    patterns = pruned_names(board, arch)

    def keep(rel_path: str, is_dir: bool) -> bool:
        if "/" in rel_path:
            return True
        if rel_path.startswith("."):
            return False
        return is_dir or not any(fnmatch.fnmatchcase(rel_path, p) for p in patterns)

    return keep


def _is_reference_83(name: str) -> bool:
    return "\n" not in name and _REFERENCE_83.search(name) is not None


def _lfn_entries(full_path: str) -> int:
    return (len(full_path.encode("utf-16-le", "surrogatepass")) + 25) // 26


class _EstimateWalker:
    """``estimate_fat_clusters`` over the pruned source, seen through staging paths."""

    def __init__(self, source: Path, keep: EntryFilter, cluster_size: int) -> None:
        self.source = source
        self.keep = keep
        self.cluster_size = cluster_size

    def _entries(self, rel: str) -> list[tuple[str, os.stat_result]]:
        directory = self.source / rel if rel else self.source
        out = []
        for name in sorted(os.listdir(directory)):
            child_rel = f"{rel}/{name}" if rel else name
            info = os.lstat(directory / name)
            real_dir = stat.S_ISDIR(info.st_mode)
            if not self.keep(child_rel, real_dir or _points_to_dir(directory / name)):
                continue  # the pruned names (top level), and the output itself
            out.append((name, info))
        return out

    def _missing_dir(self, word: str) -> int:
        """What the reference adds for a word-split piece of a name that is no directory."""
        entries = 2 + 1 + _lfn_entries(f"{word}/*")
        return -(-entries * 32 // self.cluster_size)

    def estimate(self, rel: str) -> int:
        entries = self._entries(rel)
        clusters = 0
        staging = f"{STAGING_PREFIX}/{rel}" if rel else STAGING_PREFIX
        real_dirs = {name for name, info in entries if stat.S_ISDIR(info.st_mode)}
        for name in real_dirs:
            # $(find ...) is unquoted: the shell splits names on spaces, tabs and newlines
            for word in filter(None, re.split(r"[ \t\n]+", f"{staging}/{name}")):
                clusters += self._word(word)
        for _name, info in entries:  # find -type f: regular files only, not symlinks
            if stat.S_ISREG(info.st_mode):
                clusters += -(-info.st_size // self.cluster_size)
        dir_entries = 2
        globbed = [name for name, _ in entries if not name.startswith(".")] or ["*"]
        for name in globbed:
            dir_entries += 1
            if not _is_reference_83(name):
                dir_entries += _lfn_entries(f"{staging}/{name}")
        return clusters + -(-dir_entries * 32 // self.cluster_size)

    def _word(self, word: str) -> int:
        if word == STAGING_PREFIX or not word.startswith(STAGING_PREFIX + "/"):
            return self._missing_dir(word)
        rel = word[len(STAGING_PREFIX) + 1:]
        path = self.source / rel
        top = rel.split("/")[0]
        if (path.is_dir() and not path.is_symlink() and not top.startswith(".")
                and self.keep(top, True)):
            return self.estimate(rel)
        return self._missing_dir(word)


def _points_to_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def estimate_clusters(source: str | os.PathLike[str], keep: EntryFilter,
                      cluster_size: int) -> int:
    """The reference's cluster estimate for ``source`` after pruning with ``keep``."""
    return _EstimateWalker(Path(source), keep, cluster_size).estimate("")


@dataclass(frozen=True)
class ReferenceSize:
    size_kib: int
    fat_type: int | None  # None: mkfs.fat chooses (IMAGE_SIZE given without FAT_SIZE)
    estimate: int | None  # clusters, when the estimate ran


def reference_size(clusters: int, *, sector_size: int, sectors_per_cluster: int,
                   root_entries: int, overhead_kib: int = FAT_OVERHEAD_KIB) -> ReferenceSize:
    """IMAGE_SIZE (KiB) and FAT_SIZE the reference derives from its estimate."""
    cluster_size = sector_size * sectors_per_cluster
    root_sectors = -(-root_entries * 32 // cluster_size)
    if clusters > 65526:
        fat_type = 32
        fat_sectors = -(-(clusters + 2) * 4 // sector_size)
    elif clusters > 4085:
        fat_type = 16
        fat_sectors = -(-(clusters + 2) * 2 // sector_size) + root_sectors
    else:
        fat_type = 12
        fat_sectors = -(-(((clusters + 2) * 3 + 1) // 2) // sector_size) + root_sectors
    size_bytes = clusters * cluster_size + fat_sectors * sector_size
    return ReferenceSize(-(-size_bytes // 1024) + overhead_kib, fat_type, clusters)

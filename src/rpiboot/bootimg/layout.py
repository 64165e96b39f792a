"""Planning an image before a byte is written: names, directory sizes, geometry, clusters.

Clusters are handed out the way mtools does when it copies a tree in sorted order: a
directory's first cluster when it is created, then its contents depth-first, then the
directory's further clusters once its subtree is done.  The FAT32 root starts at cluster 2.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from rpiboot.bootimg.geometry import FatGeometry, GeometryError, fit_geometry
from rpiboot.bootimg.names import DirName, assign_names
from rpiboot.bootimg.tree import SourceDir, SourceFile
from rpiboot.errors import InputError, UsageError

FAT_EPOCH = 315532800  # 1980-01-01 00:00:00 UTC, the earliest FAT time
FAT_LAST = 4354819198  # 2107-12-31 23:59:58 UTC, the latest FAT time
DEFAULT_TIMESTAMP = FAT_EPOCH
DEFAULT_VOLUME_ID = 0x1234ABCD
DEFAULT_LABEL = "BOOT"
_LABEL_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !#$%&'()-@^_`{}~")


@dataclass(frozen=True)
class ImageOptions:
    """How to build an image.  ``None`` means "choose automatically"."""

    fat_type: int | None = None
    sector_size: int = 512
    sectors_per_cluster: int = 1
    num_fats: int = 1
    root_entries: int | None = None  # FAT12/16 only; None = max(min_root_entries, needed)
    min_root_entries: int = 512
    size_kib: int | None = None
    label: str = DEFAULT_LABEL
    volume_id: int = DEFAULT_VOLUME_ID
    timestamp: int | None = DEFAULT_TIMESTAMP  # None = each file's own mtime
    geometry: FatGeometry | None = None  # fixed geometry (drop-in); overrides the above


@dataclass
class PlannedNode:
    """One directory entry of the image and where its data lives."""

    source: SourceFile | SourceDir
    dir_name: DirName
    first_cluster: int = 0
    cluster_count: int = 0
    # directories only:
    children: list[PlannedNode] = field(default_factory=list)
    entry_count: int = 0
    chain: list[int] = field(default_factory=list)

    @property
    def is_dir(self) -> bool:
        return isinstance(self.source, SourceDir)


@dataclass
class ImagePlan:
    geometry: FatGeometry
    root: PlannedNode
    clusters_used: int
    label: str
    volume_id: int
    timestamp: int | None

    def walk(self) -> list[PlannedNode]:
        out: list[PlannedNode] = []
        stack = [self.root]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(node.children))
        return out


def timestamp_from_env(default: int = DEFAULT_TIMESTAMP) -> int:
    """SOURCE_DATE_EPOCH (clamped to the FAT range) or ``default``."""
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"SOURCE_DATE_EPOCH={raw!r} is not an integer",
                         hint="set it to seconds since 1970 (e.g. `git log -1 --format=%ct`)"
                         ) from None
    return clamp_fat_time(value)


def clamp_fat_time(value: float) -> int:
    return int(min(max(value, FAT_EPOCH), FAT_LAST))


def check_label(label: str) -> str:
    """The label as stored (upper case, at most 11 characters)."""
    upper = label.upper()
    if len(upper) > 11 or not set(upper) <= _LABEL_CHARS:
        raise UsageError(f"volume label {label!r} is not valid",
                         hint="use at most 11 letters, digits, spaces or !#$%&'()-@^_`{}~")
    return upper


def _plan_dir(source: SourceDir, name: DirName, is_root: bool, has_label: bool) -> PlannedNode:
    node = PlannedNode(source=source, dir_name=name)
    names = assign_names(child.name for child in source.children)
    entries = 2 if not is_root else (1 if has_label else 0)
    for child, child_name in zip(source.children, names, strict=True):
        entries += child_name.entry_count
        if isinstance(child, SourceDir):
            node.children.append(_plan_dir(child, child_name, False, False))
        else:
            node.children.append(PlannedNode(source=child, dir_name=child_name))
    node.entry_count = entries
    return node


def _count_clusters(node: PlannedNode, cluster_size: int) -> int:
    """Clusters for everything below ``node`` (not the node's own directory clusters)."""
    total = 0
    for child in node.children:
        if child.is_dir:
            total += max(1, -(-child.entry_count * 32 // cluster_size))
            total += _count_clusters(child, cluster_size)
        else:
            assert isinstance(child.source, SourceFile)
            total += -(-child.source.size // cluster_size)
    return total


def _allocate(node: PlannedNode, next_cluster: int, cluster_size: int) -> int:
    for child in node.children:
        if child.is_dir:
            child.chain = [next_cluster]
            child.first_cluster = next_cluster
            next_cluster = _allocate(child, next_cluster + 1, cluster_size)
        else:
            assert isinstance(child.source, SourceFile)
            count = -(-child.source.size // cluster_size)
            child.first_cluster = next_cluster if count else 0
            child.cluster_count = count
            next_cluster += count
    if node.chain:  # directories in clusters: the rest of the chain after the subtree
        extra = max(1, -(-node.entry_count * 32 // cluster_size)) - 1
        node.chain.extend(range(next_cluster, next_cluster + extra))
        next_cluster += extra
    return next_cluster


def plan_image(source: SourceDir, options: ImageOptions) -> ImagePlan:
    """Choose names, geometry and clusters; raise before anything is written if it cannot fit."""
    label = check_label(options.label)
    if not 0 <= options.volume_id <= 0xFFFFFFFF:
        raise UsageError(f"volume id {options.volume_id:#x} does not fit in 32 bits")
    root = _plan_dir(source, DirName(b"", 0, None), True, bool(label))
    geometry = options.geometry or _choose_geometry(root, options)
    cluster_size = geometry.cluster_size
    below_root = _count_clusters(root, cluster_size)
    if geometry.fat_type == 32:
        root.chain = [2]
        root.first_cluster = 2
        needed = below_root + max(1, -(-root.entry_count * 32 // cluster_size))
    else:
        capacity = geometry.root_dir_sectors * geometry.sector_size // 32
        if root.entry_count > capacity:
            raise InputError(
                f"{source.path}: the root directory needs {root.entry_count} entries"
                f" (long names take several) but FAT{geometry.fat_type} root holds {capacity}",
                hint="raise the root entries (--root-entries / ROOT_DIR_ENTRIES), use FAT32,"
                     " or move files into a sub-directory")
        needed = below_root
    if needed > geometry.clusters:
        raise GeometryError(
            f"{source.path}: content needs {needed} clusters of {cluster_size} bytes but the"
            f" {geometry.image_bytes // 1024} KiB FAT{geometry.fat_type} image has"
            f" {geometry.clusters}",
            hint="give a larger size, or leave the size out to size the image automatically")
    end = _allocate(root, 3 if geometry.fat_type == 32 else 2, cluster_size)
    return ImagePlan(geometry=geometry, root=root, clusters_used=end - 2, label=label,
                     volume_id=options.volume_id, timestamp=options.timestamp)


def _choose_geometry(root: PlannedNode, options: ImageOptions) -> FatGeometry:
    cluster_size = options.sector_size * options.sectors_per_cluster
    below_root = _count_clusters(root, cluster_size)
    sector_entries = options.sector_size // 32
    wanted_root = options.root_entries
    if wanted_root is None:
        wanted_root = max(options.min_root_entries,
                          -(-root.entry_count // sector_entries) * sector_entries)
    types = [options.fat_type] if options.fat_type else [12, 16, 32]
    errors: list[GeometryError] = []
    for fat_type in types:
        if fat_type != 32 and root.entry_count > wanted_root:
            errors.append(GeometryError(
                f"the root directory needs {root.entry_count} entries but"
                f" --root-entries is {wanted_root}",
                hint="raise --root-entries, use --fat 32, or move files into a sub-directory"))
            continue
        needed = below_root
        if fat_type == 32:
            needed += max(1, -(-root.entry_count * 32 // cluster_size))
        try:
            return fit_geometry(needed, fat_type=fat_type, sector_size=options.sector_size,
                                sectors_per_cluster=options.sectors_per_cluster,
                                num_fats=options.num_fats, root_entries=wanted_root,
                                size_kib=options.size_kib)
        except GeometryError as err:
            errors.append(err)
    # Report the most telling reason: content that does not fit, else the first type tried.
    raise next((e for e in errors if "content needs" in e.message), errors[0])


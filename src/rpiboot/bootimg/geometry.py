"""FAT geometry: where the boot sector, FATs, root directory and data area go.

:func:`mkfs_geometry` reproduces the layout mkfs.fat 4.2 computes for a given image size and
settings (cluster size fixed, no automatic cluster-size retry), so the drop-in
``rpi-make-boot-image`` gets the reference's geometry.  :func:`fit_geometry` is our own
default: the smallest image of a given FAT type that holds a number of clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

from rpiboot.errors import InputError

MAX_CLUSTERS = {12: 4084, 16: 65524, 32: 0x0FFFFFF5}
MIN_CLUSTERS = {12: 1, 16: 4087, 32: 65525}
# mkfs.fat treats these sizes (KiB) as floppies: other media byte, drive number 0.
FLOPPY_MEDIA = {360: 0xFD, 720: 0xF9, 1200: 0xF9, 1440: 0xF0, 2880: 0xF0}
VALID_SECTOR_SIZES = (512, 1024, 2048, 4096, 8192, 16384, 32768)


class GeometryError(InputError):
    """The requested size/FAT type/cluster size cannot make a valid FAT filesystem."""


@dataclass(frozen=True)
class FatGeometry:
    """The numbers of one FAT filesystem (all counts in sectors unless named otherwise)."""

    fat_type: int
    sector_size: int
    sectors_per_cluster: int
    total_sectors: int
    reserved_sectors: int
    num_fats: int
    fat_sectors: int
    root_entries: int  # as stored in the BPB (0 on FAT32)
    clusters: int
    media: int = 0xF8
    drive_number: int = 0x80
    heads: int = 1
    sectors_per_track: int = 1
    hidden_sectors: int = 0

    @property
    def cluster_size(self) -> int:
        return self.sector_size * self.sectors_per_cluster

    @property
    def root_dir_sectors(self) -> int:
        return -(-self.root_entries * 32 // self.sector_size)

    @property
    def fat_start(self) -> int:
        return self.reserved_sectors

    @property
    def root_start(self) -> int:
        return self.reserved_sectors + self.num_fats * self.fat_sectors

    @property
    def data_start(self) -> int:
        return self.root_start + self.root_dir_sectors

    @property
    def image_bytes(self) -> int:
        return self.total_sectors * self.sector_size

    def cluster_offset(self, cluster: int) -> int:
        """Byte offset of data cluster ``cluster`` (first data cluster is 2)."""
        return (self.data_start + (cluster - 2) * self.sectors_per_cluster) * self.sector_size


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _align(value: int, unit: int, enabled: bool) -> int:
    return _cdiv(value, unit) * unit if enabled else value


def _check_settings(sector_size: int, sectors_per_cluster: int, num_fats: int) -> None:
    if sector_size not in VALID_SECTOR_SIZES:
        raise GeometryError(f"sector size {sector_size} is not a power of two from 512 to 32768",
                            hint="use 512 (the default) or 4096")
    if sectors_per_cluster not in (1, 2, 4, 8, 16, 32, 64, 128):
        raise GeometryError(f"{sectors_per_cluster} sectors per cluster is not a power of two"
                            " from 1 to 128")
    if num_fats not in (1, 2):
        raise GeometryError(f"{num_fats} FATs: only 1 or 2 are supported")


def _clusters_for(fat_type: int, data_sectors: int, ss: int, spc: int, nfats: int,
                  align: bool) -> tuple[int, int]:
    """mkfs.fat's estimate of (clusters, FAT sectors) for one FAT type; clusters 0 = no fit."""
    if fat_type == 12:
        clusters = 2 * (data_sectors * ss + nfats * 3) // (2 * spc * ss + nfats * 3)
        fat_len = _align(_cdiv(((clusters + 2) * 3 + 1) >> 1, ss), spc, align)
        limit = min(fat_len * 2 * ss // 3, MAX_CLUSTERS[12])
    elif fat_type == 16:
        clusters = (data_sectors * ss + nfats * 4) // (spc * ss + nfats * 2)
        fat_len = _align(_cdiv((clusters + 2) * 2, ss), spc, align)
        limit = min(fat_len * ss // 2, MAX_CLUSTERS[16])
    else:
        clusters = (data_sectors * ss + nfats * 8) // (spc * ss + nfats * 4)
        fat_len = _align(_cdiv((clusters + 2) * 4, ss), spc, align)
        limit = min(fat_len * ss // 4, MAX_CLUSTERS[32])
    clusters = max(0, (data_sectors - nfats * fat_len) // spc)
    # mkfs.fat only enforces the FAT32 minimum when it picks the type itself (never, for us).
    minimum = 1 if fat_type == 32 else MIN_CLUSTERS[fat_type]
    if clusters > limit or clusters < minimum:
        clusters = 0
    return clusters, fat_len


def mkfs_geometry(size_kib: int, *, fat_type: int | None, sector_size: int = 512,
                  sectors_per_cluster: int = 1, num_fats: int = 1,
                  root_entries: int = 256) -> FatGeometry:
    """The geometry ``mkfs.fat -C -f N -s SPC [-F T] -g 1/1 -S SS -r ROOT img SIZE_KIB`` makes.

    Raises :class:`GeometryError` with mkfs.fat's reason where mkfs.fat 4.2 would fail.
    """
    _check_settings(sector_size, sectors_per_cluster, num_fats)
    spc, ss = sectors_per_cluster, sector_size
    total = size_kib * 1024 // ss
    align = total > 8192
    root_sectors = _cdiv(root_entries * 32, ss)
    reserved = 32 if fat_type == 32 else 1
    data32 = total - _align(reserved, spc, align)
    data1216 = data32 - _align(root_sectors, spc, align)
    found = {
        12: _clusters_for(12, data1216, ss, spc, num_fats, align),
        16: _clusters_for(16, data1216, ss, spc, num_fats, align),
        32: _clusters_for(32, data32, ss, spc, num_fats, align),
    }
    if fat_type is None:
        fat_type = 32 if size_kib >= 512 * 1024 else (16 if found[16][0] > found[12][0] else 12)
    if fat_type == 32:
        reserved = 32
        data32 = total - _align(reserved, spc, align)
        found[32] = _clusters_for(32, data32, ss, spc, num_fats, align)
    clusters, fat_len = found[fat_type]
    if clusters == 0:
        raise GeometryError(
            f"{size_kib} KiB with {ss * spc}-byte clusters gives no valid FAT{fat_type}"
            " (mkfs.fat: Not enough or too many clusters)",
            hint="choose another size, FAT type or cluster size")
    reserved = _align(reserved, spc, align)
    if fat_type == 32:
        stored_root = 0
    elif align:
        stored_root = _align(root_sectors, spc, True) * (ss // 32)
    else:
        stored_root = root_entries
    geometry = FatGeometry(
        fat_type=fat_type, sector_size=ss, sectors_per_cluster=spc, total_sectors=total,
        reserved_sectors=reserved, num_fats=num_fats, fat_sectors=fat_len,
        root_entries=stored_root, clusters=clusters,
        media=FLOPPY_MEDIA.get(size_kib, 0xF8),
        drive_number=0 if size_kib in FLOPPY_MEDIA else 0x80)
    start_data_block = _cdiv(geometry.data_start * (ss // 512), 2)
    if size_kib < start_data_block + 32:
        raise GeometryError(
            f"{size_kib} KiB is too small for a FAT filesystem"
            " (mkfs.fat: Too few blocks for viable filesystem)",
            hint="the image needs at least 32 KiB beyond the FAT and root directory")
    return geometry


def fit_geometry(clusters_needed: int, *, fat_type: int | None = None, sector_size: int = 512,
                 sectors_per_cluster: int = 1, num_fats: int = 2,
                 root_entries: int = 512, size_kib: int | None = None) -> FatGeometry:
    """The smallest mkfs.fat-compatible geometry holding ``clusters_needed`` data clusters.

    With ``size_kib`` the size is fixed and only checked.  Without ``fat_type`` the smallest
    type that can hold the clusters is used (FAT12, then FAT16, then FAT32).
    """
    _check_settings(sector_size, sectors_per_cluster, num_fats)
    types = [fat_type] if fat_type else [12, 16, 32]
    reasons = []
    for candidate in types:
        need = max(clusters_needed, MIN_CLUSTERS[candidate])
        if need > MAX_CLUSTERS[candidate]:
            reasons.append(f"FAT{candidate} holds at most {MAX_CLUSTERS[candidate]} clusters")
            continue
        if size_kib is not None:
            geometry = mkfs_geometry(size_kib, fat_type=candidate, sector_size=sector_size,
                                     sectors_per_cluster=sectors_per_cluster,
                                     num_fats=num_fats, root_entries=root_entries)
            if geometry.clusters < MIN_CLUSTERS[candidate]:
                raise GeometryError(
                    f"a {size_kib} KiB image has only {geometry.clusters} clusters, too few"
                    f" for a valid FAT{candidate} (at least {MIN_CLUSTERS[candidate]})",
                    hint="give a larger --size or another --fat type")
            if geometry.clusters < clusters_needed:
                raise GeometryError(
                    f"content needs {clusters_needed} clusters but a {size_kib} KiB FAT"
                    f"{candidate} image has only {geometry.clusters}",
                    hint="give a larger --size, or leave --size out to size automatically")
            return geometry
        fitted = _smallest_fit(candidate, need, sector_size, sectors_per_cluster, num_fats,
                               root_entries)
        if fitted is not None:
            return fitted
        reasons.append(f"no FAT{candidate} size holds {need} clusters")
    raise GeometryError("; ".join(reasons) or "no geometry fits",
                        hint="use larger clusters (--cluster-size) or another FAT type")


def _smallest_fit(fat_type: int, need: int, ss: int, spc: int, nfats: int,
                  root_entries: int) -> FatGeometry | None:
    """Search upward from a close lower bound for the first size (KiB) that fits."""
    entry_bits = {12: 12, 16: 16, 32: 32}[fat_type]
    fat_bytes = _cdiv((need + 2) * entry_bits, 8)
    base = (32 if fat_type == 32 else 1) * ss + nfats * fat_bytes + need * ss * spc
    if fat_type != 32:
        base += root_entries * 32
    step = max(1, ss // 1024)
    kib = max(_cdiv(base, 1024 * step) - 1, 1) * step
    for _ in range(64 + 2 * spc + nfats * 8):
        if kib in FLOPPY_MEDIA:
            kib += step
            continue
        try:
            geometry = mkfs_geometry(kib, fat_type=fat_type, sector_size=ss,
                                     sectors_per_cluster=spc, num_fats=nfats,
                                     root_entries=root_entries)
        except GeometryError:
            geometry = None
        if geometry is not None and geometry.clusters >= need:
            return geometry
        kib += step
    return None

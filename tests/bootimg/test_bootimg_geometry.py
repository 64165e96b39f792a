"""Geometry: our mkfs.fat port against mkfs.fat itself, the spec's sample layouts, fit search."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest
from bootimg_helpers import need_tools
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rpiboot.bootimg.geometry import (
    FLOPPY_MEDIA,
    MAX_CLUSTERS,
    GeometryError,
    fit_geometry,
    mkfs_geometry,
)


def _mkfs_boot_sector(tmp: Path, size_kib: int, fat: int | None, ss: int, spc: int, nfats: int,
                      root: int) -> bytes | None:
    image = tmp / "g.img"
    image.unlink(missing_ok=True)
    args = ["mkfs.fat", "-C", "--invariant", "-f", str(nfats), "-s", str(spc), "-g", "1/1",
            "-S", str(ss), "-r", str(root)] + (["-F", str(fat)] if fat else [])
    result = subprocess.run([*args, str(image), str(size_kib)], capture_output=True,
                            check=False)
    return image.read_bytes()[:512] if result.returncode == 0 else None


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ss=st.sampled_from([512, 512, 1024, 2048, 4096]), spc=st.sampled_from([1, 1, 2, 4, 8]),
       nfats=st.sampled_from([1, 2]), fat=st.sampled_from([12, 16, 32, None]),
       root=st.sampled_from([16, 64, 100, 256, 512]),
       size_kib=st.one_of(st.integers(20, 3000), st.integers(3000, 80000)))
def test_geometry_matches_mkfs_fat(tmp_path: Path, ss: int, spc: int, nfats: int,
                                   fat: int | None, root: int, size_kib: int) -> None:
    need_tools("mkfs.fat")
    size_kib -= size_kib % (ss // 1024 or 1)
    boot = _mkfs_boot_sector(tmp_path, size_kib, fat, ss, spc, nfats, root)
    if boot is None:
        with pytest.raises(GeometryError):
            mkfs_geometry(size_kib, fat_type=fat, sector_size=ss, sectors_per_cluster=spc,
                          num_fats=nfats, root_entries=root)
        return
    ours = mkfs_geometry(size_kib, fat_type=fat, sector_size=ss, sectors_per_cluster=spc,
                         num_fats=nfats, root_entries=root)
    (bps, got_spc, reserved, got_nfats, root_entries, total16, media, fat16, _spt, _heads,
     _hidden, total32) = struct.unpack_from("<HBHBHHBHHHII", boot, 11)
    fat_sectors = fat16 or struct.unpack_from("<I", boot, 36)[0]
    fs_type = boot[54:62] if fat16 else boot[82:90]
    assert (bps, got_spc, got_nfats) == (ss, spc, nfats)
    assert ours.reserved_sectors == reserved
    assert ours.fat_sectors == fat_sectors
    assert ours.root_entries == root_entries
    assert ours.total_sectors == (total16 or total32)
    assert ours.media == media
    assert fs_type == f"FAT{ours.fat_type}   ".encode()


@pytest.mark.parametrize(("size_kib", "fat", "sectors", "reserved", "fat_sectors", "data_at",
                          "clusters"), [
    (328, 12, 656, 1, 2, 19, 637),          # spec sample s1
    (26086, 16, 52172, 1, 203, 220, 51952),  # s24
    (42692, 32, 85384, 32, 662, 694, 84690),  # s40
])
def test_spec_sample_layouts(size_kib: int, fat: int, sectors: int, reserved: int,
                             fat_sectors: int, data_at: int, clusters: int) -> None:
    g = mkfs_geometry(size_kib, fat_type=fat, num_fats=1, root_entries=256)
    assert (g.total_sectors, g.reserved_sectors, g.fat_sectors, g.data_start, g.clusters) == (
        sectors, reserved, fat_sectors, data_at, clusters)


@pytest.mark.parametrize(("size_kib", "media"), sorted(FLOPPY_MEDIA.items()))
def test_floppy_sizes_change_media_and_drive(size_kib: int, media: int) -> None:
    fat = 12 if size_kib < 2000 else 16
    g = mkfs_geometry(size_kib, fat_type=fat, root_entries=256)
    assert (g.media, g.drive_number) == (media, 0)
    assert mkfs_geometry(size_kib + 1, fat_type=fat).media == 0xF8


def test_mkfs_failures_are_reported() -> None:
    with pytest.raises(GeometryError, match="Too few blocks"):
        mkfs_geometry(26, fat_type=12)
    with pytest.raises(GeometryError, match="Not enough or too many clusters"):
        mkfs_geometry(2060, fat_type=12)  # 4091 clusters: past FAT12's 4084
    with pytest.raises(GeometryError, match="Not enough or too many clusters"):
        mkfs_geometry(40 * 1024, fat_type=None)  # IMAGE_SIZE=40 without FAT_SIZE=32


@settings(max_examples=60, deadline=None)
@given(clusters=st.integers(1, 200_000), spc=st.sampled_from([1, 2, 8]),
       nfats=st.sampled_from([1, 2]), fat=st.sampled_from([None, 12, 16, 32]))
def test_fit_geometry_is_smallest_that_holds(clusters: int, spc: int, nfats: int,
                                            fat: int | None) -> None:
    try:
        g = fit_geometry(clusters, fat_type=fat, sectors_per_cluster=spc, num_fats=nfats)
    except GeometryError:
        assert fat is not None and clusters > MAX_CLUSTERS[fat]
        return
    assert g.clusters >= clusters
    if fat is not None:
        assert g.fat_type == fat
    smaller = g.image_bytes // 1024 - 1
    try:
        below = mkfs_geometry(smaller, fat_type=g.fat_type, sectors_per_cluster=spc,
                              num_fats=nfats, root_entries=g.root_entries)
    except GeometryError:
        return
    assert below.clusters < max(clusters, {12: 1, 16: 4087, 32: 65525}[g.fat_type]) \
        or smaller in FLOPPY_MEDIA


def test_fixed_size_too_small_is_refused() -> None:
    with pytest.raises(GeometryError, match="needs 5000 clusters"):
        fit_geometry(5000, fat_type=16, size_kib=2200)
    with pytest.raises(GeometryError, match="too few"):
        fit_geometry(10, fat_type=32, size_kib=4096)

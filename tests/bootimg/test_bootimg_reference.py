"""The port of the reference's size estimate, checked against values worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from bootimg_helpers import make_tree

from rpiboot.bootimg.reference import (
    STAGING_PREFIX,
    _is_reference_83,
    estimate_clusters,
    reference_keep,
    reference_size,
)

KEEP_ALL = reference_keep(None, "")


def test_staging_prefix_is_the_27_character_mktemp_path() -> None:
    assert len(STAGING_PREFIX) == 27


@pytest.mark.parametrize(("name", "is_83"), [
    ("START4.ELF", True), ("A~1.B", True), ("\u00c4B.TXT", True), ("CONFIG", False),
    ("config.txt", False), ("TOOLONGNAME.TXT", False), ("A.TOOL", False), ("A B.TXT", True),
])
def test_reference_83_test(name: str, is_83: bool) -> None:
    assert _is_reference_83(name) is is_83


@pytest.mark.parametrize(("spec", "clusters"), [
    # config.txt: 1 data cluster; dir: 2 + (1 + ceil(2*38/26)) = 6 entries → 1 cluster.
    ({"config.txt": b"abc"}, 2),
    # empty dir "e" counts the literal "*": 2 + 1 + ceil(2*len(".../e/*")/26) → 1 cluster.
    ({"config.txt": b"abc", "e": None}, 3),
    # nested dot-file: its data counts (2 clusters), its entry does not.
    ({"d": {".x": b"x" * 1000}}, 4),
    # "A B" is split into two words that are no directories; its contents are not counted.
    ({"A B": {"big.bin": b"b" * 100_000}}, 3),
    # 15 files of 1 byte + 15 long names of 4 entries each + 2 = 62 entries → 4 clusters.
    ({f"file{i:02}.txt": b"x" for i in range(15)}, 15 + 4),
])
def test_estimate_by_hand(tmp_path: Path, spec: dict, clusters: int) -> None:
    source = make_tree(tmp_path / "src", spec)
    assert estimate_clusters(source, KEEP_ALL, 512) == clusters


def test_estimate_skips_symlinks_but_counts_their_entries(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src", {"config.txt": b"abc"})
    (tmp_path / "big").write_bytes(b"b" * 50_000)
    (source / "LINK.BIN").symlink_to(tmp_path / "big")
    assert estimate_clusters(source, KEEP_ALL, 512) == 2  # 6 + 1 entries still 1 cluster


@pytest.mark.parametrize(("clusters", "fat", "size_kib"), [
    (2, 12, 26), (588, 12, 319), (670, 12, 360), (4060, 12, 2060), (4086, 16, 2075),
    (65500, 16, 32902), (70000, 32, 35290),
])
def test_reference_size_from_estimate(clusters: int, fat: int, size_kib: int) -> None:
    result = reference_size(clusters, sector_size=512, sectors_per_cluster=1, root_entries=256)
    assert (result.fat_type, result.size_kib) == (fat, size_kib)

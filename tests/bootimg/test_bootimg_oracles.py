"""Our images against the real tools: fsck.fat, mdir/mcopy, mkfs.fat --invariant + mcopy."""

from __future__ import annotations

import calendar
import os
import subprocess
from pathlib import Path

import pytest
from bootimg_helpers import (
    INVARIANT_EPOCH,
    fsck_clean,
    make_tree,
    mdir_paths,
    mkfs_mcopy_image,
    mtools_extract,
    need_tools,
    patch_boot_code,
    read_tree,
    set_mtimes,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rpiboot.bootimg.geometry import mkfs_geometry
from rpiboot.bootimg.layout import ImageOptions
from rpiboot.bootimg.reader import FatImage
from rpiboot.bootimg.writer import build_image

BOOT_TREE = {
    "config.txt": b"enable_uart=1\n",
    "cmdline.txt": b"console=serial0,115200 root=/dev/ram0\n",
    "Mixed.txt": b"mixed case\n",
    "bcm2711-rpi-4-b.dtb": bytes(range(256)) * 60,
    "start4.elf": os.urandom(40_000),
    "empty.bin": b"",
    "overlays": {"dwc2.dtbo": b"\x01" * 1500, "README": b"read me\n",
                 "Deeper Dir": {"x.dat": b"x" * 513}},
    "emptydir": None,
}


def _tree_with_big_dirs() -> dict:
    spec: dict = dict(BOOT_TREE)
    # 30 long names: the directory needs several clusters (mtools grows it after the subtree).
    spec["many"] = {f"file-{chr(97 + i // 10)}{i % 10}.txt": bytes([i]) * (i * 37)
                    for i in range(30)}
    return spec


@pytest.mark.parametrize(("fat", "size_kib", "nfats", "spc", "tree"), [
    (12, 400, 1, 1, "boot"),
    (12, 1200, 2, 2, "big"),
    (16, 9000, 1, 1, "boot"),
    (16, 20000, 2, 4, "big"),
    (32, 40000, 1, 1, "big"),
    (32, 80000, 2, 1, "boot"),
])
def test_byte_identical_to_mkfs_fat_and_mcopy(tmp_path: Path, fat: int, size_kib: int,
                                              nfats: int, spc: int, tree: str) -> None:
    source = make_tree(tmp_path / "src", BOOT_TREE if tree == "boot" else _tree_with_big_dirs())
    set_mtimes(source, INVARIANT_EPOCH)
    reference = tmp_path / "ref.img"
    mkfs_mcopy_image(source, reference, size_kib=size_kib, fat_type=fat, num_fats=nfats,
                     sectors_per_cluster=spc)
    geometry = mkfs_geometry(size_kib, fat_type=fat, num_fats=nfats, sectors_per_cluster=spc)
    ours = tmp_path / "ours.img"
    build_image(source, ours, ImageOptions(geometry=geometry, timestamp=INVARIANT_EPOCH))
    expected = reference.read_bytes()
    got = patch_boot_code(ours.read_bytes(), expected, fat, 512)
    assert len(got) == len(expected)
    if got != expected:
        first = next(i for i in range(len(got)) if got[i] != expected[i])
        pytest.fail(f"first difference at byte {first:#x} (sector {first // 512})")


@pytest.mark.parametrize(("fat", "sector_size", "nfats"), [
    (12, 512, 1), (16, 512, 2), (32, 512, 1), (32, 512, 2), (12, 4096, 2), (16, 4096, 1),
    (32, 4096, 2)])
def test_fsck_clean_and_mtools_round_trip(tmp_path: Path, fat: int, sector_size: int,
                                          nfats: int) -> None:
    need_tools("fsck.fat", "mcopy", "mdir")
    source = make_tree(tmp_path / "src", _tree_with_big_dirs())
    image = tmp_path / "boot.img"
    build_image(source, image, ImageOptions(fat_type=fat, sector_size=sector_size,
                                            num_fats=nfats))
    fsck_clean(image)
    with FatImage.open(image) as fs:
        assert fs.geometry.fat_type == fat
        assert fs.geometry.sector_size == sector_size
        ours = {e.path: (None if e.is_dir else fs.read_file(e)) for e in fs.walk()}
    assert ours == read_tree(source)
    if sector_size == 512:  # mtools reads other sector sizes only with a config entry
        listed = mdir_paths(image)
        assert "overlays/Deeper Dir/x.dat" in listed and "Mixed.txt" in listed
        assert mtools_extract(image, tmp_path / "out") == read_tree(source)


def test_mkfs_and_mtools_images_read_by_us(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src", _tree_with_big_dirs())
    set_mtimes(source, INVARIANT_EPOCH)
    for fat, size in ((12, 1200), (16, 9000), (32, 40000)):
        image = tmp_path / f"ref{fat}.img"
        mkfs_mcopy_image(source, image, size_kib=size, fat_type=fat)
        with FatImage.open(image) as fs:
            assert fs.geometry.fat_type == fat
            assert fs.volume_label() == "BOOT" and fs.volume_id == 0x1234ABCD
            got = {e.path: (None if e.is_dir else fs.read_file(e)) for e in fs.walk()}
            stamps = {calendar.timegm(e.mtime.timetuple()) for e in fs.walk() if e.mtime}
        assert got == read_tree(source)
        assert stamps == {INVARIANT_EPOCH - INVARIANT_EPOCH % 2}  # FAT: 2-second resolution


def test_kernel_vfat_style_image_with_mkfs_mbr(tmp_path: Path) -> None:
    """mkfs.fat --mbr puts a partition table into the boot sector itself: still one FS."""
    need_tools("mkfs.fat", "mcopy")
    image = tmp_path / "mbr.img"
    subprocess.run(["mkfs.fat", "-C", "--mbr=y", "-n", "KERNEL", str(image),
                    "8192"], check=True, capture_output=True)
    subprocess.run(["mcopy", "-i", str(image), str(Path(__file__)), "::/t.py"], check=True,
                   capture_output=True)
    with FatImage.open(image) as fs:
        assert fs.offset == 0
        assert fs.volume_label() == "KERNEL"
        assert fs.read_file(fs.find("T.PY")) == Path(__file__).read_bytes()


name_chars = st.characters(whitelist_categories=("Ll", "Lu", "Nd"), max_codepoint=0x17F) | \
    st.sampled_from(list(" -_.~+,;=[]#$%&'()@^`{}!"))
names = st.text(name_chars, min_size=1, max_size=20).map(lambda n: n.strip(". ") or "n")


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> dict:
    children = draw(st.lists(names, max_size=6 if depth else 10, unique_by=str.upper))
    spec: dict = {}
    for name in children:
        if depth < 2 and draw(st.booleans()) and draw(st.booleans()):
            spec[name] = draw(trees(depth + 1))
        else:
            spec[name] = draw(st.binary(max_size=1500))
    return spec


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(spec=trees(), fat=st.sampled_from([12, 16, 32]), spc=st.sampled_from([1, 2]))
def test_random_trees_round_trip(tmp_path_factory: pytest.TempPathFactory, spec: dict,
                                 fat: int, spc: int) -> None:
    need_tools("mcopy", "fsck.fat")
    work = tmp_path_factory.mktemp("rt")
    source = make_tree(work / "src", spec)
    image = work / "boot.img"
    build_image(source, image, ImageOptions(fat_type=fat, sectors_per_cluster=spc))
    expected = read_tree(source)
    with FatImage.open(image) as fs:
        assert {e.path: (None if e.is_dir else fs.read_file(e)) for e in fs.walk()} == expected
    assert mtools_extract(image, work / "mt") == expected
    fsck_clean(image)

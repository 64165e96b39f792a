"""Reading images: the real secure-boot boot.img, partitioned disks, damage, safe extraction."""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import pytest
from bootimg_helpers import make_tree
from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot.bootimg.inspect import extract, image_info
from rpiboot.bootimg.layout import ImageOptions
from rpiboot.bootimg.reader import FatImage, find_partition
from rpiboot.bootimg.writer import build_image
from rpiboot.errors import InputError


def test_reads_the_real_secure_boot_msd_image(firmware_dir: Path, tmp_path: Path) -> None:
    image = firmware_dir / "usbboot" / "secure-boot-msd" / "boot.img"
    with FatImage.open(image) as fs:
        info = image_info(fs)
        entries = list(fs.walk())
        assert info["fat_type"] == 12 and info["label"] == "BOOT"
        assert info["image_bytes"] == image.stat().st_size
        assert [e.path for e in entries] == ["start4.elf"]
        data = fs.read_file(entries[0])
    assert len(data) == entries[0].size > 100_000
    assert data[:4] == b"\x7fELF"
    written = extract(FatImage.open(image), tmp_path / "out")
    assert [e.path for e in written] == ["start4.elf"]
    assert hashlib.sha256((tmp_path / "out" / "start4.elf").read_bytes()).digest() == \
        hashlib.sha256(data).digest()


def _fat_image(tmp_path: Path, spec: dict, **options: object) -> Path:
    source = make_tree(tmp_path / "src", spec)
    image = tmp_path / "fs.img"
    build_image(source, image, ImageOptions(**options))  # type: ignore[arg-type]
    return image


def _mbr(partitions: list[tuple[int, int, int]]) -> bytes:
    sector = bytearray(512)
    for index, (kind, start, count) in enumerate(partitions):
        struct.pack_into("<B3xB3xII", sector, 446 + 16 * index, 0, kind, start, count)
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def test_reads_a_filesystem_inside_an_mbr_partition(tmp_path: Path) -> None:
    fs_image = _fat_image(tmp_path, {"config.txt": b"hello\n", "d": {"f": b"x" * 3000}})
    fs_bytes = fs_image.read_bytes()
    sectors = len(fs_bytes) // 512
    disk = tmp_path / "disk.img"
    disk.write_bytes(_mbr([(0x83, 4096, 100), (0x0C, 2048, sectors)]).ljust(2048 * 512, b"\0")
                     + fs_bytes)
    with FatImage.open(disk) as fs:
        assert fs.offset == 2048 * 512
        assert fs.read_file(fs.find("d/f")) == b"x" * 3000
    with FatImage.open(disk, partition=2) as fs:
        assert fs.read_file(fs.find("CONFIG.TXT")) == b"hello\n"
    with pytest.raises(InputError, match="partition 3 does not exist"):
        FatImage.open(disk, partition=3)


@pytest.mark.parametrize(("first", "message"), [
    (b"\0" * 512, "no boot signature"),
    (_mbr([(0xEE, 1, 100)]), "GPT"),
    (_mbr([(0x83, 2048, 100)]), "no FAT partition"),
])
def test_not_fat_images_are_refused(first: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        find_partition(first, None)


def test_damaged_images_raise_input_errors(tmp_path: Path) -> None:
    image = _fat_image(tmp_path, {"a.bin": b"a" * 5000}, fat_type=16)
    data = bytearray(image.read_bytes())
    with FatImage.open(image) as fs:
        entry = fs.find("a.bin")
        fat_at = fs.geometry.fat_start * 512
    struct.pack_into("<H", data, fat_at + 2 * entry.first_cluster, entry.first_cluster)
    looped = tmp_path / "loop.img"
    looped.write_bytes(bytes(data))
    with FatImage.open(looped) as fs, pytest.raises(InputError, match="broken cluster chain"):
        fs.read_file(fs.find("a.bin"))
    truncated = tmp_path / "short.img"
    truncated.write_bytes(image.read_bytes()[:200])
    with pytest.raises(InputError):
        FatImage.open(truncated)
    with pytest.raises(InputError, match="cannot open"):
        FatImage.open(tmp_path / "missing.img")


def _with_long_name(tmp_path: Path, new_name: str) -> Path:
    """An image whose one long name ("Ab" + padding) is rewritten to ``new_name``."""
    image = _fat_image(tmp_path, {"Ab": b"payload"})
    data = bytearray(image.read_bytes())
    with FatImage.open(image) as fs:
        root = fs.geometry.root_start * 512
    entry = root + 32  # after the volume label
    assert data[entry + 11] == 0x0F
    units = new_name.encode("utf-16-le") + b"\0\0"
    units = units.ljust(26, b"\xff")
    data[entry + 1:entry + 11] = units[:10]
    data[entry + 14:entry + 26] = units[10:22]
    data[entry + 28:entry + 32] = units[22:26]
    crafted = tmp_path / "crafted.img"
    crafted.write_bytes(bytes(data))
    return crafted


@pytest.mark.parametrize("evil", ["..", "a/b", "x\\y", "."])
def test_extract_refuses_names_that_escape(tmp_path: Path, evil: str) -> None:
    crafted = _with_long_name(tmp_path, evil)
    dest = tmp_path / "dest"
    with FatImage.open(crafted) as fs:
        assert [e.name for e in fs.walk()] == [evil]
        with pytest.raises(InputError, match="refusing to extract"):
            extract(fs, dest)
    assert not dest.exists()


def test_extract_refuses_to_write_through_a_symlink(tmp_path: Path) -> None:
    image = _fat_image(tmp_path, {"d": {"f": b"1"}})
    dest = tmp_path / "dest"
    dest.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, dest / "d")
    with FatImage.open(image) as fs, pytest.raises(InputError, match="symlink"):
        extract(fs, dest)
    assert list(outside.iterdir()) == []


def test_extract_selected_paths_keeps_times(tmp_path: Path) -> None:
    image = _fat_image(tmp_path, {"keep": {"x.txt": b"x"}, "skip.txt": b"s"},
                       timestamp=1_700_000_000)
    with FatImage.open(image) as fs:
        extract(fs, tmp_path / "out", ["KEEP"])
        with pytest.raises(InputError, match="no such file"):
            extract(fs, tmp_path / "out", ["nope"])
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["keep", "x.txt"]
    assert int((tmp_path / "out" / "keep" / "x.txt").stat().st_mtime) == 1_700_000_000


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=512, max_size=512))
def test_find_partition_never_crashes_on_garbage(first: bytes) -> None:
    try:
        offset = find_partition(first, None)
    except InputError:
        return
    assert offset % 512 == 0


@settings(max_examples=100, deadline=None)
@given(st.integers(315532800, 4354819198))
def test_fat_timestamps_round_trip(stamp: int) -> None:
    import calendar

    from rpiboot.bootimg.direntry import decode_datetime as _decode_datetime
    from rpiboot.bootimg.writer import fat_datetime

    fat_time, fat_date = fat_datetime(stamp)
    decoded = _decode_datetime(fat_date, fat_time)
    assert decoded is not None
    assert calendar.timegm(decoded.timetuple()) == stamp - stamp % 2


def test_fat_timestamps_clamp_to_the_fat_range() -> None:
    from rpiboot.bootimg.writer import fat_datetime

    assert fat_datetime(0) == fat_datetime(315532800) == (0, (1 << 5) | 1)
    assert fat_datetime(10**11) == fat_datetime(4354819198)

"""Crafted boot.img files: every problem is an InputError naming the image and what is
wrong (field, cluster, path); nothing loops, hangs or grows without bound."""

from __future__ import annotations

import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bootimg_helpers import make_tree

from rpiboot.bootimg.inspect import extract
from rpiboot.bootimg.layout import ImageOptions
from rpiboot.bootimg.reader import MAX_DEPTH, FatImage
from rpiboot.bootimg.writer import build_image
from rpiboot.errors import InputError

ATTR_DIR = 0x10


def _image(tmp_path: Path, spec: dict, **options: object) -> Path:
    source = make_tree(tmp_path / "src", spec)
    image = tmp_path / "fs.img"
    build_image(source, image, ImageOptions(**options))  # type: ignore[arg-type]
    return image


def _entry_offset(data: bytes, start: int, length: int, short: bytes) -> int:
    """Byte offset of the directory entry with 11-byte short name ``short``."""
    for offset in range(start, start + length, 32):
        if data[offset:offset + 11] == short:
            return offset
    raise AssertionError(f"{short!r} not found")


def _point_entry_at(data: bytearray, offset: int, cluster: int, attr: int | None = None) -> None:
    struct.pack_into("<H", data, offset + 26, cluster & 0xFFFF)
    struct.pack_into("<H", data, offset + 20, cluster >> 16)
    if attr is not None:
        data[offset + 11] = attr


def _self_containing(tmp_path: Path, copies: int = 1, **options: object) -> Path:
    """d/ holds ``copies`` directory entries that point back at d itself."""
    names = [f"x{i}" for i in range(copies)]
    image = _image(tmp_path, {"d": {name: b"1" for name in names}}, **options)
    data = bytearray(image.read_bytes())
    with FatImage.open(image) as fs:
        d = fs.find("d")
        assert d is not None
        start, size = fs.geometry.cluster_offset(d.first_cluster), fs.geometry.cluster_size
    for name in names:
        short = name.upper().encode().ljust(11)
        _point_entry_at(data, _entry_offset(data, start, size, short), d.first_cluster, ATTR_DIR)
    crafted = tmp_path / "loop.img"
    crafted.write_bytes(bytes(data))
    return crafted


@pytest.mark.parametrize("fat", [12, 32])
def test_a_directory_that_contains_itself_is_an_error_naming_it(tmp_path: Path,
                                                               fat: int) -> None:
    crafted = _self_containing(tmp_path, fat_type=fat)
    with FatImage.open(crafted) as fs, pytest.raises(InputError) as caught:
        list(fs.walk())
    assert "directory 'd/x0' loops" in caught.value.message
    assert str(crafted) in caught.value.message and "fsck.fat" in (caught.value.hint or "")
    dest = tmp_path / "out"
    with FatImage.open(crafted) as fs, pytest.raises(InputError, match="loops"):
        extract(fs, dest)
    assert not dest.exists()  # nothing written before the whole tree was checked


def test_extract_of_a_self_referencing_tree_ends_quickly_through_the_cli(
        tmp_path: Path) -> None:
    """Before the fix, 2 self references per directory made the walk grow as 2**depth
    (`bootimg extract` ran forever, memory growing ~26 MB/s)."""
    crafted = _self_containing(tmp_path, copies=2)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "rpiboot.cli.main", "bootimg", "extract",
                           str(crafted), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "loops" in proc.stderr and "Traceback" not in proc.stderr
    assert time.monotonic() - started < 30


def test_a_file_whose_chain_loops_is_an_error_never_a_hang(tmp_path: Path) -> None:
    image = _image(tmp_path, {"big.bin": bytes(range(256)) * 40}, fat_type=16)  # 20 clusters
    data = bytearray(image.read_bytes())
    with FatImage.open(image) as fs:
        entry = fs.find("big.bin")
        assert entry is not None
        fat_at = fs.geometry.fat_start * fs.geometry.sector_size
        chain = fs.chain(entry.first_cluster)
    struct.pack_into("<H", data, fat_at + 2 * chain[5], chain[2])  # 6th link back to the 3rd
    crafted = tmp_path / "loop.img"
    crafted.write_bytes(bytes(data))
    with FatImage.open(crafted) as fs:
        entry = fs.find("big.bin")
        assert entry is not None
        with pytest.raises(InputError, match=rf"'big\.bin' starting at cluster "
                           rf"{chain[0]}: it loops back to cluster {chain[2]} after 6 links"):
            fs.read_file(entry)
        with pytest.raises(InputError, match="loops back"):
            extract(fs, tmp_path / "out")
    assert not (tmp_path / "out" / "big.bin").exists()


def test_a_chain_link_past_the_last_cluster(tmp_path: Path) -> None:
    image = _image(tmp_path, {"a.bin": b"a" * 3000}, fat_type=16)
    data = bytearray(image.read_bytes())
    with FatImage.open(image) as fs:
        entry = fs.find("a.bin")
        assert entry is not None
        fat_at = fs.geometry.fat_start * fs.geometry.sector_size
        last = fs.geometry.clusters + 1
    struct.pack_into("<H", data, fat_at + 2 * entry.first_cluster, last + 1)
    crafted = tmp_path / "far.img"
    crafted.write_bytes(bytes(data))
    with FatImage.open(crafted) as fs, pytest.raises(
            InputError, match=rf"points to cluster {last + 1}, past the last cluster"):
        fs.read_file(fs.find("a.bin"))  # type: ignore[arg-type]


def test_a_file_reads_only_the_clusters_its_size_needs(tmp_path: Path) -> None:
    """A chain that goes wrong after the file's last cluster does not matter (as on Linux)."""
    image = _image(tmp_path, {"a.bin": b"a" * 100}, fat_type=16)
    data = bytearray(image.read_bytes())
    with FatImage.open(image) as fs:
        entry = fs.find("a.bin")
        assert entry is not None
        fat_at = fs.geometry.fat_start * fs.geometry.sector_size
    struct.pack_into("<H", data, fat_at + 2 * entry.first_cluster, entry.first_cluster)
    crafted = tmp_path / "tail.img"
    crafted.write_bytes(bytes(data))
    with FatImage.open(crafted) as fs:
        assert fs.read_file(entry) == b"a" * 100


@pytest.mark.parametrize(("offset", "fmt", "value", "message"), [
    (0x13, "<H", 0xFFFF, r"field total_sectors \(offset 0x13\) claims 65535 sectors"),
    (0x16, "<H", 1, r"field fat_sectors \(offset 0x16\) gives a FAT of 512 bytes, too small"),
    (0x0E, "<H", 0xFFF0, r"sizes do not add up\): reserved_sectors 65520"),
])
def test_boot_sector_fields_claiming_more_than_the_file_holds(
        tmp_path: Path, offset: int, fmt: str, value: int, message: str) -> None:
    image = _image(tmp_path, {"a.bin": b"a"}, fat_type=16)
    data = bytearray(image.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    crafted = tmp_path / "bpb.img"
    crafted.write_bytes(bytes(data))
    with pytest.raises(InputError, match=message) as caught:
        FatImage.open(crafted)
    assert str(crafted) in caught.value.message


def test_a_truncated_image_names_the_total_sectors_field(tmp_path: Path) -> None:
    image = _image(tmp_path, {"a.bin": b"a" * 5000}, fat_type=32)
    cut = tmp_path / "cut.img"
    cut.write_bytes(image.read_bytes()[:-512])
    with pytest.raises(InputError, match=r"total_sectors_32 \(offset 0x20\) claims"):
        FatImage.open(cut)


def test_fat32_sizes_beyond_the_file_are_refused_before_reading(tmp_path: Path) -> None:
    image = _image(tmp_path, {"a.bin": b"a"}, fat_type=32)
    data = bytearray(image.read_bytes())
    struct.pack_into("<I", data, 0x24, 0x7FFFFFFF)  # a FAT of ~1 TiB
    struct.pack_into("<I", data, 0x20, 0xFFFFFFFF)  # in a 2 TiB file system
    crafted = tmp_path / "huge.img"
    crafted.write_bytes(bytes(data))
    with pytest.raises(InputError, match="total_sectors_32"):
        FatImage.open(crafted)


def _long_name_units(tmp_path: Path, units: bytes) -> Path:
    """An image whose one long-name entry spells the given UTF-16 code units."""
    image = _image(tmp_path, {"Ab": b"payload"})
    data = bytearray(image.read_bytes())
    with FatImage.open(image) as fs:
        root = fs.geometry.root_start * fs.geometry.sector_size
    entry = root + 32  # after the volume label
    assert data[entry + 11] == 0x0F
    padded = (units + b"\0\0").ljust(26, b"\xff")
    data[entry + 1:entry + 11] = padded[:10]
    data[entry + 14:entry + 26] = padded[10:22]
    data[entry + 28:entry + 32] = padded[22:26]
    crafted = tmp_path / "lfn.img"
    crafted.write_bytes(bytes(data))
    return crafted


def test_long_names_with_invalid_utf16_become_replacement_characters(tmp_path: Path) -> None:
    lone_high, lone_low = b"\x00\xd8", b"\x00\xdc"
    crafted = _long_name_units(tmp_path, b"a\0" + lone_high + b"b\0" + lone_low)
    with FatImage.open(crafted) as fs:
        [entry] = list(fs.walk())
        assert entry.name == "a\ufffdb\ufffd"
        extract(fs, tmp_path / "out")
    assert (tmp_path / "out" / "a\ufffdb\ufffd").read_bytes() == b"payload"


def test_long_name_entries_out_of_sequence_fall_back_to_the_short_name(tmp_path: Path) -> None:
    crafted = _long_name_units(tmp_path, "Zz".encode("utf-16-le"))
    data = bytearray(crafted.read_bytes())
    with FatImage.open(crafted) as fs:
        root = fs.geometry.root_start * fs.geometry.sector_size
    data[root + 32] = 0x43  # "last of 3" although there is only one long-name entry
    crafted.write_bytes(bytes(data))
    with FatImage.open(crafted) as fs:
        assert [e.name for e in fs.walk()] == ["AB"]


def test_nesting_deeper_than_the_limit_is_an_error(tmp_path: Path) -> None:
    spec: dict = {"leaf": b"x"}
    for _ in range(MAX_DEPTH + 1):
        spec = {"d": spec}
    image = _image(tmp_path, spec)
    with FatImage.open(image) as fs, pytest.raises(InputError,
                                                   match=f"more than {MAX_DEPTH} levels"):
        list(fs.walk())
    shallow = {"d": {"d": {"leaf": b"x"}}}
    with FatImage.open(_image(tmp_path / "ok", shallow)) as fs:
        assert [e.path for e in fs.walk()] == ["d", "d/d", "d/d/leaf"]


def test_files_sharing_clusters_cannot_make_extract_write_more_than_the_image(
        tmp_path: Path) -> None:
    """Many entries pointing at one big chain: a small image would expand to gigabytes."""
    names = {f"f{i}.bin": b"" for i in range(40)}
    image = _image(tmp_path, {"big.bin": bytes(60_000), **names}, fat_type=16)
    data = bytearray(image.read_bytes())
    with FatImage.open(image) as fs:
        big = fs.find("big.bin")
        assert big is not None
        root = fs.geometry.root_start * fs.geometry.sector_size
        length = fs.geometry.root_dir_sectors * fs.geometry.sector_size
    for i in range(40):
        at = _entry_offset(data, root, length, f"F{i}".encode().ljust(8) + b"BIN")
        _point_entry_at(data, at, big.first_cluster)
        struct.pack_into("<I", data, at + 28, 60_000)
    crafted = tmp_path / "shared.img"
    crafted.write_bytes(bytes(data))
    with FatImage.open(crafted) as fs:
        assert fs.read_file(fs.find("f7.bin")) == bytes(60_000)  # type: ignore[arg-type]
        with pytest.raises(InputError, match=r"claim 2460000 bytes, more than the"):
            extract(fs, tmp_path / "out")
    assert not (tmp_path / "out").exists()

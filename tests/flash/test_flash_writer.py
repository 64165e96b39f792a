"""write_image / verify_image on file-backed targets: every format, bmaps, progress, stop,
sizes, the read-back methods, and mismatches placed at their first bad byte."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flash_imagekit import MIB, compress_tool, make_bmap, make_image

from rpiboot.errors import InputError, Interrupted
from rpiboot.flash.bmap import parse_bmap
from rpiboot.flash.image import open_image
from rpiboot.flash.writer import VerifyMismatch, WriteResult, verify_image, write_image

SIZE = 12 * MIB + 1000  # not a multiple of any sector size: the tail is written exactly


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    path = tmp_path_factory.mktemp("writer") / "os.img"
    return path, make_image(path, SIZE, seed=11)


@pytest.fixture(scope="module")
def packed(image: tuple[Path, bytes]) -> dict[str, Path]:
    return {kind: compress_tool(image[0], kind) for kind in ("gzip", "xz", "bzip2", "zstd")}


def target_file(folder: Path, size: int = 16 * MIB, fill: int = 0xAA) -> Path:
    path = folder / "disk"
    path.write_bytes(bytes([fill]) * size)
    return path


def flash(image: Path | str, disk: Path, **kwargs: object) -> WriteResult:
    fd = os.open(disk, os.O_WRONLY)
    try:
        with open_image(image) as source:
            return write_image(source, fd, target_size=disk.stat().st_size,  # type: ignore[arg-type]
                               target_name="disk", **kwargs)
    finally:
        os.close(fd)


@pytest.mark.parametrize("kind", ["raw", "gzip", "xz", "bzip2", "zstd"])
def test_every_format_is_written_and_verified(kind: str, image: tuple[Path, bytes],
                                              packed: dict[str, Path], tmp_path: Path) -> None:
    disk = target_file(tmp_path)
    seen: list[tuple[int, int | None]] = []
    written = flash(image[0] if kind == "raw" else packed[kind], disk,
                    progress=lambda done, total: seen.append((done, total)))
    data = disk.read_bytes()
    assert data[:SIZE] == image[1] and data[SIZE:] == b"\xaa" * (16 * MIB - SIZE)
    assert written.sha256 == hashlib.sha256(image[1]).hexdigest()
    assert (written.bytes_written, written.ranges, written.image_size) == (SIZE, ((0, SIZE),), SIZE)
    assert [done for done, _ in seen] == sorted({done for done, _ in seen})
    assert seen[-1] == (SIZE, SIZE if kind == "raw" else None)
    assert bool(written.block_crcs) == (kind != "raw")  # CRCs only when not re-readable
    checked = verify_image(disk, written)
    assert (checked.bytes_read, checked.sha256) == (SIZE, written.sha256)
    assert checked.method == "O_DIRECT" and checked.rate > 0 and written.rate > 0


def test_with_a_bmap_only_mapped_ranges_are_written(image: tuple[Path, bytes],
                                                    packed: dict[str, Path],
                                                    tmp_path: Path) -> None:
    bmap = parse_bmap(make_bmap(image[0]), name="os.img.bmap")
    for source in (image[0], packed["xz"]):
        disk = target_file(tmp_path)
        written = flash(source, disk, bmap=bmap)
        data = disk.read_bytes()
        assert written.bytes_written == bmap.mapped_bytes < SIZE
        for offset, length in written.ranges:
            assert data[offset:offset + length] == image[1][offset:offset + length]
        unmapped_at = next(o + n for o, n in written.ranges)  # just after the first range
        assert data[unmapped_at:unmapped_at + 4096] == b"\xaa" * 4096
        assert verify_image(disk, written).bytes_read == bmap.mapped_bytes


def test_a_range_checksum_mismatch_stops_before_that_range(image: tuple[Path, bytes],
                                                           tmp_path: Path) -> None:
    bmap = parse_bmap(make_bmap(image[0], corrupt_range=1), name="os.img.bmap")
    disk = target_file(tmp_path)
    bad = bmap.ranges[1]
    offset, length = bmap.byte_range(bad)
    assert length <= 4 * MIB  # small enough to be checked before any of it is written
    with pytest.raises(InputError, match=f"blocks {bad.first}-{bad.last} \\(bytes {offset} "):
        flash(image[0], disk, bmap=bmap)
    data = disk.read_bytes()
    first_offset, first_length = bmap.byte_range(bmap.ranges[0])
    assert data[first_offset:first_offset + first_length] == \
        image[1][first_offset:first_offset + first_length]
    assert data[offset:offset + length] == b"\xaa" * length


def test_a_bmap_for_another_image_size(image: tuple[Path, bytes], packed: dict[str, Path],
                                       tmp_path: Path) -> None:
    other = parse_bmap(make_bmap(image[0], version="1.2", image_size=SIZE + 8192,
                                 ranges=[(0, 1)]), name="other.bmap")
    disk = target_file(tmp_path)
    with pytest.raises(InputError, match="nothing was written"):
        flash(image[0], disk, bmap=other)
    assert disk.read_bytes() == b"\xaa" * (16 * MIB)
    with pytest.raises(InputError, match=f"image of {SIZE + 8192} bytes"):
        flash(packed["gzip"], disk, bmap=other)  # a stream: found at its end


def test_an_image_bigger_than_the_disk(image: tuple[Path, bytes], packed: dict[str, Path],
                                       tmp_path: Path) -> None:
    disk = target_file(tmp_path, size=8 * MIB)
    with pytest.raises(InputError, match="nothing was written"):
        flash(image[0], disk)
    assert disk.read_bytes() == b"\xaa" * (8 * MIB)
    with pytest.raises(InputError, match="bigger than disk"):
        flash(packed["zstd"], disk)  # size unknown up front: stops at the disk's end
    assert disk.stat().st_size == 8 * MIB


def test_stop_interrupts_between_writes(image: tuple[Path, bytes], tmp_path: Path) -> None:
    disk = target_file(tmp_path)
    stop = threading.Event()
    with pytest.raises(Interrupted, match="offset 4194304"):
        flash(image[0], disk, stop=stop, progress=lambda done, total: stop.set())
    assert disk.read_bytes()[4 * MIB:8 * MIB] == b"\xaa" * (4 * MIB)


def corrupt(disk: Path, offset: int) -> None:
    with open(disk, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x01]))


@pytest.mark.parametrize("where", [0, 4 * MIB - 1, 5 * MIB + 12345, SIZE - 1])
def test_a_raw_image_mismatch_is_placed_at_its_exact_byte(where: int, image: tuple[Path, bytes],
                                                          tmp_path: Path) -> None:
    disk = target_file(tmp_path)
    written = flash(image[0], disk)
    corrupt(disk, where)
    if where + 70_000 < SIZE:
        corrupt(disk, where + 70_000)  # a later one does not hide the first
    with pytest.raises(VerifyMismatch) as caught:
        verify_image(disk, written)
    assert (caught.value.offset, caught.value.exact) == (where, True)
    assert f"at offset {where}" in str(caught.value)


def test_a_compressed_image_mismatch_is_placed_to_its_64k_block(image: tuple[Path, bytes],
                                                                packed: dict[str, Path],
                                                                tmp_path: Path) -> None:
    disk = target_file(tmp_path)
    written = flash(packed["xz"], disk)
    corrupt(disk, 7 * MIB + 70_000)
    with pytest.raises(VerifyMismatch) as caught:
        verify_image(disk, written)
    block_start = (7 * MIB + 70_000) // (64 << 10) * (64 << 10)
    assert (caught.value.offset, caught.value.exact, caught.value.block) == \
        (block_start, False, 64 << 10)


def test_a_mismatch_within_bmap_ranges(image: tuple[Path, bytes], tmp_path: Path) -> None:
    bmap = parse_bmap(make_bmap(image[0]), name="os.img.bmap")
    disk = target_file(tmp_path)
    written = flash(image[0], disk, bmap=bmap)
    offset, length = written.ranges[-1]
    corrupt(disk, offset + length // 2)
    with pytest.raises(VerifyMismatch) as caught:
        verify_image(disk, written)
    assert caught.value.offset == offset + length // 2


def test_a_digest_mismatch_without_a_bad_crc_is_still_a_mismatch(image: tuple[Path, bytes],
                                                                 packed: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    disk = target_file(tmp_path)
    written = flash(packed["gzip"], disk)
    from rpiboot.record import replace
    lying = replace(written, sha256="0" * 64)
    with pytest.raises(VerifyMismatch, match="every 64 KiB block's CRC-32 matched"):
        verify_image(disk, lying)


@pytest.fixture
def ramfs_dir(tmp_path: Path) -> Iterator[Path]:
    """A ramfs mount: a file system that refuses O_DIRECT (EINVAL).  Needs root."""
    if os.geteuid() != 0:
        pytest.skip("mounting ramfs needs root (CI runs as root)")
    folder = tmp_path / "ramfs"
    folder.mkdir()
    subprocess.run(["mount", "-t", "ramfs", "ramfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_where_o_direct_is_refused_the_cache_is_dropped_instead(image: tuple[Path, bytes],
                                                                ramfs_dir: Path) -> None:
    disk = target_file(ramfs_dir)
    with pytest.raises(OSError):  # the premise: this file system refuses O_DIRECT
        os.close(os.open(disk, os.O_RDONLY | os.O_DIRECT))
    written = flash(image[0], disk)
    checked = verify_image(disk, written)
    assert checked.method == "fadvise" and checked.sha256 == written.sha256
    corrupt(disk, 3 * MIB + 7)
    with pytest.raises(VerifyMismatch) as caught:
        verify_image(disk, written)
    assert caught.value.offset == 3 * MIB + 7


def test_without_a_digest_nothing_is_hashed_or_verifiable(image: tuple[Path, bytes],
                                                          tmp_path: Path) -> None:
    disk = target_file(tmp_path)
    written = flash(image[0], disk, digest=False)
    assert (written.sha256, written.block_crcs, written.bytes_written) == ("", b"", SIZE)
    assert disk.read_bytes()[:SIZE] == image[1]
    with pytest.raises(ValueError, match="nothing to verify"):
        verify_image(disk, written)

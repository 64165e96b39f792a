"""Damaged and crafted disks: random damage to the FAT and the directories, and any bytes in
the partition table.  The edit either succeeds and the result is right (fsck.fat finds
nothing it did not find before; mtools reads every file written) or it is refused with an
InputError and the disk is byte-for-byte unchanged — never another exception, never a hang."""

from __future__ import annotations

import atexit
import functools
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from flash_fat_helpers import MTOOLS_ENV, fsck, mkfs, mtype
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rpiboot.bootimg.partitions import find_fat_partition
from rpiboot.bootimg.reader import FatImage
from rpiboot.errors import InputError
from rpiboot.flash.fat_edit import open_fat

FILES = {"config.txt": b"config\n" * 100, "Long Name File.txt": b"L" * 2000,
         "sub/inner file.txt": b"inner\n", "sub/b.bin": bytes(range(256)) * 12,
         "sub/deeper/x.dat": b"x" * 600}
EDIT = [("config.txt", b"replaced\n" * 300), ("sub/new file.txt", b"new\n"),
        ("added/here.txt", b"added\n")]
STAMP = 1_700_000_000
TIME_LIMIT = 5.0
HOSTILE = settings(max_examples=100, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow,
                                          HealthCheck.function_scoped_fixture])
_WORK = Path(tempfile.mkdtemp(prefix="rpiboot-fat-hostile-"))  # one per run: hypothesis
atexit.register(shutil.rmtree, _WORK, ignore_errors=True)   # calls the test many times


@functools.cache
def _base(fat: int, fats: int) -> tuple[bytes, tuple[tuple[int, int], ...], int, int]:
    """(image bytes, damage areas (start, end), FAT start, FAT size) of a small filesystem."""
    size = {12: 1600, 16: 20000, 32: 40000}[fat]
    image = mkfs(_WORK / f"base{fat}-{fats}.img", fat=fat, size_kib=size, fats=fats,
                 cluster_sectors=1, files=FILES)
    with FatImage.open(image) as fs:
        g = fs.geometry
        fat_at, fat_size = g.fat_start * g.sector_size, g.fat_sectors * g.sector_size
        areas = [(11, 90), (fat_at, fat_at + min(fat_size, 2048))]  # the BPB, the FAT
        if fat != 32:
            areas.append((g.root_start * g.sector_size, g.data_start * g.sector_size))
        for entry in [None, *[e for e in fs.walk() if e.is_dir]]:
            first = 2 if entry is None else entry.first_cluster  # mkfs puts the FAT32 root at 2
            if entry is not None or fat == 32:
                at = g.cluster_offset(first)
                areas.append((at, at + g.cluster_size))
    return image.read_bytes(), tuple(areas), fat_at, fat_size


def _maybe_mtype(image: Path, path: str) -> bytes | None:
    result = subprocess.run(["mtype", "-i", str(image), f"::/{path}"], capture_output=True,
                            check=False, env=MTOOLS_ENV)
    return result.stdout if result.returncode == 0 else None


def _problems(output: str) -> set[str]:
    """fsck.fat's complaints, without the version line and the summary (and without the
    numbers of a free cluster summary that was wrong before and stays so)."""
    return {re.sub(r"\d+", "#", line) if "Free cluster summary" in line else line
            for line in output.splitlines()
            if line.strip() and not line.startswith(("fsck.fat", "Leaving", str(_WORK)))}


Damage = tuple[int, int, tuple[tuple[int, int], ...]]  # FAT type, FATs, (offset, value)...


@st.composite
def damage(draw: st.DrawFn) -> Damage:
    """Up to 6 bytes changed in the boot sector's BPB, the FAT (mirrored into FAT 2 or not)
    or a directory."""
    fat = draw(st.sampled_from([12, 16, 32]))
    fats = draw(st.sampled_from([1, 2]))
    _, areas, fat_at, fat_size = _base(fat, fats)
    mirror = fats == 2 and draw(st.booleans())
    changes = []
    for _ in range(draw(st.integers(1, 6))):
        start, end = draw(st.sampled_from(areas))
        at = draw(st.integers(start, end - 1))
        value = draw(st.integers(0, 255) | st.sampled_from([0x00, 0xE5, 0x0F, 0x10, 0xFF]))
        changes.append((at, value))
        if mirror and fat_at <= at < fat_at + fat_size:
            changes.append((at + fat_size, value))  # the same damage in both FATs
    return fat, fats, tuple(changes)


@HOSTILE
@given(damage())
# cases that found bugs: an end mark hiding entries from Linux but not from fsck.fat, a
# FAT32 with root entries, media byte 0, fewer root entries (dot entries then are not
# where they must be), a lost cluster of value 1 (the FSInfo count), a FAT32 by cluster
# count with a 16-bit FAT size, a file turned into a volume label that still owns clusters,
# a short entry turned into a long-name entry (new entries must not follow it)
@example((12, 1, ((5632, 0),)))
@example((32, 1, ((17, 33),)))
@example((12, 1, ((21, 0),)))
@example((12, 1, ((18, 1),)))
@example((32, 1, ((16464, 1),)))
@example((32, 1, ((20, 3),)))
@example((32, 1, ((23, 3),)))
@example((32, 2, ((650891, 8),)))
@example((32, 2, ((650955, 15),)))
def test_damaged_filesystems_are_edited_right_or_refused(case: Damage) -> None:
    fat, fats, changes = case
    data = bytearray(_base(fat, fats)[0])
    for at, value in changes:
        data[at] = value
    image = _WORK / "case.img"
    image.write_bytes(data)
    before_code, before_output = fsck(image)
    # mtools reads some damaged filesystems differently (a FAT32 by its FAT size fields with
    # fewer clusters than FAT32 needs, a FAT[0] that is not the media byte): it is an
    # oracle only where it reads the undamaged files
    mtools_reads = _maybe_mtype(image, "config.txt") == FILES["config.txt"]
    started = time.monotonic()
    try:
        with open_fat(image) as fs:
            fs.write_files(EDIT, timestamp=STAMP)
    except InputError as error:
        assert image.read_bytes() == data, error.message
        assert str(image) in error.message
        return
    finally:
        assert time.monotonic() - started < TIME_LIMIT
    after_code, after_output = fsck(image)
    if before_code == 0:
        assert after_code == 0, after_output
    else:
        assert _problems(after_output) <= _problems(before_output), after_output
    with FatImage.open(image) as fresh:
        for path, content in EDIT:
            assert fresh.read_file(fresh.find(path)) == content  # type: ignore[arg-type]
            if mtools_reads:
                assert mtype(image, path) == content


def test_an_undamaged_base_is_edited() -> None:
    """The property above is not vacuous: the undamaged images are edited."""
    for fat in (12, 16, 32):
        data = _base(fat, 2)[0]
        image = _WORK / "plain.img"
        image.write_bytes(data)
        with open_fat(image) as fs:
            fs.write_files(EDIT, timestamp=STAMP)
        assert fsck(image)[0] == 0 and mtype(image, "added/here.txt") == b"added\n"


@settings(max_examples=300, deadline=1000)
@given(st.binary(min_size=512, max_size=512 * 40), st.integers(0, 1 << 24))
def test_partition_tables_of_any_bytes(head: bytes, disk_size: int) -> None:
    disk = head.ljust(min(len(head), disk_size), b"\0")

    def read(offset: int, count: int) -> bytes:
        return disk[offset:offset + count] if offset < disk_size else b""

    try:
        part = find_fat_partition(read, disk_size, name="fuzz.img")
    except InputError as error:
        assert error.message.startswith("fuzz.img: ")
        return
    assert part.start >= 0 and part.start + part.size <= disk_size

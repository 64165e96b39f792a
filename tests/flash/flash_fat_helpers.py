"""Helpers for the in-place FAT editing tests: real filesystems made by mkfs.fat + mcopy,
disks with an MBR or a GPT written here byte by byte, and fsck.fat / mtools as oracles."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import uuid
import zlib
from pathlib import Path

import pytest

MiB = 1 << 20
BASIC_DATA = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
EFI_SYSTEM = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
LINUX_DATA = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
MTOOLS_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "TZ": "UTC"}


def need_tools(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pytest.fail(f"needs {', '.join(missing)} (apt install dosfstools mtools)")


def mkfs(path: Path, *, fat: int, size_kib: int, sector_size: int = 512, fats: int = 2,
         cluster_sectors: int | None = None, root_entries: int | None = None,
         files: dict[str, bytes] | None = None) -> Path:
    """A filesystem image made by mkfs.fat, with ``files`` ('/'-separated paths) copied in
    by mcopy (folders made with mmd)."""
    need_tools("mkfs.fat", "mcopy", "mmd")
    args = ["mkfs.fat", "-C", "-F", str(fat), "-S", str(sector_size), "-f", str(fats),
            "-n", "BOOT", "-i", "1234ABCD"]
    if cluster_sectors:
        args += ["-s", str(cluster_sectors)]
    if root_entries:
        args += ["-r", str(root_entries)]
    made_fs = subprocess.run([*args, str(path), str(size_kib)], capture_output=True, text=True,
                             check=False)
    assert made_fs.returncode == 0, made_fs.stdout + made_fs.stderr
    stage = path.parent / (path.name + ".stage")
    made: set[str] = set()
    for name, data in (files or {}).items():
        parts = name.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder not in made:
                subprocess.run(["mmd", "-i", str(path), f"::/{folder}"], check=True,
                               capture_output=True, env=MTOOLS_ENV)
                made.add(folder)
        stage.write_bytes(data)
        subprocess.run(["mcopy", "-i", str(path), str(stage), f"::/{name}"], check=True,
                       capture_output=True, env=MTOOLS_ENV)
    stage.unlink(missing_ok=True)
    return path


def _chs() -> bytes:
    return b"\xfe\xff\xff"  # "use the LBA fields"


def mbr_disk(path: Path, fs: bytes, *, kind: int = 0x0C, start_lba: int = 2048,
             extra: list[tuple[int, int, int]] | None = None, tail: int = MiB,
             first_slot: int = 0) -> tuple[int, int]:
    """A disk with an MBR: ``fs`` in a partition of type ``kind`` at ``start_lba`` (table
    slot ``first_slot``), ``extra`` (type, start LBA, sectors) entries after it, ``tail``
    bytes of a second (Linux, zero-filled) area after the filesystem.  (offset, size)."""
    sectors = -(-len(fs) // 512)
    total = start_lba * 512 + sectors * 512 + tail
    mbr = bytearray(512)
    mbr[:4] = b"\xfa\xb8\x00\x10"  # not a jump: this is no FAT boot sector
    struct.pack_into("<I", mbr, 440, 0x5A5A1234)
    entries = [(kind, start_lba, sectors), *(extra or [])]
    slots = [first_slot] + [s for s in range(4) if s != first_slot]
    for slot, (entry_kind, lba, count) in zip(slots, entries, strict=False):
        struct.pack_into("<B3sB3sII", mbr, 446 + 16 * slot, 0x80 if slot == first_slot else 0,
                         _chs(), entry_kind, _chs(), lba, count)
    mbr[510:512] = b"\x55\xaa"
    with open(path, "wb") as out:
        out.write(mbr)
        out.seek(start_lba * 512)
        out.write(fs)
        out.truncate(total)
    return start_lba * 512, sectors * 512


def _guid(text: str) -> bytes:
    return uuid.UUID(text).bytes_le


def gpt_disk(path: Path, fs: bytes, *, kind: str = BASIC_DATA, start_lba: int = 2048,
             lba: int = 512, number: int = 1, before: list[str] | None = None
             ) -> tuple[int, int]:
    """A disk with a protective MBR and a GPT (primary and backup, CRCs right): ``fs`` in
    partition ``number`` of type ``kind``; ``before``: types of (empty, 1 MiB) partitions
    listed in the slots before it.  (offset, size)."""
    sectors = -(-len(fs) // lba)
    reserve = 1 + 32 * 512 // lba + 1
    total_lbas = start_lba + sectors + 8 * MiB // lba + reserve
    entries = bytearray(128 * 128)
    slots = [(t, start_lba + sectors + 16 + i * (MiB // lba), MiB // lba)
             for i, t in enumerate(before or [])]
    slots.insert(number - 1, (kind, start_lba, sectors))
    for index, (type_guid, first, count) in enumerate(slots):
        struct.pack_into("<16s16sQQQ72s", entries, index * 128, _guid(type_guid),
                         uuid.uuid4().bytes_le, first, first + count - 1, 0,
                         f"part{index + 1}".encode("utf-16-le"))
    entries_crc = zlib.crc32(entries)
    last = total_lbas - 1

    def header(mine: int, other: int, table: int) -> bytes:
        raw = bytearray(struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x10000, 92, 0, 0,
                                    mine, other, 34, last - 33, uuid.uuid4().bytes_le, table,
                                    128, 128, entries_crc))
        struct.pack_into("<I", raw, 16, zlib.crc32(raw))
        return bytes(raw).ljust(lba, b"\0")

    mbr = bytearray(lba)
    struct.pack_into("<B3sB3sII", mbr, 446, 0, b"\x00\x02\x00", 0xEE, _chs(), 1,
                     min(total_lbas - 1, 0xFFFFFFFF))
    mbr[510:512] = b"\x55\xaa"
    with open(path, "wb") as out:
        out.write(mbr)
        out.write(header(1, last, 2))
        out.write(entries)
        out.seek(start_lba * lba)
        out.write(fs)
        out.seek((last - 32 * 512 // lba) * lba)
        out.write(entries)
        out.seek(last * lba)
        out.write(header(last, 1, last - 32 * 512 // lba))
    return start_lba * lba, sectors * lba


def partition_bytes(disk: Path, offset: int, size: int) -> bytes:
    with open(disk, "rb") as handle:
        handle.seek(offset)
        return handle.read(size)


def fsck(image: Path, offset: int = 0, size: int | None = None) -> tuple[int, str]:
    """fsck.fat -n of the filesystem at ``offset`` (copied out when it is inside a disk)."""
    need_tools("fsck.fat")
    target = image
    if offset or size is not None:
        target = image.parent / (image.name + ".part")
        target.write_bytes(partition_bytes(image, offset, size or image.stat().st_size))
    result = subprocess.run(["fsck.fat", "-n", str(target)], capture_output=True, text=True,
                            check=False)
    return result.returncode, result.stdout + result.stderr


def fsck_clean(image: Path, offset: int = 0, size: int | None = None) -> None:
    code, output = fsck(image, offset, size)
    assert code == 0, output
    assert "differ" not in output and "Free cluster summary" not in output, output


def _target(image: Path, offset: int) -> str:
    return f"{image}@@{offset}" if offset else str(image)


def mtype(image: Path, path: str, offset: int = 0) -> bytes:
    need_tools("mtype")
    result = subprocess.run(["mtype", "-i", _target(image, offset), f"::/{path}"],
                            capture_output=True, check=False, env=MTOOLS_ENV)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def mdir_names(image: Path, folder: str = "", offset: int = 0) -> dict[str, str]:
    """{long name (or short name): 8.3 short name 'BASE.EXT'} of one folder, as mdir lists."""
    need_tools("mdir")
    result = subprocess.run(["mdir", "-a", "-i", _target(image, offset), f"::/{folder}"],
                            capture_output=True, text=True, check=False, env=MTOOLS_ENV)
    assert result.returncode == 0, result.stderr
    names: dict[str, str] = {}
    for line in result.stdout.splitlines():
        if len(line) < 40 or line.startswith((" ", "Directory")) or line[:1] == ".":
            continue
        base, ext = line[:8].rstrip(), line[9:12].rstrip()
        short = f"{base}.{ext}" if ext else base
        tail = line[42:].strip() if len(line) > 42 else ""
        names[tail or short] = short
    return names

"""Where a disk's FAT filesystem is: an MBR or GPT partition table, or none at all.

A disk's first sectors are untrusted input like the rest of it: every table entry is checked
against the disk's real size, a GPT's header and entry array must match their CRC32s, and
the entry array is bounded (:data:`MAX_GPT_ENTRY_BYTES`).  Problems are InputErrors naming
the disk and the table entry.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Callable

from rpiboot.bootimg.reader import looks_like_bpb
from rpiboot.errors import InputError
from rpiboot.record import record

__all__ = ["GPT_FAT_TYPES", "MBR_FAT_TYPES", "Partition", "find_fat_partition",
           "read_partitions"]

MBR_FAT_TYPES = {0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E}
MBR_EXTENDED = {0x05, 0x0F, 0x85}
MBR_GPT_PROTECTIVE = 0xEE
GPT_BASIC_DATA = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
GPT_EFI_SYSTEM = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
GPT_FAT_TYPES = {GPT_BASIC_DATA: "Microsoft basic data", GPT_EFI_SYSTEM: "EFI system"}
MAX_GPT_ENTRY_BYTES = 1 << 20  # 128 entries of 128 bytes is 16 KiB; anything near 1 MiB lies
_GPT_HEADER = struct.Struct("<8sIIIIQQQQ16sQIII")
TABLE_HINT = "The partition table is damaged or does not match the disk; check it with " \
             "`fdisk -l DISK`, or write the image again."

# read(offset, count) -> up to count bytes (fewer only at the end of the disk)
Reader = Callable[[int, int], bytes]


@record
class Partition:
    """One partition (or the whole disk when it has no partition table)."""

    number: int  # 1-based, as the table numbers it; 0 = the whole disk
    scheme: str  # "mbr" | "gpt" | "none"
    kind: str  # MBR type "0x0c", a GPT type GUID, or "" for the whole disk
    start: int  # byte offset on the disk
    size: int  # bytes
    fat_typed: bool  # the table's type says FAT (MBR FAT types, GPT basic data / EFI system)

    @property
    def description(self) -> str:
        if self.scheme == "none":
            return "the whole disk (no partition table)"
        label = GPT_FAT_TYPES.get(self.kind, self.kind)
        return f"{self.scheme.upper()} partition {self.number} (type {label})"


def _mbr_entries(sector: bytes) -> list[tuple[int, int, int, int]]:
    """(number, type, first LBA, sector count) of the four primary MBR entries."""
    return [(index + 1, *struct.unpack_from("<4xB3xII", sector, 446 + 16 * index))
            for index in range(4)]


def _check_extent(part: Partition, disk_size: int, name: str) -> Partition:
    if part.size <= 0 or part.start <= 0 or part.start + part.size > disk_size:
        raise InputError(
            f"{name}: {part.description} claims bytes {part.start}..{part.start + part.size} "
            f"but the disk holds {disk_size} bytes", hint=TABLE_HINT)
    return part


def _mbr_partitions(sector: bytes, disk_size: int, lba: int) -> list[Partition]:
    found = []
    for number, kind, first, count in _mbr_entries(sector):
        if kind == 0 or kind in MBR_EXTENDED or count == 0:
            continue
        found.append(Partition(number=number, scheme="mbr", kind=f"0x{kind:02x}",
                               start=first * lba, size=count * lba,
                               fat_typed=kind in MBR_FAT_TYPES))
    return found


def _gpt_header(read: Reader, name: str, sizes: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """(logical sector size, header fields) of the primary GPT header, checked."""
    for lba in sizes:
        raw = read(lba, lba)
        if len(raw) < _GPT_HEADER.size or raw[:8] != b"EFI PART":
            continue
        fields = _GPT_HEADER.unpack_from(raw)
        header_size, crc = fields[2], fields[3]
        if not _GPT_HEADER.size <= header_size <= lba:
            raise InputError(f"{name}: GPT header at byte {lba}: header size {header_size} "
                             f"is not between {_GPT_HEADER.size} and {lba}", hint=TABLE_HINT)
        body = bytearray(raw[:header_size])
        body[16:20] = bytes(4)
        if zlib.crc32(body) != crc:
            raise InputError(f"{name}: GPT header at byte {lba}: CRC32 mismatch (the header "
                             "is damaged)", hint=TABLE_HINT)
        return lba, fields
    raise InputError(f"{name}: the MBR says the disk has a GPT (type 0xee), but there is no "
                     "GPT header ('EFI PART') at LBA 1", hint=TABLE_HINT)


def _gpt_partitions(read: Reader, disk_size: int, name: str, sizes: tuple[int, ...]
                    ) -> list[Partition]:
    lba, fields = _gpt_header(read, name, sizes)
    entries_lba, count, entry_size, entries_crc = fields[10:14]
    total = count * entry_size
    where = f"{name}: GPT entry array (LBA {entries_lba}, {count} entries of {entry_size} bytes)"
    if entry_size < 128 or entry_size % 8 or total > MAX_GPT_ENTRY_BYTES:
        raise InputError(f"{where}: entry size must be a multiple of 8 from 128, and the array "
                         f"at most {MAX_GPT_ENTRY_BYTES} bytes", hint=TABLE_HINT)
    if entries_lba < 2 or entries_lba * lba + total > disk_size:
        raise InputError(f"{where} lies outside the disk ({disk_size} bytes)", hint=TABLE_HINT)
    array = read(entries_lba * lba, total)
    if len(array) != total or zlib.crc32(array) != entries_crc:
        raise InputError(f"{where}: CRC32 mismatch (the entries are damaged)", hint=TABLE_HINT)
    found = []
    for index in range(count):
        entry = array[index * entry_size:index * entry_size + 128]
        if entry[:16] == bytes(16):
            continue
        kind = str(uuid.UUID(bytes_le=entry[:16])).upper()
        first, last = struct.unpack_from("<QQ", entry, 32)
        if last < first:
            raise InputError(f"{name}: GPT partition {index + 1}: last LBA {last} is before "
                             f"its first LBA {first}", hint=TABLE_HINT)
        found.append(Partition(number=index + 1, scheme="gpt", kind=kind, start=first * lba,
                               size=(last - first + 1) * lba, fat_typed=kind in GPT_FAT_TYPES))
    return found


def read_partitions(read: Reader, disk_size: int, *, name: str,
                    sector_size: int | None = None) -> list[Partition]:
    """The partitions of a disk ([] when the first sector is no partition table).

    ``sector_size``: the disk's logical sector size (the unit of LBAs); None = 512 for an
    MBR, and 512 or 4096 for a GPT (wherever its header is found)."""
    first = read(0, 512)
    if len(first) < 512 or first[510:512] != b"\x55\xaa":
        return []
    entries = _mbr_entries(first)
    if any(kind == MBR_GPT_PROTECTIVE for _, kind, _, _ in entries):
        sizes = (sector_size,) if sector_size else (512, 4096)
        return _gpt_partitions(read, disk_size, name, sizes)
    return _mbr_partitions(first, disk_size, sector_size or 512)


def find_fat_partition(read: Reader, disk_size: int, *, name: str,
                       partition: int | None = None, sector_size: int | None = None
                       ) -> Partition:
    """The partition holding the FAT filesystem to edit: number ``partition`` of the table,
    or the first partition whose type says FAT and whose first sector is a FAT boot sector;
    a disk whose first sector is itself a FAT boot sector (no table) is the whole disk."""
    first = read(0, 512)
    if partition is None and len(first) == 512 and looks_like_bpb(first) \
            and first[510:512] == b"\x55\xaa":
        return Partition(number=0, scheme="none", kind="", start=0, size=disk_size,
                         fat_typed=True)
    parts = read_partitions(read, disk_size, name=name, sector_size=sector_size)
    if partition is not None:
        chosen = [part for part in parts if part.number == partition]
        if not chosen:
            have = ", ".join(part.description for part in parts) or "none"
            raise InputError(f"{name}: there is no partition {partition} (partitions: {have})",
                             hint="give the number fdisk -l shows, or leave it out to use "
                             "the first FAT partition")
        return _check_extent(chosen[0], disk_size, name)
    skipped = []
    for part in parts:
        if not part.fat_typed:
            continue
        _check_extent(part, disk_size, name)
        if looks_like_bpb(read(part.start, 512)):
            return part
        skipped.append(f"{part.description} has no FAT boot sector")
    listing = "; ".join(skipped) or (", ".join(p.description for p in parts) if parts
                                     else "no partition table and no FAT boot sector")
    raise InputError(f"{name}: no FAT partition found ({listing})",
                     hint="is the OS image written? A Raspberry Pi OS image starts with a FAT32 "
                     "boot partition")

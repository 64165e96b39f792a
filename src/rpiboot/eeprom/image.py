"""SPI EEPROM bootloader images (``pieeprom*.bin``): the section chain and its edits.

An image is 512 KiB (BCM2711) or 2 MiB (BCM2712).  From offset 0 it holds a chain of sections
``[magic u32 BE][length u32 BE][payload]``, each starting on an 8-byte boundary, ended by an
erased (0xFFFFFFFF) or zero magic.  File sections (0x55AAF11F) carry a 12-byte name, 4 reserved
bytes and the data.  Edits replace one file in place, keep every other byte, and re-pad the gap
up to the next non-padding section exactly as the reference tool does — but refuse data that
does not fit (the reference checks ``n + 20`` although a file section needs ``n + 24``).
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from rpiboot.chips import eeprom_chips, eeprom_sizes, size_text
from rpiboot.errors import InputError

IMAGE_SIZES = eeprom_sizes()
MAGIC_MASK = 0xFFFFF00F
MAGIC_BOOTCODE = 0x55AAF00F
MAGIC_FILE = 0x55AAF11F
MAGIC_PAD = 0x55AAFEEF
MAGIC_BLOBS = (0x55AAF22F, 0x55AAF33F, 0x55AAF44F)
END_MAGICS = (0x00000000, 0xFFFFFFFF)
HEADER_SIZE = 8
FILE_HEADER_SIZE = 24  # section header + 12-byte name + 4 reserved bytes
NAME_SIZE = 12
RESERVED_TAIL = 4096  # the last sector belongs to the bootloader
MAX_FILE_SIZE = 4096 - 20
BOOTCODE_RESERVED = 128 * 1024
READ_ONLY_END = 0x10000
PARTITION_A_END = 0x107000
BOOTCODE_BIN = "bootcode.bin"
BOOTSYS = "bootsys"
UPDATETIME = "updatetime"
UNLIMITED_NAMES = (BOOTCODE_BIN, BOOTSYS)
_BUILD_TIMESTAMP = re.compile(rb"BUILD_TIMESTAMP=(\d+)")
MAX_TIMESTAMP = 0xFFFFFFFF  # timestamps in the image are 32-bit Unix times (until 2106)


def align8(value: int) -> int:
    return (value + 7) & ~7


@dataclass(frozen=True)
class Section:
    """One section of the chain: where it is, its magic and payload length, its name."""

    offset: int
    magic: int
    length: int
    name: str | None = None  # file sections (and named firmware blobs)

    @property
    def end(self) -> int:
        return self.offset + HEADER_SIZE + self.length

    @property
    def kind(self) -> str:
        if self.magic == MAGIC_BOOTCODE:
            return "bootcode"
        if self.magic == MAGIC_FILE:
            return "file"
        if self.magic == MAGIC_PAD:
            return "padding"
        if self.magic in MAGIC_BLOBS:
            return "firmware"
        return "unknown"

    @property
    def data_offset(self) -> int:
        return self.offset + (FILE_HEADER_SIZE if self.magic == MAGIC_FILE else HEADER_SIZE)


def _blob_name(data: bytes | bytearray, offset: int, length: int) -> str | None:
    raw = bytes(data[offset + HEADER_SIZE:offset + HEADER_SIZE + min(length, 16)])
    name = raw.split(b"\0", 1)[0]
    if name and all(32 < byte < 127 for byte in name):
        return name.decode("ascii")
    return None


def parse_sections(data: bytes | bytearray, *, source: str = "image") -> list[Section]:
    """Walk the section chain; raises InputError on a corrupted chain."""
    sections: list[Section] = []
    offset, size = 0, len(data)
    while offset + HEADER_SIZE <= size:
        magic, length = struct.unpack_from(">II", data, offset)
        if magic in END_MAGICS:
            break
        if magic & MAGIC_MASK != MAGIC_BOOTCODE:
            raise InputError(
                f"{source}: EEPROM is corrupted at offset {offset:#x}: section magic "
                f"{magic:08x} is not of the form 55aaf??f",
                hint="The image is damaged or not a Raspberry Pi bootloader EEPROM image.")
        if offset + HEADER_SIZE + length > size:
            raise InputError(f"{source}: EEPROM is corrupted: section at {offset:#x} "
                             f"(length {length}) runs past the end of the image")
        name = None
        if magic == MAGIC_FILE:
            if length < FILE_HEADER_SIZE - HEADER_SIZE:
                raise InputError(f"{source}: EEPROM is corrupted: file section at {offset:#x} "
                                 f"is only {length} bytes long")
            raw = bytes(data[offset + HEADER_SIZE:offset + HEADER_SIZE + NAME_SIZE])
            name = raw.replace(b"\0", b"").decode("utf-8", errors="replace")
        elif magic in MAGIC_BLOBS:
            name = _blob_name(data, offset, length)
        sections.append(Section(offset, magic, length, name))
        offset = align8(offset + HEADER_SIZE + length)
    return sections


def _sizes_by_series() -> str:
    """"512 KiB for Pi 4, 2 MiB for Pi 5" (from the chip table)."""
    return ", ".join(f"{size_text(chip.eeprom_size or 0)} for {chip.series}"
                     for chip in eeprom_chips())


class EepromImage:
    """A mutable bootloader EEPROM image."""

    def __init__(self, data: bytes | bytearray, *, source: str = "image") -> None:
        self._check_size(len(data), source)
        self.source = source
        self.data = bytearray(data)
        self.sections = parse_sections(self.data, source=source)
        if not self.sections or self.sections[0].magic != MAGIC_BOOTCODE:
            raise InputError(f"{source}: EEPROM is corrupted: no bootcode section at offset 0")

    @classmethod
    def load(cls, path: Path) -> EepromImage:
        """Read an image file; never reads more than the largest image size (+1 byte)."""
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size > max(IMAGE_SIZES):  # a regular file too large: do not read it
                    cls._check_size(size, str(path))
                data = handle.read(max(IMAGE_SIZES) + 1)
        except FileNotFoundError:
            raise InputError(f"Failed to read '{path}': no such file",
                             hint="Check the path of the EEPROM image.") from None
        except OSError as err:
            raise InputError(f"Failed to read '{path}': {err.strerror or err}") from None
        return cls(data, source=str(path))

    @staticmethod
    def _check_size(size: int, source: str) -> None:
        if size not in IMAGE_SIZES:
            sizes = ", ".join(str(size) for size in IMAGE_SIZES)
            raise InputError(
                f"{source}: Expected sizes [{sizes}] bytes, got actual size {size} bytes",
                hint=f"Pass a pieeprom*.bin image ({_sizes_by_series()}).")

    def to_bytes(self) -> bytes:
        return bytes(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def is_ab(self) -> bool:
        """A/B (partitioned, BCM2712 2026+) layout: a ``bootsys`` file section exists."""
        return any(s.magic == MAGIC_FILE and s.name == BOOTSYS for s in self.sections)

    def file_sections(self) -> list[Section]:
        return [s for s in self.sections if s.magic == MAGIC_FILE]

    def find_file(self, name: str, *, lo: int = 0, hi: int | None = None) -> Section | None:
        """First file section called ``name`` whose offset is in ``[lo, hi)``."""
        for section in self.file_sections():
            if section.name == name and lo <= section.offset and (hi is None or
                                                                  section.offset < hi):
                return section
        return None

    def section_data(self, section: Section) -> bytes:
        if section.magic == MAGIC_FILE:
            return bytes(self.data[section.offset + FILE_HEADER_SIZE:section.end])
        return bytes(self.data[section.offset + HEADER_SIZE:section.end])

    def read_file(self, name: str) -> bytes | None:
        """Data of the first file section called ``name`` (``bootcode.bin``: section 0)."""
        if name == BOOTCODE_BIN:
            return self.section_data(self.sections[0])
        section = self.find_file(name)
        return None if section is None else self.section_data(section)

    def extractable_files(self) -> dict[str, bytes]:
        """``bootcode.bin`` plus every file section by name (duplicates: the first wins)."""
        files = {BOOTCODE_BIN: self.section_data(self.sections[0])}
        for section in self.file_sections():
            if section.name and section.name not in files:
                files[section.name] = self.section_data(section)
        return files

    def build_timestamp(self) -> int | None:
        """The ``BUILD_TIMESTAMP=<seconds>`` embedded in the firmware code, if any.

        Raises InputError (naming the offset) when the digits are not a 32-bit Unix time.
        """
        match = _BUILD_TIMESTAMP.search(self.data)
        if match is None:
            return None
        digits = match.group(1)
        if len(digits) > len(str(MAX_TIMESTAMP)) or int(digits) > MAX_TIMESTAMP:
            shown = digits[:20].decode("ascii") + ("..." if len(digits) > 20 else "")
            raise InputError(
                f"{self.source}: BUILD_TIMESTAMP at offset {match.start(1):#x} is out of range:"
                f" {shown} ({len(digits)} digits; a build time is a Unix time up to "
                f"{MAX_TIMESTAMP})",
                hint="The image is damaged or was edited; use an image from rpi-eeprom.")
        return int(digits)

    # -- editing ---------------------------------------------------------------------------

    def _limit_after(self, index: int, default: int) -> int:
        for section in self.sections[index + 1:]:
            if section.magic != MAGIC_PAD:
                return section.offset
        return default

    def replace_file(self, name: str, data: bytes) -> None:
        """Replace the data of file ``name`` (or ``bootcode.bin``) in place."""
        if name == BOOTCODE_BIN:
            self._replace_bootcode(data)
            return
        if name not in UNLIMITED_NAMES and len(data) > MAX_FILE_SIZE:
            raise InputError(f"{name}: new data is too large ({len(data)} bytes). The maximum "
                             f"size is {MAX_FILE_SIZE} bytes.")
        target = self.find_file(name, lo=READ_ONLY_END, hi=PARTITION_A_END)
        if target is None:
            raise InputError(f"{self.source}: Update target {name} not found",
                             hint="The image has no section for this file; use an image "
                             "that has one (rpiboot eeprom info IMAGE lists them).")
        index = self.sections.index(target)
        limit = self._limit_after(index, min(self.size - RESERVED_TAIL, PARTITION_A_END))
        needed = FILE_HEADER_SIZE + len(data)
        if target.offset + needed > limit:
            raise InputError(
                f"{self.source}: {name} ({len(data)} bytes) does not fit: the section at "
                f"{target.offset:#x} has room for {limit - target.offset - FILE_HEADER_SIZE} "
                "bytes before the next section",
                hint="Make the file smaller (the reference tool would silently corrupt the "
                "next section here).")
        is_last = index == len(self.sections) - 1
        struct.pack_into(">I", self.data, target.offset + 4, len(data) + 16)
        self._write_and_pad(target.offset + FILE_HEADER_SIZE, data, limit, is_last)

    def _replace_bootcode(self, data: bytes) -> None:
        limit = self._limit_after(0, min(self.size - RESERVED_TAIL, PARTITION_A_END))
        if not self.is_ab and limit < BOOTCODE_RESERVED:
            raise InputError(
                f"{self.source}: Can't update bootcode - 128K must be reserved for bootcode "
                f"(the next section starts at {limit:#x})",
                hint="Only images with a reserved bootcode area (Pi 5 A/B images) can have "
                "their bootcode replaced.")
        if HEADER_SIZE + len(data) > limit:
            raise InputError(
                f"{self.source}: bootcode.bin ({len(data)} bytes) does not fit: room for "
                f"{limit - HEADER_SIZE} bytes before the next section at {limit:#x}",
                hint="Countersign the Raspberry Pi-signed bootcode only once (one 532-byte "
                "block fits).")
        struct.pack_into(">I", self.data, 4, len(data))
        self._write_and_pad(HEADER_SIZE, data, limit, is_last=False)

    def _write_and_pad(self, start: int, data: bytes, limit: int, is_last: bool) -> None:
        end = start + len(data)
        self.data[start:end] = data
        aligned = align8(end)
        self.data[end:aligned] = b"\xff" * (aligned - end)
        gap = limit - aligned
        if gap >= HEADER_SIZE and not is_last:
            struct.pack_into(">II", self.data, aligned, MAGIC_PAD, gap - HEADER_SIZE)
            self.data[aligned + HEADER_SIZE:limit] = b"\xff" * (gap - HEADER_SIZE)
        elif gap > 0:
            self.data[aligned:limit] = b"\xff" * gap
        self.sections = parse_sections(self.data, source=self.source)

    def set_update_timestamp(self, timestamp: int) -> None:
        """Store ``~ts, ts`` (u32 LE): in the ``updatetime`` files of A/B images, else in the
        last 8 bytes of the image."""
        if not 0 <= timestamp <= 0xFFFFFFFF:
            raise InputError(f"timestamp {timestamp} does not fit in 32 bits")
        value = struct.pack("<II", ~timestamp & 0xFFFFFFFF, timestamp)
        read_only = self.find_file(UPDATETIME, lo=0, hi=READ_ONLY_END)
        if read_only is None:
            self.data[self.size - 8:] = value
            return
        partition = self.find_file(UPDATETIME, lo=READ_ONLY_END, hi=PARTITION_A_END)
        if partition is None:
            raise InputError(f"{self.source}: Failed to find update time file in partition")
        for section in (read_only, partition):
            if section.length != 16 + len(value):
                raise InputError(f"{self.source}: updatetime section at {section.offset:#x} "
                                 f"has unexpected length {section.length}")
            start = section.offset + FILE_HEADER_SIZE
            self.data[start:start + len(value)] = value

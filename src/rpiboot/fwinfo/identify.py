"""What kind of file a blob is: by its bytes first, then by its name.

Text files are told by name (config.txt, boot.conf, cmdline.txt, *.sig, *.pem), because their
content is free-form.  Binary formats are told by their bytes wherever the format has a magic
or a checkable structure (tar header, EEPROM section chain, FAT boot sector, ELF header,
signature blocks, the bootloader's version strings, the device tree magic), so a renamed file
is still recognised.  What remains is told by name (fixup*.dat, memsys*.bin ...), or is
unknown.
"""

from __future__ import annotations

import re

from rpiboot.fwinfo import model
from rpiboot.fwinfo.blob import Blob
from rpiboot.fwinfo.builds import looks_like_bootloader, videocore_fields
from rpiboot.fwinfo.stages import LEGACY_MARKER, is_blob_name, is_second_stage_name
from rpiboot.fwinfo.videocore import DTB_MAGIC, EM_VIDEOCORE3, elf_machine

EEPROM_NAME = re.compile(r"pieeprom[\w.-]*\.(bin|upd)", re.I)
FIXUP_NAME = re.compile(r"fixup\w*\.dat", re.I)
TEXT_KINDS = {"config.txt": model.CONFIG_TXT, "boot.conf": model.BOOTLOADER_CONFIG,
              "bootconf.txt": model.BOOTLOADER_CONFIG, "cmdline.txt": model.CMDLINE}


def identify(blob: Blob) -> str:
    """The kind of ``blob`` (one of :data:`rpiboot.fwinfo.model.KINDS`, never DIRECTORY)."""
    lower, head = blob.lower, blob.head
    if lower in TEXT_KINDS:
        return TEXT_KINDS[lower]
    if lower.endswith(".sig"):
        return model.SIGNATURE_FILE
    if lower.endswith(".pem") or head.startswith(b"-----BEGIN") or (
            lower == "pubkey.bin" and blob.size == 264):
        return model.KEY
    if (len(head) >= 262 and head[257:262] == b"ustar") or lower == "bootfiles.bin":
        return model.BOOTFILES_ARCHIVE
    if is_eeprom(blob):
        return model.EEPROM_IMAGE
    if is_fat(blob):
        return model.BOOT_IMAGE
    machine = elf_machine(head)
    if machine is not None:
        return _elf_kind(head, machine)
    return _binary_kind(blob)


def is_eeprom(blob: Blob) -> bool:
    """An EEPROM image: of a chip's EEPROM size starting with the bootcode section magic, or
    named like one (then a wrong size or chain is reported, not ignored)."""
    from rpiboot.eeprom.image import IMAGE_SIZES, MAGIC_BOOTCODE

    if EEPROM_NAME.fullmatch(blob.name):
        return True
    return blob.size in IMAGE_SIZES and blob.head[:4] == MAGIC_BOOTCODE.to_bytes(4, "big")


def is_fat(blob: Blob) -> bool:
    """A FAT file system (a valid boot sector), a disk image ``*.img`` with a FAT partition,
    or a file named boot.img (then a damaged one is reported, not ignored)."""
    from rpiboot.bootimg.reader import find_partition
    from rpiboot.errors import InputError

    if blob.lower == "boot.img":
        return True
    sector = blob.head[:512]
    if len(sector) < 512 or sector[510:512] != b"\x55\xaa":
        return False
    try:
        offset = find_partition(sector, None)
    except InputError:
        return False
    return offset == 0 or blob.lower.endswith(".img")


def _elf_kind(head: bytes, machine: int) -> str:
    if machine == EM_VIDEOCORE3:
        if "VERSION" in videocore_fields(head):
            return model.VIDEOCORE_FIRMWARE
        if looks_like_bootloader(head):
            return model.BOOTLOADER_STAGE
    return model.ELF


def _binary_kind(blob: Blob) -> str:
    from rpiboot.signing.bootcode import MAX_SIGNED_SIZE, parse_2712_blocks

    head = blob.head
    if is_second_stage_name(blob.name) or looks_like_bootloader(head) or LEGACY_MARKER in head:
        return model.SECOND_STAGE
    if blob.size <= MAX_SIGNED_SIZE and parse_2712_blocks(head):
        return model.SECOND_STAGE  # a renamed BCM2712 second stage
    if head[:4] == DTB_MAGIC:
        return model.DEVICE_TREE
    if FIXUP_NAME.fullmatch(blob.name):
        return model.FIXUP
    if is_blob_name(blob.name):
        return model.BOOTLOADER_BLOB
    return model.UNKNOWN

"""Pure pack/parse of the RPIBOOT wire messages (spec sections 2-4). No I/O here."""

from __future__ import annotations

import struct
from enum import IntEnum

from rpiboot.errors import BootError
from rpiboot.record import record

BOOT_MESSAGE_SIZE = 24
SIGNATURE_SIZE = 20
FILE_MESSAGE_SIZE = 260
FILE_NAME_SIZE = 256
STATUS_SIZE = 4
MAX_TRANSFER_LENGTH = 0xFFFF_FFFF

_BOOT_MESSAGE = struct.Struct("<I20s")
_FILE_MESSAGE = struct.Struct("<i256s")
_STATUS = struct.Struct("<i")


class Command(IntEnum):
    """File-server commands the second stage sends."""

    GET_FILE_SIZE = 0
    READ_FILE = 1
    DONE = 2


def pack_boot_message(length: int, signature: bytes = b"") -> bytes:
    """The 24-byte ROM boot message: u32 LE second-stage length + 20-byte signature field."""
    if len(signature) not in (0, SIGNATURE_SIZE):
        raise ValueError(f"signature must be {SIGNATURE_SIZE} bytes, got {len(signature)}")
    if not 0 <= length <= MAX_TRANSFER_LENGTH:
        raise ValueError(f"second-stage length {length} does not fit in 32 bits")
    return _BOOT_MESSAGE.pack(length, signature.ljust(SIGNATURE_SIZE, b"\0"))


def parse_boot_message(data: bytes) -> tuple[int, bytes]:
    """(length, signature) of a boot message (BootError if it is not 24 bytes)."""
    if len(data) != BOOT_MESSAGE_SIZE:
        raise BootError(f"boot message must be {BOOT_MESSAGE_SIZE} bytes, got {len(data)}",
                        hint="The host sent a truncated boot message; retry the boot.")
    length, signature = _BOOT_MESSAGE.unpack(data)
    return length, signature


def parse_status(data: bytes) -> int:
    """The ROM's int32 status (0 = accepted)."""
    if len(data) != STATUS_SIZE:
        raise BootError(f"boot ROM status must be {STATUS_SIZE} bytes, got {len(data)}",
                        hint="The board answered with garbage; reset it and try again.")
    status: int = _STATUS.unpack(data)[0]
    return status


def pack_status(status: int) -> bytes:
    return _STATUS.pack(status)


@record
class FileMessage:
    """One file-server request: a command and the raw name bytes (before the first NUL)."""

    command: int
    name: bytes

    @property
    def is_metadata(self) -> bool:
        return self.command != Command.DONE and self.name.startswith(b"*")

    def name_text(self) -> str:
        """The name for display and lookup (undecodable bytes kept as escapes)."""
        return self.name.decode("utf-8", "backslashreplace")


def pack_file_message(command: int, name: bytes) -> bytes:
    """A 260-byte file-server message (what the device sends; used by tests and the simulator)."""
    if len(name) >= FILE_NAME_SIZE:
        raise ValueError(f"file name must be shorter than {FILE_NAME_SIZE} bytes")
    return _FILE_MESSAGE.pack(command, name)


def parse_file_message(data: bytes) -> FileMessage:
    """Parse a file-server message; the name ends at its first NUL (or after 256 bytes)."""
    if len(data) != FILE_MESSAGE_SIZE:
        raise BootError(
            f"file-server message must be {FILE_MESSAGE_SIZE} bytes, got {len(data)}",
            hint="The board sent a truncated request; power-cycle it and try again.",
        )
    command, raw_name = _FILE_MESSAGE.unpack(data)
    name = raw_name.split(b"\0", 1)[0]
    return FileMessage(command, name)


def parse_metadata_record(name: bytes) -> tuple[str, str] | None:
    """``*KEY*VALUE`` -> (KEY, VALUE); ``*KEY`` without a value -> (KEY, ""); else None.

    Never raises: undecodable bytes become U+FFFD (the board's record is kept, not lost)."""
    if not name.startswith(b"*"):
        return None
    text = name[1:].decode("utf-8", "replace")
    key, _, value = text.partition("*")
    return key, value

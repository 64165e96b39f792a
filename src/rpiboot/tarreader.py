"""A bounded reader of tar headers (POSIX ustar, pax, GNU, v7) for ``bootfiles.bin``.

Only headers are read, never member data: each member is reported with the offset and size
of its bytes, which the caller streams later.  Everything is checked against the archive's
real size before it is used, so a crafted header cannot make us allocate or seek past what
the file holds:

* numeric fields are octal text or GNU base-256; negative sizes are refused;
* a member whose data runs past the end of the archive is an error naming the member;
* pax records and GNU long names are read into memory only up to :data:`MAX_META_SIZE`;
* every step moves forward by at least one 512-byte block, so the walk ends within
  ``size / 512`` steps whatever the headers claim;
* GNU sparse files (type ``S`` or pax ``GNU.sparse.*``) and multi-volume continuations
  (type ``M``) are refused: their data is not stored as one contiguous run.

Each error is an :class:`~rpiboot.errors.InputError` naming the archive, the header's offset
and the field that is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from rpiboot.chips import GADGET_FIRMWARE
from rpiboot.errors import InputError
from rpiboot.record import record

BLOCK = 512
MAX_META_SIZE = 1 << 20  # a pax header or GNU long name larger than this is refused
MAX_PAX_SIZE_DIGITS = 20  # a pax "size" value longer than this cannot fit any archive
REGULAR_TYPES = (b"0", b"\0", b"7")  # file, old-style file, contiguous file
NO_DATA_TYPES = (b"1", b"2", b"3", b"4", b"5", b"6")  # their size field is ignored
SKIPPED_TYPES = {b"1": "hard link", b"2": "symbolic link", b"3": "character device",
                 b"4": "block device", b"5": "directory", b"6": "FIFO",
                 b"V": "volume label", b"D": "GNU directory dump", b"K": "GNU long link name"}
PAX_TYPES = (b"x", b"X")  # per-member pax header (X: Solaris' old spelling)
REFUSED_TYPES = {b"S": "is a GNU sparse file", b"M": "continues a file from another volume"}
_HINT = (f"bootfiles.bin must be an uncompressed tar of plain files (as in usbboot's "
         f"{GADGET_FIRMWARE}); rebuild it (tar -cf bootfiles.bin 2711 2712) or remove it.")


@record
class TarMember:
    """One member: its name, type flag, and where its data lies in the archive."""

    name: str
    typeflag: bytes
    offset: int  # of the data (the header is 512 bytes before it, or more with pax/GNU)
    size: int
    header_offset: int  # of the member's first header (a pax/GNU header when there is one)

    @property
    def is_file(self) -> bool:
        return _is_file(self.typeflag, self.name)

    @property
    def kind(self) -> str:
        """What the member is, in words (why it is not served, when it is not a file)."""
        if self.is_file:
            return "file"
        if self.typeflag in REGULAR_TYPES:
            return "directory"
        known = SKIPPED_TYPES.get(self.typeflag)
        return known or f"member of unknown type {self.typeflag!r}"


def _is_file(typeflag: bytes, name: str) -> bool:
    """A regular file, as tarfile reads it (an old-style entry ending in '/' is a directory)."""
    return typeflag in REGULAR_TYPES and not (typeflag == b"\0" and name.endswith("/"))


def _has_data(typeflag: bytes, name: str) -> bool:
    """Whether data blocks follow the header (links, devices, directories have none)."""
    return typeflag not in NO_DATA_TYPES and (typeflag != b"\0" or not name.endswith("/"))


def _error(source: str, offset: int, problem: str) -> InputError:
    return InputError(f"{source}: tar header at offset {offset}: {problem}", hint=_HINT)


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def parse_number(field: bytes, name: str, source: str, offset: int) -> int:
    """A numeric header field: octal text (NUL/space padded) or GNU base-256."""
    if field and field[0] == 0x80:  # GNU base-256, positive
        return int.from_bytes(field[1:], "big")
    if field and field[0] == 0xFF:  # GNU base-256, negative
        raise _error(source, offset, f"field {name} is negative")
    digits = field.split(b"\0", 1)[0].strip(b" ")
    if not digits:
        return 0
    if not all(0x30 <= byte <= 0x37 for byte in digits):
        raise _error(source, offset, f"field {name} is not an octal number: {digits[:12]!r}")
    return int(digits, 8)


def _check_checksum(block: bytes, source: str, offset: int) -> None:
    stored = parse_number(block[148:156], "chksum", source, offset)
    unsigned = sum(block[:148]) + 8 * 0x20 + sum(block[156:])
    signed = unsigned - 256 * sum(1 for byte in (*block[:148], *block[156:]) if byte > 127)
    if stored not in (unsigned, signed):
        raise _error(source, offset, f"checksum mismatch (stored {stored}, computed "
                     f"{unsigned}): not a tar header, or a damaged one")


@record
class _Header:
    name: str
    typeflag: bytes
    size: int


def parse_header(block: bytes, source: str, offset: int) -> _Header:
    """The name, type and size of one 512-byte header (checksum verified)."""
    _check_checksum(block, source, offset)
    name = _text(block[0:100])
    prefix = _text(block[345:500]) if block[257:263] == b"ustar\0" else ""
    if prefix:
        name = f"{prefix}/{name}"
    size = parse_number(block[124:136], f"size (member {name[:100]!r})", source, offset)
    typeflag = block[156:157]
    return _Header(name, typeflag, size)


def parse_pax(payload: bytes, source: str, offset: int) -> dict[str, str]:
    """``LENGTH KEY=VALUE\\n`` records; trailing NUL padding is ignored."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(payload) and payload[pos] != 0:
        space = payload.find(b" ", pos, pos + MAX_PAX_SIZE_DIGITS + 1)
        digits = payload[pos:space] if space > pos else b""
        if not digits.isdigit():
            raise _error(source, offset, f"pax record at byte {pos} has no length")
        length = int(digits)
        end = pos + length
        if length <= len(digits) + 1 or end > len(payload) or payload[end - 1:end] != b"\n":
            raise _error(source, offset, f"pax record at byte {pos} has a wrong length "
                         f"({length})")
        key, equals, value = payload[space + 1:end - 1].partition(b"=")
        if not equals or not key:
            raise _error(source, offset, f"pax record at byte {pos} has no KEY=VALUE")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8",
                                                                       "surrogateescape")
        pos = end
    return records


def _pax_size(records: dict[str, str], source: str, offset: int) -> int | None:
    value = records.get("size")
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > MAX_PAX_SIZE_DIGITS:
        raise _error(source, offset, f"pax size {value[:30]!r} is not a size")
    return int(value)


class _Walker:
    """The header walk over one open archive of ``size`` bytes."""

    def __init__(self, handle: BinaryIO, size: int, source: str) -> None:
        self.handle = handle
        self.size = size
        self.source = source

    def read(self, offset: int, count: int) -> bytes:
        try:
            self.handle.seek(offset)
            data = self.handle.read(count)
        except OSError as err:
            raise InputError(f"{self.source}: cannot read at offset {offset}: {err}") from None
        if len(data) != count:
            raise _error(self.source, offset, f"the archive ends {count - len(data)} bytes "
                         "early (it shrank while being read)")
        return data

    def check_fits(self, name: str, offset: int, data_offset: int, size: int) -> None:
        if size > self.size - data_offset:
            raise _error(self.source, offset, f"member {name[:100]!r}: its size field claims "
                         f"{size} bytes from offset {data_offset}, but the archive is only "
                         f"{self.size} bytes long")

    def members(self) -> Iterator[TarMember]:
        """Every member, in order; pax and GNU long-name headers applied to the next one."""
        offset = 0
        pending: dict[str, str] = {}  # pax records / GNU long name for the next member
        first_header: int | None = None
        while self.size - offset >= BLOCK:
            block = self.read(offset, BLOCK)
            if not any(block):
                break  # end-of-archive marker
            header = parse_header(block, self.source, offset)
            data_offset = offset + BLOCK
            size = header.size
            if header.typeflag in PAX_TYPES or header.typeflag == b"L":
                self.check_fits(header.name, offset, data_offset, size)
                pending.update(self._meta(header, data_offset, offset))
                first_header = offset if first_header is None else first_header
            elif header.typeflag == b"g":  # global pax header: validated, nothing we use
                self.check_fits(header.name, offset, data_offset, size)
                self._meta(header, data_offset, offset)
            else:
                member = self._member(header, pending, offset, data_offset)
                size = member.size
                yield TarMember(member.name, member.typeflag, data_offset, size,
                                offset if first_header is None else first_header)
                pending, first_header = {}, None
            offset = data_offset + -(-size // BLOCK) * BLOCK
        if pending:
            raise _error(self.source, first_header or 0, "an extended header is not followed "
                         "by a member")
        if 0 < self.size - offset < BLOCK and any(self.read(offset, self.size - offset)):
            raise _error(self.source, offset, f"the archive ends inside a header "
                         f"({self.size - offset} bytes left)")

    def _meta(self, header: _Header, data_offset: int, offset: int) -> dict[str, str]:
        """The records of a pax header, or ``{"path": NAME}`` for a GNU long name."""
        if header.size > MAX_META_SIZE:
            raise _error(self.source, offset, f"extended header of {header.size} bytes "
                         f"(at most {MAX_META_SIZE} are accepted)")
        payload = self.read(data_offset, header.size)
        if header.typeflag == b"L":
            return {"path": _text(payload)}
        return parse_pax(payload, self.source, offset)

    def _member(self, header: _Header, pending: dict[str, str], offset: int,
                data_offset: int) -> _Header:
        name = pending.get("path", header.name)
        sparse = [key for key in pending if key.startswith("GNU.sparse.")]
        refusal = REFUSED_TYPES.get(header.typeflag) or (
            "is a GNU sparse file (pax GNU.sparse records)" if sparse else None)
        if refusal is not None:
            raise _error(self.source, offset, f"member {name[:100]!r} {refusal}, which "
                         "rpiboot cannot serve")
        pax_size = _pax_size(pending, self.source, offset)
        size = header.size if pax_size is None else pax_size
        if not _has_data(header.typeflag, name):
            return _Header(name, header.typeflag, 0)
        self.check_fits(name, offset, data_offset, size)
        return _Header(name, header.typeflag, size)


def iter_members(handle: BinaryIO, size: int, source: str) -> Iterator[TarMember]:
    """Every member of the archive in ``handle`` (``size`` bytes, named ``source``)."""
    if size == 0:
        raise InputError(f"{source}: empty file, not a tar archive", hint=_HINT)
    return _Walker(handle, size, source).members()


def read_members(path: Path) -> list[TarMember]:
    """Every member of the tar archive at ``path`` (headers only; data is never read)."""
    source = str(path)
    try:
        with open(path, "rb") as handle:
            return list(iter_members(handle, os.fstat(handle.fileno()).st_size, source))
    except OSError as err:
        raise InputError(f"{source}: cannot read: {err.strerror or err}", hint=_HINT) from None

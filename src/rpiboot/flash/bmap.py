"""bmaptool block maps (``IMAGE.bmap``): which blocks of an image hold data, with checksums.

Formats 1.0 to 1.3 (SHA-1 range checksums in ``sha1="..."``; 1.3 adds ``BmapFileSHA1``),
1.4 and 2.x (``ChecksumType`` sha1/sha256, ``chksum="..."``, ``BmapFileChecksum``).  The
file's own checksum is computed over the file with that checksum's hex digits replaced by
ASCII zeros, and must match.  A range's checksum covers its blocks' bytes, the last block
cut at ``ImageSize``.

A bmap file is untrusted input: it is read whole but capped (:data:`MAX_BMAP_SIZE`), a
DOCTYPE (and so any entity) is refused before parsing, every count is checked against the
others (``BlocksCount`` against ``ImageSize``/``BlockSize``, ``MappedBlocksCount`` against
the ranges), ranges must lie inside the image and not overlap.  Anything wrong raises
:class:`~rpiboot.errors.InputError` naming the file and the field, line or range.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from rpiboot.errors import InputError
from rpiboot.fspaths import path_error
from rpiboot.record import record

MAX_BMAP_SIZE = 32 << 20  # ~300,000 ranges
MAX_BLOCK_SIZE = 64 << 20
CHECKSUM_TYPES = {"sha1": 40, "sha256": 64}
COMPRESSION_SUFFIXES = (".gz", ".gzip", ".xz", ".bz2", ".zst", ".zstd", ".zip")
_HEX = re.compile(r"[0-9a-fA-F]+")


@record
class MappedRange:
    """Blocks ``first`` to ``last`` (inclusive) hold data; ``checksum`` (hex, lower case) is
    of their bytes, or None when the bmap gives none."""

    first: int
    last: int
    checksum: str | None


@record
class BlockMap:
    """A parsed bmap: only ``ranges`` need writing (and verifying)."""

    image_size: int
    block_size: int
    ranges: tuple[MappedRange, ...]
    checksum_type: str  # "sha1" / "sha256"; "" when the ranges carry no checksums
    blocks_count: int = 0
    mapped_blocks_count: int = 0
    version: str = ""
    name: str = ""  # the file it came from, for messages

    def byte_range(self, mapped: MappedRange) -> tuple[int, int]:
        """(offset, length) in bytes of ``mapped``, the last block cut at the image's end."""
        start = mapped.first * self.block_size
        return start, min((mapped.last + 1) * self.block_size, self.image_size) - start

    @property
    def mapped_bytes(self) -> int:
        return sum(self.byte_range(mapped)[1] for mapped in self.ranges)


def find_bmap(image_path: str | Path) -> Path | None:
    """The bmap beside an image: ``IMAGE.bmap``, else the name without its compression
    suffix plus ``.bmap`` (``os.img.xz`` -> ``os.img.bmap``); None for standard input."""
    if str(image_path) == "-":
        return None
    image = Path(image_path)
    candidates = [image.with_name(image.name + ".bmap")]
    if image.suffix.lower() in COMPRESSION_SUFFIXES:
        candidates.append(image.with_name(image.stem + ".bmap"))
    return next((path for path in candidates if path.is_file()), None)


def load_bmap(path: str | Path) -> BlockMap:
    """Read and check the bmap file at ``path``."""
    bmap_path = Path(path)
    try:
        with open(bmap_path, "rb") as handle:
            data = handle.read(MAX_BMAP_SIZE + 1)
    except OSError as exc:
        raise path_error(bmap_path, exc, doing="read the bmap file") from None
    return parse_bmap(data, name=str(bmap_path))


def parse_bmap(data: bytes, *, name: str = "<bmap>") -> BlockMap:
    """The block map in ``data`` (the bytes of a bmap file called ``name``)."""
    if len(data) > MAX_BMAP_SIZE:
        raise _bad(name, f"the file is larger than {MAX_BMAP_SIZE} bytes; not a bmap file")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise _bad(name, "it declares a DOCTYPE or entities, which bmap files never do")
    version, fields, raw_ranges = _read_xml(data, name)
    major, minor = _version(version, name)
    image_size = _number(fields, "ImageSize", name)
    block_size = _number(fields, "BlockSize", name)
    blocks = _number(fields, "BlocksCount", name)
    mapped = _number(fields, "MappedBlocksCount", name)
    if not 0 < block_size <= MAX_BLOCK_SIZE:
        raise _bad(name, f"BlockSize {block_size} is not between 1 and {MAX_BLOCK_SIZE}")
    if blocks != -(-image_size // block_size):
        raise _bad(name, f"BlocksCount {blocks} does not match ImageSize {image_size} / "
                   f"BlockSize {block_size}")
    kind, attribute, file_field = _checksum_fields(major, minor, fields, name)
    if file_field:
        _check_file_checksum(data, file_field, kind, name)
    ranges = _ranges(raw_ranges, attribute, kind, blocks, name)
    if sum(r.last - r.first + 1 for r in ranges) != mapped:
        raise _bad(name, f"MappedBlocksCount {mapped} is not the number of blocks in the "
                   "ranges of BlockMap")
    has_checksums = any(r.checksum is not None for r in ranges)
    return BlockMap(image_size=image_size, block_size=block_size, ranges=ranges,
                    checksum_type=kind if has_checksums else "", blocks_count=blocks,
                    mapped_blocks_count=mapped, version=version, name=name)


def _bad(name: str, what: str) -> InputError:
    return InputError(f"{name}: not a valid bmap file: {what}",
                      hint="Use the .bmap file made for this very image (bmaptool create), "
                      "or flash without it (--no-bmap).")


RawRange = tuple[str, dict[str, str]]  # text, attributes


def _read_xml(data: bytes, name: str) -> tuple[str, dict[str, str], list[RawRange]]:
    """The root's version, its children's texts, and BlockMap's Range elements, read with
    a pull parser fed in pieces; each element is dropped once read (memory stays small)."""
    reader = _Reader(name)
    try:
        for at in range(0, max(len(data), 1), 1 << 16):
            reader.parser.feed(data[at:at + (1 << 16)])
            reader.take_events()
        reader.parser.close()
        reader.take_events()
    except ET.ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        raise _bad(name, f"malformed XML at line {line}, column {column}") from None
    return reader.version, reader.fields, reader.ranges


class _Reader:
    def __init__(self, name: str) -> None:
        self.parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
        self.name = name
        self.version = ""
        self.fields: dict[str, str] = {}
        self.ranges: list[RawRange] = []
        self._open: list[ET.Element] = []

    def take_events(self) -> None:
        events = cast("Iterator[tuple[str, Any]]", self.parser.read_events())
        for event, element in events:
            if not isinstance(element, ET.Element):
                continue
            if event == "start":
                if not self._open:
                    if element.tag != "bmap":
                        raise _bad(self.name, f"the root element is <{element.tag}>, not "
                                   "<bmap>")
                    self.version = element.get("version", "")
                self._open.append(element)
                continue
            self._open.pop()
            if len(self._open) == 2 and element.tag == "Range":
                self.ranges.append((element.text or "", dict(element.attrib)))
                self._open[-1].remove(element)
            elif len(self._open) == 1:
                self.fields.setdefault(element.tag, element.text or "")
                self._open[0].remove(element)


def _version(version: str, name: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{1,3})\.(\d{1,3})", version.strip())
    if not match:
        raise _bad(name, f"version {version!r} is not MAJOR.MINOR")
    major, minor = int(match[1]), int(match[2])
    if major not in (1, 2):
        raise _bad(name, f"format version {version} is not supported (1.0 to 2.x are)")
    return major, minor


def _number(fields: dict[str, str], field: str, name: str) -> int:
    if field not in fields:
        raise _bad(name, f"{field} is missing")
    text = fields[field].strip()
    if not text.isdigit() or not text.isascii() or len(text) > 20:
        raise _bad(name, f"{field} {text[:40]!r} is not a whole number")
    return int(text)


def _checksum_fields(major: int, minor: int, fields: dict[str, str],
                     name: str) -> tuple[str, str, str]:
    """(checksum type, Range attribute holding it, element holding the file's checksum)."""
    if major == 1 and minor < 3:
        return "sha1", "sha1", ""
    if major == 1 and minor == 3:
        return "sha1", "sha1", "BmapFileSHA1"
    kind = fields.get("ChecksumType", "").strip().lower()
    if kind not in CHECKSUM_TYPES:
        raise _bad(name, f"ChecksumType {kind[:40]!r} is not one of "
                   f"{', '.join(CHECKSUM_TYPES)}")
    return kind, "chksum", "BmapFileChecksum"


def _check_file_checksum(data: bytes, field: str, kind: str, name: str) -> None:
    pattern = re.compile(rb"<" + field.encode() + rb">\s*([0-9a-fA-F]*)\s*</" +
                         field.encode() + rb">")
    found = list(pattern.finditer(data))
    if len(found) != 1:
        raise _bad(name, f"{field} is missing" if not found else f"{field} appears twice")
    match = found[0]
    stored = match[1].decode().lower()
    if len(stored) != CHECKSUM_TYPES[kind]:
        raise _bad(name, f"{field} is not a {kind} checksum")
    zeroed = data[:match.start(1)] + b"0" * len(stored) + data[match.end(1):]
    actual = hashlib.new(kind, zeroed).hexdigest()
    if actual != stored:
        raise InputError(f"{name}: the bmap file's own checksum ({field}) does not match: it "
                         f"says {stored}, the file's {kind} is {actual}",
                         hint="The bmap file is damaged or was edited: fetch it again.")


def _ranges(raw: list[RawRange], attribute: str, kind: str, blocks: int,
            name: str) -> tuple[MappedRange, ...]:
    parsed = []
    for index, (text, attributes) in enumerate(raw, start=1):
        match = re.fullmatch(r"\s*(\d{1,19})\s*(?:-\s*(\d{1,19})\s*)?", text)
        if not match:
            raise _bad(name, f"Range #{index} {text.strip()[:40]!r} is not 'FIRST-LAST' or "
                       "'BLOCK'")
        first = int(match[1])
        last = int(match[2]) if match[2] is not None else first
        if first > last or last >= blocks:
            raise _bad(name, f"Range #{index} {first}-{last} is not inside the image's "
                       f"{blocks} blocks")
        checksum = attributes.get(attribute)
        if checksum is not None and (len(checksum) != CHECKSUM_TYPES[kind]
                                     or not _HEX.fullmatch(checksum)):
            raise _bad(name, f"Range #{index} ({first}-{last}) has a malformed {kind} checksum")
        parsed.append(MappedRange(first, last, checksum.lower() if checksum else None))
    parsed.sort(key=lambda mapped: mapped.first)
    for before, after in itertools.pairwise(parsed):
        if after.first <= before.last:
            raise _bad(name, f"ranges {before.first}-{before.last} and {after.first}-"
                       f"{after.last} overlap")
    return tuple(parsed)

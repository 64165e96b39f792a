"""Board metadata records (``*KEY*VALUE``, spec section 6): collect, decode, write as JSON."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from rpiboot.errors import RpibootError
from rpiboot.fsutil import atomic_write

log = logging.getLogger(__name__)

FACTORY_UUID_KEY = "FACTORY_UUID"
_SAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]")
MAX_SERIAL_FILENAME = 96


def _c40_char(value: int) -> str:
    if 4 <= value <= 13:
        return chr(ord("0") + value - 4)
    if 14 <= value <= 39:
        return chr(ord("A") + value - 14)
    return ""  # C40 shift/space values carry no character of the UUID


def _decode_half(half: int) -> str:
    value = half - 1
    return "".join(_c40_char(v) for v in (value // 1600, (value % 1600) // 40, value % 40))


def decode_factory_uuid(encoded: str) -> str:
    """Decode the ``'_'``-separated hex words of FACTORY_UUID into its C40 text.

    Each non-zero 16-bit half (low first) gives three C40 values.  A value that is not
    well-formed hex is returned unchanged (a board's odd record must not stop the boot).
    """
    out: list[str] = []
    for word_text in encoded.split("_"):
        if not word_text or len(word_text) > 8 or not re.fullmatch(r"[0-9A-Fa-f]+", word_text):
            return encoded
        word = int(word_text, 16)
        for half in (word & 0xFFFF, word >> 16):
            if half:
                out.append(_decode_half(half))
    return "".join(out)


class MetadataCollector:
    """Records in arrival order; FACTORY_UUID decoded on arrival."""

    def __init__(self) -> None:
        self.records: dict[str, str] = {}

    def add(self, key: str, value: str) -> None:
        if key == FACTORY_UUID_KEY:
            value = decode_factory_uuid(value)
        self.records[key] = value

    def __bool__(self) -> bool:
        return bool(self.records)

    def to_json(self) -> str:
        """One JSON object, keys in arrival order, every value properly escaped."""
        import json

        return json.dumps(self.records, indent=2, ensure_ascii=False) + "\n"


def safe_serial_filename(serial: str | None, fallback: str = "unknown") -> str:
    """A file-name stem made from a board serial that can never leave its directory.

    Only ``[A-Za-z0-9._-]`` survive (others become ``_``); a leading dot becomes ``_``; the
    result is never empty, ``.`` or ``..``, and at most 96 characters.
    """
    text = _SAFE_CHARS.sub("_", serial or "")[:MAX_SERIAL_FILENAME]
    if text.startswith("."):
        text = "_" + text[1:]
    if not text:
        text = safe_serial_filename(fallback) if fallback else "unknown"
    return text


def write_metadata(directory: Path, serial: str | None, collector: MetadataCollector,
                   *, fallback: str = "unknown") -> Path | None:
    """Write ``DIR/<safe serial>.json`` atomically; returns the path written.

    When it cannot be written (the disk filled, the folder became read-only while boards
    were served) nothing is lost: an error-level log line names the file and why, and None
    is returned, so the records are reported without a file; the command line then prints
    them on standard output, as the reference rpiboot does.
    """
    path = directory / f"{safe_serial_filename(serial, fallback)}.json"
    try:
        atomic_write(path, collector.to_json().encode("utf-8"))
    except RpibootError as err:
        log.error("warning: %s; the metadata of %s is printed on standard output instead",
                  err.message, serial or fallback)
        return None
    return path

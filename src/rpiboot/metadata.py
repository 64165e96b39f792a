"""Board metadata records (``*KEY*VALUE``, spec section 6): collect, decode, write as JSON.

With ``-j DIR`` each board's records go to their own file, never two boards into one
(docs/metadata-files.md):

* the name comes from the board's serial, readable and collision-free (:func:`metadata_stem`);
* an existing file is overwritten only by the board it belongs to: the two record sets share
  an identity record (USER_SERIAL_NUM, a MAC address, FACTORY_UUID) and agree on every one
  they share.  Anything else (another board's records, records that say nothing about the
  board, a file rpiboot did not write) is kept, and the board's records go to
  ``<stem>~2.json`` (``~3``, ...) instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path

from rpiboot.errors import InputError
from rpiboot.fsutil import atomic_write, path_error
from rpiboot.record import record

FACTORY_UUID_KEY = "FACTORY_UUID"
_SAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]")
MAX_SERIAL_FILENAME = 96
HASH_CHARS = 10  # hex digits of SHA-256(serial) in the name of a serial that was sanitized
NO_SERIAL = "no-serial"
# Records that identify one board: two files agreeing on them are the same board.
IDENTITY_KEYS = ("USER_SERIAL_NUM", "MAC_ADDR", "MAC_WIFI_ADDR", "MAC_BT_ADDR",
                 FACTORY_UUID_KEY)
MAX_NAME_TRIES = 1000  # <stem>.json, <stem>~2.json ... <stem>~1000.json
MAX_EXISTING_BYTES = 1 << 20  # an existing "metadata file" larger than this is not ours
_WRITE_LOCK = threading.Lock()  # boards finishing together choose their names one by one


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


def metadata_stem(serial: str | None, fallback: str = "unknown") -> str:
    """The file-name stem of a board's metadata: readable, and different for different
    serials.

    * A serial made only of ``[A-Za-z0-9._-]``, not starting with a dot, at most 96
      characters: the serial itself (``c0ffee01``).
    * Any other serial: its sanitized form (:func:`safe_serial_filename`), ``~`` and the
      first 10 hex digits of the SHA-256 of the serial's UTF-8 bytes (``a_b~<hash>`` for
      ``a/b``), so ``a/b``, ``a:b`` and ``a_b`` never share a name.
    * No serial: the sanitized fallback (the USB port path) and ``~no-serial``.

    ``~`` never occurs in a serial used as is, so the three forms cannot collide.
    """
    if serial:
        safe = safe_serial_filename(serial)
        if safe == serial:
            return safe
        import hashlib

        digest = hashlib.sha256(serial.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{safe[:MAX_SERIAL_FILENAME - HASH_CHARS - 1]}~{digest[:HASH_CHARS]}"
    base = safe_serial_filename(fallback or "unknown")
    return f"{base[:MAX_SERIAL_FILENAME - len(NO_SERIAL) - 1]}~{NO_SERIAL}"


def same_board(existing: Mapping[str, object], records: Mapping[str, str]) -> bool:
    """True when two record sets share an identity record and agree on all they share."""
    shared = [key for key in IDENTITY_KEYS if key in existing and key in records]
    return bool(shared) and all(existing[key] == records[key] for key in shared)


def _existing_records(path: Path) -> dict[str, object] | None:
    """The JSON object in an existing metadata file; None if it is not one (unreadable, too
    large, not JSON, not an object)."""
    import json

    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_EXISTING_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_EXISTING_BYTES:
        return None
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return doc if isinstance(doc, dict) else None


def _reserve(path: Path) -> bool:
    """Create ``path`` empty if it does not exist (True); False if something is there."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError:
        return False
    except OSError as exc:
        raise path_error(path, exc) from None
    return True


@record
class SavedMetadata:
    """Where a board's metadata went, and why not to ``<stem>.json`` (None if it did)."""

    path: Path
    note: str | None = None
    created: bool = False  # a new file (else this board's own earlier file is replaced)


def choose_metadata_path(directory: Path, serial: str | None, records: Mapping[str, str],
                         *, fallback: str = "unknown") -> SavedMetadata:
    """The first of ``<stem>.json``, ``<stem>~2.json``, ... that is free (it is created
    empty, so no other writer takes it) or holds this board's records."""
    stem = metadata_stem(serial, fallback)
    note = None
    for number in range(1, MAX_NAME_TRIES + 1):
        path = directory / (f"{stem}.json" if number == 1 else f"{stem}~{number}.json")
        if _reserve(path):
            return SavedMetadata(path, note, created=True)
        existing = _existing_records(path)
        if existing is not None and same_board(existing, records):
            return SavedMetadata(path, note)
        note = note or (f"{path.name} holds another board's metadata (or records that do "
                        "not identify a board); not overwritten")
    raise InputError(f"{directory}: {MAX_NAME_TRIES} metadata files named {stem}*.json "
                     "already exist for other boards",
                     hint="Move the old metadata files away, or use another -j directory.")


def save_metadata(directory: Path, serial: str | None, collector: MetadataCollector,
                  *, fallback: str = "unknown") -> SavedMetadata:
    """Write the board's records atomically to the file :func:`choose_metadata_path` picks."""
    with _WRITE_LOCK:
        saved = choose_metadata_path(directory, serial, collector.records, fallback=fallback)
        try:
            atomic_write(saved.path, collector.to_json().encode("utf-8"))
        except BaseException:
            if saved.created:  # our empty reservation: do not leave it behind
                with contextlib.suppress(OSError):
                    saved.path.unlink()
            raise
    return saved


def write_metadata(directory: Path, serial: str | None, collector: MetadataCollector,
                   *, fallback: str = "unknown") -> Path:
    """Write the board's records to ``DIR/<metadata_stem>.json`` (or ``~N`` when that file
    is another board's) atomically; returns the path written."""
    return save_metadata(directory, serial, collector, fallback=fallback).path

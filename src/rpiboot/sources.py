"""Where the files a board asks for come from (spec section 5), and the device-name sanitiser.

The device is untrusted: :func:`refusal_reason` rejects any name that could leave the boot
directory lexically.  Symlinks the user placed inside the boot directory are followed.
``bootfiles.bin`` (a POSIX tar) is indexed once (headers only, every size checked against the
archive's real size) and its members are streamed by offset.
"""

from __future__ import annotations

import array
import io
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from rpiboot.chips import Chip, builtin_msd_names
from rpiboot.errors import InputError
from rpiboot.record import record

log = logging.getLogger(__name__)

BOOTFILES_ARCHIVE = "bootfiles.bin"
READ_CHUNK = 16 * 1024
USE_READV = hasattr(os, "readv")  # vectored reads (not on Windows)
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{port}{n}" for port in ("COM", "LPT") for n in "123456789"})
# Names the reference serves from its built-in mass-storage firmware.
BUILTIN_MSD_NAMES = builtin_msd_names()


def refusal_reason(name: str) -> str | None:
    """Why a device-requested name is refused, or None if it is safe to look up."""
    if not name:
        return "empty name"
    if "\0" in name:
        return "contains a NUL byte"
    if _CONTROL.search(name):
        return "contains control characters"
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/"):
        return "absolute path"
    if _DRIVE_LETTER.match(name):
        return "starts with a drive letter"
    parts = name.split("/")
    if ".." in parts:
        return "contains a '..' component"
    if not [p for p in parts if p not in ("", ".")]:
        return "names no file"
    if sys.platform.startswith("win"):
        return windows_refusal_reason(parts)
    return None


def windows_refusal_reason(parts: list[str]) -> str | None:
    """Names Windows would not open as plain files in the boot directory: streams (':'),
    device names (CON, NUL, COM1, ... — opening CON would block on the console) and
    components ending in a dot or space (Windows strips them)."""
    for part in parts:
        if ":" in part:
            return "contains ':' (a Windows drive or stream)"
        if part.split(".", 1)[0].rstrip(" ").upper() in _WINDOWS_DEVICES:
            return f"names a Windows device ({part})"
        if part not in ("", ".") and part[-1] in ". ":
            return "a component ends in a dot or space"
    return None


def safe_parts(name: str) -> tuple[str, ...]:
    """The path components of an accepted name ("a/./b//c" -> ("a", "b", "c"))."""
    reason = refusal_reason(name)
    if reason is not None:
        raise ValueError(f"refused name {name!r}: {reason}")
    return tuple(p for p in name.split("/") if p not in ("", "."))


@record
class FileSource:
    """A file to serve: ``size`` bytes at ``offset`` in ``path`` (an archive member or a file)."""

    path: Path
    size: int
    offset: int = 0
    member: str | None = None  # set when the bytes come from bootfiles.bin

    @property
    def label(self) -> str:
        return f"{self.path}:{self.member}" if self.member else str(self.path)

    def chunks(self, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        """The bytes, streamed from disk ``chunk_size`` at a time (never all at once)."""
        with open(self.path, "rb", buffering=0) as handle:
            handle.seek(self.offset)
            left = self.size
            while left > 0:
                data = handle.read(min(chunk_size, left))
                if not data:
                    raise OSError(f"{self.label}: file ended {left} bytes early")
                left -= len(data)
                yield data

    def stream_chunks(self, buffers: list[array.array[int]]) -> Iterator[array.array[int]]:
        """The bytes as a sequence of equal-size chunks (the last may be shorter).

        ``buffers`` are preallocated arrays of one size, refilled from disk with one
        vectored read (``os.readv``) per batch, so a large file costs no copies and few
        system calls.  A yielded buffer is only valid until the next one is requested.
        """
        chunk = len(buffers[0])
        with open(self.path, "rb", buffering=0) as handle:
            handle.seek(self.offset)
            left = self.size
            while left > 0:
                count = min(len(buffers), -(-left // chunk))
                batch = buffers[:count]
                if left < count * chunk:  # the file's last chunk: a short buffer
                    batch = [*batch[:-1], array.array("B", bytes(left - (count - 1) * chunk))]
                got = _read_batch(handle, batch)
                if got < sum(len(b) for b in batch):
                    raise OSError(f"{self.label}: file ended {left - got} bytes early")
                left -= got
                yield from batch

    def read_all(self) -> bytes:
        """Whole contents (only for small files such as bootcode)."""
        return b"".join(self.chunks())


class TarIndex:
    """Member name (lower-case) -> (offset, size) of one bootfiles.bin, read once.

    Only regular files are served (directories, links and devices are skipped; other types
    are skipped and listed in :attr:`skipped`); the first of two members with the same name
    wins; a leading ``./`` is ignored.  Headers are read with the bounded reader of
    :mod:`rpiboot.tarreader`: a damaged archive is an :class:`InputError` naming it.
    """

    def __init__(self, path: Path) -> None:
        from rpiboot.tarreader import NO_DATA_TYPES, read_members

        self.path = path
        self.members: dict[str, tuple[int, int]] = {}
        self.skipped: list[str] = []  # "NAME: why" for members that are not served
        for member in read_members(path):
            if member.is_file:
                self.members.setdefault(_member_key(member.name), (member.offset, member.size))
            elif member.typeflag not in NO_DATA_TYPES and member.kind != "directory":
                self.skipped.append(f"{member.name}: {member.kind}, not served")
        for reason in self.skipped:
            log.warning("%s: %s", path, reason)

    def find(self, member: str) -> FileSource | None:
        found = self.members.get(_member_key(member))
        if found is None:
            return None
        offset, size = found
        return FileSource(self.path, size, offset, member)


def _read_batch(handle: io.FileIO, batch: list[array.array[int]]) -> int:
    """Fill every buffer of ``batch`` completely unless the file ends; returns bytes read."""
    total = sum(len(b) for b in batch)
    got = os.readv(handle.fileno(), batch) if USE_READV else 0
    if got == total:
        return got
    # Short vectored read (or no readv on this OS): finish buffer by buffer.
    done = 0
    for buffer in batch:
        view = memoryview(buffer).cast("B")
        if got >= len(view):
            got -= len(view)
            done += len(view)
            continue
        filled, got = got, 0
        while filled < len(view):
            n = handle.readinto(view[filled:])
            if not n:
                return done + filled
            filled += n
        done += filled
    return done


def _member_key(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lower()


_TAR_CACHE: dict[tuple[Path, int, int], TarIndex] = {}
_TAR_LOCK = threading.Lock()


def tar_index(path: Path) -> TarIndex:
    """The index of ``path``, built once per (file, mtime, size)."""
    try:
        stat = path.stat()
        key = (path.resolve(), stat.st_mtime_ns, stat.st_size)
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror or err}") from None
    with _TAR_LOCK:
        index = _TAR_CACHE.get(key)
        if index is None:
            index = _TAR_CACHE[key] = TarIndex(path)
        return index


def _file_at(base: Path, parts: tuple[str, ...]) -> FileSource | None:
    candidate = base.joinpath(*parts)
    try:
        if candidate.is_file():
            return FileSource(candidate, candidate.stat().st_size)
    except OSError as exc:  # unreadable, loop of symlinks, name too long...
        log.debug("%s: %s", candidate, exc)
    return None


class FileResolver:
    """The reference lookup order for one board (chip + USB path) and boot directory."""

    def __init__(self, boot_dir: Path | None, chip: Chip, *, usb_path: str | None = None,
                 overlay: bool = False, fallback_dir: Path | None = None) -> None:
        self.boot_dir = boot_dir
        self.chip = chip
        self.usb_path = usb_path
        self.overlay = overlay
        self.fallback_dir = fallback_dir
        archive = boot_dir / BOOTFILES_ARCHIVE if boot_dir else None
        self.archive = tar_index(archive) if archive and archive.is_file() else None

    def resolve(self, name: str) -> FileSource | None:
        """The source of ``name`` or None when missing.  ``name`` must pass the sanitiser."""
        parts = safe_parts(name)
        prefix = self.chip.prefix
        if self.boot_dir is not None:
            if self.archive is not None:
                found = _file_at(self.boot_dir, (prefix, *parts)) or self.archive.find(
                    "/".join((prefix, *parts)))
                if found:
                    return found
            if self.overlay and self.usb_path and not parts[-1].lower().startswith("bootcode"):
                found = _file_at(self.boot_dir / self.usb_path, parts)
                if found:
                    return found
            # With an archive, DIR/prefix/NAME was already looked at above.
            if self.archive is None:
                found = _file_at(self.boot_dir, (prefix, *parts))
                if found:
                    return found
            found = _file_at(self.boot_dir, parts)
            if found:
                return found
        if self.fallback_dir is not None and "/".join(parts).lower() in BUILTIN_MSD_NAMES:
            return _file_at(self.fallback_dir, parts)
        return None

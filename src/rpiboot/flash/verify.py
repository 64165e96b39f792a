"""Read back what :func:`~rpiboot.flash.writer.write_image` wrote, bypassing the page cache,
and compare it.

The cache is bypassed with ``O_DIRECT`` (Linux: reads aligned to the logical block size,
at least 4 KiB, into page-aligned ``mmap`` buffers; a partial last sector is read whole and
only the image's bytes compared); where the file system refuses it (EINVAL: ramfs, some
FUSE or network file systems) with ``F_NOCACHE`` (macOS), else with ``fsync`` then
``posix_fadvise(DONTNEED)`` (the clean cached pages are dropped, so reads go to the disk),
else plain reads.  :attr:`VerifyResult.method` says which.

The sha256 of everything read back must equal the one written.  Placing a mismatch:

* a raw image file can be read again: on a mismatch it is, and compared byte by byte with
  the disk: the exact first bad byte;
* standard input and compressed images cannot (cheaply): every 64 KiB read back is
  compared, as it is read, with the CRC-32 kept while writing, so the first bad block is
  known at once; the offset given is that block's first byte (64 KiB granularity).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import mmap
import os
import stat
import struct
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rpiboot.errors import Interrupted
from rpiboot.flash.transfer import (
    CHUNK,
    POOL,
    Conveyor,
    Piece,
    TargetError,
    VerifyMismatch,
    VerifyResult,
    WriteResult,
    target_error,
)

ALIGN = 4096
_BLKSSZGET = 0x1268


class _Reader:
    """The target opened for reading back, with the cache bypassed the best way it allows."""

    def __init__(self, path: Path, name: str) -> None:
        self.path, self.name = path, name
        self.align = ALIGN
        self.method = "O_DIRECT"
        direct = getattr(os, "O_DIRECT", 0)
        try:
            self.fd = self._open(direct) if direct else -1
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise target_error(exc, target=name, offset=0, doing="opening") from None
            self.fd = -1
        if self.fd < 0:
            self.fallback()
        else:
            self._align_to_device()

    def _open(self, flags: int) -> int:
        return os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | flags)

    def _align_to_device(self) -> None:
        if stat.S_ISBLK(os.fstat(self.fd).st_mode):
            with contextlib.suppress(OSError):
                sector = struct.unpack("I", fcntl.ioctl(self.fd, _BLKSSZGET, b"\0" * 4))[0]
                self.align = max(ALIGN, sector)

    def fallback(self) -> None:
        """Plain reads, after dropping the cache as well as this OS allows."""
        if self.fd >= 0:
            os.close(self.fd)
        try:
            self.fd = self._open(0)
        except OSError as exc:
            raise target_error(exc, target=self.name, offset=0, doing="opening") from None
        self.method = "buffered"
        nocache = getattr(fcntl, "F_NOCACHE", None)
        if nocache is not None:
            with contextlib.suppress(OSError):
                fcntl.fcntl(self.fd, nocache, 1)
                self.method = "F_NOCACHE"
                return
        if hasattr(os, "posix_fadvise"):
            with contextlib.suppress(OSError):
                os.fsync(self.fd)
                os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_DONTNEED)
                self.method = "fadvise"

    def read(self, buffer: memoryview, offset: int) -> int:
        """Read into ``buffer`` at ``offset`` until full or the end; the count."""
        got = 0
        while got < len(buffer):
            try:
                count = os.preadv(self.fd, [buffer[got:]], offset + got)
            except OSError as exc:
                if exc.errno == errno.EINVAL and self.method == "O_DIRECT" and not got:
                    self.fallback()
                    continue
                raise target_error(exc, target=self.name, offset=offset + got,
                                   doing="reading back", fd=self.fd) from None
            if not count:
                break
            got += count
        return got

    def close(self) -> None:
        os.close(self.fd)


def verify_image(target_path: str | os.PathLike[str], written: WriteResult, *,
                 progress: Callable[[int, int | None], None] | None = None,
                 stop: threading.Event | None = None,
                 target_name: str | None = None) -> VerifyResult:
    """Read back ``written.ranges`` of the disk at ``target_path`` and compare them with
    what was written; :class:`VerifyMismatch` at the first bad offset, TargetError /
    DeviceGone when reading fails, Interrupted when ``stop`` is set."""
    name = target_name or written.target or os.fspath(target_path)
    if not written.sha256:
        raise ValueError("this write kept no digest (digest=False): nothing to verify against")
    reader = _Reader(Path(target_path), name)
    buffers = [mmap.mmap(-1, CHUNK) for _ in range(POOL)]
    try:
        return _compare(reader, written, buffers, progress, stop)
    finally:
        reader.close()
        for buffer in buffers:
            with contextlib.suppress(BufferError):
                buffer.close()


def _compare(reader: _Reader, written: WriteResult, buffers: list[mmap.mmap],
             progress: Callable[[int, int | None], None] | None,
             stop: threading.Event | None) -> VerifyResult:
    started = time.monotonic()
    checker = _Checker(written, reader)
    conveyor = Conveyor([memoryview(buffer) for buffer in buffers])
    total = written.bytes_written
    stages = [checker.check_crcs] if written.block_crcs else []
    pieces = conveyor.run(lambda belt, put: _read_ranges(reader, written, belt, put), stages)
    with contextlib.closing(pieces):
        for piece in pieces:
            if stop is not None and stop.is_set():
                raise Interrupted(f"stopped verifying {reader.name} at offset {piece.offset}",
                                  hint="Verify or flash it again.")
            checker.hash(piece)
            if progress is not None:
                progress(checker.done, total)
    digest = checker.sha256.hexdigest()
    if digest != written.sha256:
        checker.whole_mismatch(digest)
    return VerifyResult(bytes_read=checker.done, seconds=time.monotonic() - started,
                        sha256=digest, method=reader.method, target=reader.name)


def _read_ranges(reader: _Reader, written: WriteResult, belt: Conveyor,
                 put: Callable[[Piece], None]) -> None:
    for offset, length in written.ranges:
        pos, end = offset, offset + length
        while pos < end:
            buffer = belt.take()
            head = pos % reader.align
            want = min(end - pos, CHUNK - head)
            size = -(-(head + want) // reader.align) * reader.align
            got = reader.read(buffer[:size], pos - head)
            if got < head + want:
                raise TargetError(f"{reader.name} ends at offset {pos - head + got}, but "
                                  f"{end} bytes were written there", target=reader.name,
                                  offset=pos - head + got, hint="The disk shrank or vanished: "
                                  "check it and flash it again.")
            put(Piece(buffer, want, pos, start=head))
            pos += want


class _Checker:
    """Compares the CRC-32 of each 64 KiB read back with the one written; places a
    mismatch."""

    def __init__(self, written: WriteResult, reader: _Reader) -> None:
        self.written, self.reader = written, reader
        self.sha256 = hashlib.sha256()
        self.done = 0  # bytes compared so far (position in the written stream)
        self._block = written.crc_block
        self._crc = 0
        self._fill = 0
        self._index = 0
        self._checked = 0  # bytes whose CRC was compared so far

    def hash(self, piece: Piece) -> None:
        self.sha256.update(piece.view)
        self.done += piece.length

    def check_crcs(self, piece: Piece) -> None:
        view = piece.view
        pos = 0
        while pos < len(view):
            step = min(self._block - self._fill, len(view) - pos)
            self._crc = zlib.crc32(view[pos:pos + step], self._crc)
            self._fill += step
            pos += step
            if self._fill == self._block or self._checked + pos == self.written.bytes_written:
                self._check_block()
        self._checked += len(view)

    def _check_block(self) -> None:
        expected = self.written.block_crcs[self._index * 4:self._index * 4 + 4]
        if len(expected) == 4 and int.from_bytes(expected, "little") != self._crc:
            self._mismatch(self._index * self._block, self._block)
        self._index += 1
        self._crc = self._fill = 0

    def whole_mismatch(self, digest: str) -> None:
        """The sha256 differs: find where (raw image), or say so (every CRC matched)."""
        self._mismatch(0, self.written.bytes_written, sha256=digest)

    def _mismatch(self, logical: int, length: int, sha256: str | None = None) -> None:
        spans = segments(self.written.ranges, logical, length)
        exact = first_difference(self.reader, spans, self.written.reopen)
        offset = exact if exact is not None else (spans[0][0] if spans else None)
        if exact is not None:
            where = f"at offset {offset}"
        elif sha256 is None:
            where = f"in the {self._block} bytes from offset {offset}"
        else:
            where = "somewhere in what was written (every 64 KiB block's CRC-32 matched)"
        detail = (f" (sha256 {sha256}, {self.written.sha256} written)" if sha256 else "")
        raise VerifyMismatch(f"{self.reader.name} does not hold what was written: the first "
                             f"difference is {where}{detail}", target=self.reader.name,
                             offset=offset, exact=exact is not None, block=self._block)


def segments(ranges: tuple[tuple[int, int], ...], logical: int,
             length: int) -> list[tuple[int, int]]:
    """The (offset, length) pieces of the target holding bytes ``logical`` to ``logical +
    length`` of the written stream (``ranges`` written one after the other)."""
    found, seen = [], 0
    for offset, size in ranges:
        lo, hi = max(logical, seen), min(logical + length, seen + size)
        if lo < hi:
            found.append((offset + lo - seen, hi - lo))
        seen += size
    return found


def first_difference(reader: _Reader, spans: list[tuple[int, int]],
                     reopen: Callable[[], Any] | None) -> int | None:
    """The first offset in ``spans`` where the target differs from the image read again
    from the start (``reopen``); None when the image cannot be read again, or no byte
    differs."""
    source = reopen() if reopen is not None else None
    if source is None:
        return None
    with source, mmap.mmap(-1, CHUNK + reader.align) as raw:
        target, image = memoryview(raw), memoryview(bytearray(CHUNK))
        try:
            for offset, length in spans:
                for pos in range(offset, offset + length, CHUNK - reader.align):
                    want = min(CHUNK - reader.align, offset + length - pos)
                    found = _differs(reader, source, target, image[:want], pos)
                    if found is not None:
                        return found
        finally:
            target.release()
    return None


def _differs(reader: _Reader, source: Any, target: memoryview, image: memoryview,
             pos: int) -> int | None:
    source.skip(pos - source.position)
    got = source.readinto(image)
    head = pos % reader.align
    size = -(-(head + len(image)) // reader.align) * reader.align
    read = reader.read(target[:size], pos - head) - head
    theirs, ours = bytes(target[head:head + max(0, read)]), bytes(image[:got])
    if theirs == ours:
        return None
    return pos + next((i for i, (a, b) in enumerate(zip(theirs, ours, strict=False)) if a != b),
                      min(len(theirs), len(ours)))

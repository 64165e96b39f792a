"""Write an image to an open target disk (:func:`write_image`); verify it by reading it back
(:func:`verify_image`, in :mod:`rpiboot.flash.verify`).

Writing: the image is read (and decompressed) in one thread, hashed in a second, written
in the caller's, through a pool of :data:`~rpiboot.flash.transfer.POOL` buffers of
:data:`~rpiboot.flash.transfer.CHUNK` bytes (memory stays flat).  Writes are ``pwrite``\\ s
of up to 4 MiB at the image's own offsets: multiples of 4 MiB without a bmap, of the bmap's
block size with one.  With a bmap only the mapped ranges are written, and each range's
checksum is checked before its last piece is written (a range of up to 4 MiB is checked
before any of it is written).  The image's last bytes are written exactly: no padding to a
sector (the kernel's page cache keeps the rest of a partial last sector as it was).  An
``fsync`` ends the write.

Kept for verifying: the sha256 of everything written and, when the image cannot be read
again cheaply (standard input, compressed data), a CRC-32 of every 64 KiB of it, so a
mismatch can be placed without reading the image again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable

from rpiboot.errors import InputError, Interrupted
from rpiboot.flash.bmap import BlockMap
from rpiboot.flash.image import ImageSource
from rpiboot.flash.transfer import (
    CHUNK,
    CRC_BLOCK,
    POOL,
    BlockCrcs,
    Conveyor,
    Piece,
    TargetError,
    VerifyMismatch,
    VerifyResult,
    WriteResult,
    fd_name,
    target_error,
)
from rpiboot.flash.verify import verify_image

__all__ = ["CHUNK", "CRC_BLOCK", "TargetError", "VerifyMismatch", "VerifyResult",
           "WriteResult", "verify_image", "write_image"]

Progress = Callable[[int, "int | None"], None]
Span = tuple[int, "int | None", int]  # offset, length (None: to the image's end), range index


def write_image(source: ImageSource, target: int, *, target_size: int,
                bmap: BlockMap | None = None, progress: Progress | None = None,
                stop: threading.Event | None = None, target_name: str | None = None,
                digest: bool = True) -> WriteResult:
    """Write ``source`` to the open file descriptor ``target`` (a disk of ``target_size``
    bytes) and ``fsync`` it.  ``progress(done, total)`` is called after every write (total:
    the bytes to write when known up front, else None); ``stop`` interrupts between writes
    (:class:`~rpiboot.errors.Interrupted`).  An image that does not fit, or does not match
    its bmap, raises InputError; target failures raise TargetError or DeviceGone.
    ``digest=False`` (nothing will be verified) skips the sha256 and the CRCs: the result's
    ``sha256`` is then "" and it cannot be verified."""
    name = target_name or fd_name(target)
    spans = _plan(source, bmap, target_size, name)
    total = bmap.mapped_bytes if bmap is not None else source.size
    hasher = _Hasher(bmap, source.name, digest=digest, crcs=digest and not source.seekable)
    conveyor = Conveyor([memoryview(bytearray(CHUNK)) for _ in range(POOL)])
    ranges: list[tuple[int, int]] = []
    done = 0
    started = time.monotonic()

    def produce(belt: Conveyor, put: Callable[[Piece], None]) -> None:
        _read_spans(source, spans, belt, put, target_size, name, bmap)

    with contextlib.closing(conveyor.run(produce, hasher.stages())) as pieces:
        for piece in pieces:
            if stop is not None and stop.is_set():
                raise Interrupted(f"stopped writing {name} at offset {piece.offset}: the "
                                  "disk holds part of the image", hint="Flash it again.")
            _pwrite_all(target, piece.view, piece.offset, name)
            done += piece.length
            _extend(ranges, piece.offset, piece.length)
            if progress is not None:
                progress(done, total)
    try:
        os.fsync(target)
    except OSError as exc:
        raise target_error(exc, target=name, offset=done, doing="flushing", fd=target) from None
    return WriteResult(bytes_written=done, seconds=time.monotonic() - started,
                       sha256=hasher.hexdigest(), ranges=tuple(ranges), target=name,
                       image_size=source.position, block_crcs=hasher.crc_values(),
                       crc_block=CRC_BLOCK, reopen=source.reopen if source.seekable else None)


def _extend(ranges: list[tuple[int, int]], offset: int, length: int) -> None:
    """Add (offset, length) to ``ranges``, merged with the last one when they touch."""
    if ranges and ranges[-1][0] + ranges[-1][1] == offset:
        ranges[-1] = (ranges[-1][0], ranges[-1][1] + length)
    else:
        ranges.append((offset, length))


def _plan(source: ImageSource, bmap: BlockMap | None, target_size: int,
          name: str) -> list[Span]:
    """What to write, checked against the sizes known up front."""
    size = bmap.image_size if bmap is not None else source.size
    if size is not None and size > target_size:
        raise InputError(f"{source.name} ({size} bytes) is bigger than {name} "
                         f"({target_size} bytes); nothing was written",
                         hint="Use a larger disk or a smaller image.")
    if bmap is None:
        return [(0, source.size, -1)]
    if source.size is not None and source.size != bmap.image_size:
        raise InputError(f"{bmap.name}: the bmap is for an image of {bmap.image_size} bytes, "
                         f"{source.name} has {source.size}; nothing was written",
                         hint="Use the bmap made for this image, or flash without one.")
    return [(*bmap.byte_range(mapped), index) for index, mapped in enumerate(bmap.ranges)]


def _read_spans(source: ImageSource, spans: list[Span], belt: Conveyor,
                put: Callable[[Piece], None], target_size: int, name: str,
                bmap: BlockMap | None) -> None:
    for offset, length, index in spans:
        if source.skip(offset - source.position) < offset - source.position:
            raise _ends_early(source, bmap, offset)
        left = length
        while left is None or left > 0:
            want = CHUNK if left is None else min(CHUNK, left)
            buffer = belt.take()
            got = source.readinto(buffer[:want])
            if left is not None and got < want:
                raise _ends_early(source, bmap, offset + (length or 0))
            if offset + got > target_size:
                raise InputError(f"{source.name} is bigger than {name} ({target_size} bytes): "
                                 f"writing stopped at offset {offset}",
                                 hint="Use a larger disk or a smaller image.")
            first = left == length
            left = None if left is None else left - got
            if got:
                put(Piece(buffer, got, offset, tag=index, first=first, last=left == 0))
            else:
                belt.give_back(buffer)
            offset += got
            if got < want:
                return
    if bmap is not None:
        _check_image_end(source, bmap)


def _ends_early(source: ImageSource, bmap: BlockMap | None, needed: int) -> InputError:
    what = f"its bmap maps bytes up to {needed}" if bmap is not None else "more was expected"
    return InputError(f"{source.name}: the image ends at byte {source.position}, but {what}",
                      hint="The image is incomplete, or the bmap is for another image.")


def _check_image_end(source: ImageSource, bmap: BlockMap) -> None:
    source.skip(bmap.image_size - source.position)
    extra = source.skip(1) if source.size is None else 0
    if source.position != bmap.image_size or extra:
        raise InputError(f"{bmap.name}: the bmap is for an image of {bmap.image_size} bytes, "
                         f"{source.name} is {'longer' if extra else source.position}",
                         hint="Use the bmap made for this image, or flash without one.")


class _Hasher:
    """sha256 of all that is written; a CRC-32 of every 64 KiB when the image cannot be
    read again (standard input, compressed); each bmap range's checksum.  Each is a stage
    of the conveyor, in its own thread."""

    def __init__(self, bmap: BlockMap | None, image: str, *, digest: bool,
                 crcs: bool) -> None:
        self.sha256 = hashlib.sha256() if digest else None
        self.crcs = BlockCrcs() if crcs else None
        self._bmap = bmap
        self._image = image
        self._range: hashlib._Hash | None = None

    def stages(self) -> list[Callable[[Piece], None]]:
        found: list[Callable[[Piece], None]] = [self._hash] if self.sha256 else []
        if self.crcs is not None:
            found.append(self._crc)
        if self._bmap is not None and self._bmap.checksum_type:
            found.append(self._range_checksum)
        return found

    def hexdigest(self) -> str:
        return self.sha256.hexdigest() if self.sha256 is not None else ""

    def crc_values(self) -> bytes:
        return self.crcs.finish() if self.crcs is not None else b""

    def _hash(self, piece: Piece) -> None:
        assert self.sha256 is not None
        self.sha256.update(piece.view)

    def _crc(self, piece: Piece) -> None:
        assert self.crcs is not None
        self.crcs.feed(piece.view)

    def _range_checksum(self, piece: Piece) -> None:
        bmap = self._bmap
        assert bmap is not None
        if bmap.ranges[piece.tag].checksum is None:
            return
        if piece.first or self._range is None:
            self._range = hashlib.new(bmap.checksum_type)
        self._range.update(piece.view)
        if piece.last:
            self._check(bmap, piece.tag, self._range.hexdigest())

    def _check(self, bmap: BlockMap, index: int, actual: str) -> None:
        mapped = bmap.ranges[index]
        if actual == mapped.checksum:
            return
        offset, length = bmap.byte_range(mapped)
        raise InputError(
            f"{self._image} does not match its bmap {bmap.name}: blocks {mapped.first}-"
            f"{mapped.last} (bytes {offset} to {offset + length - 1}) have {bmap.checksum_type} "
            f"{actual}, the bmap says {mapped.checksum}; writing stopped before the end of "
            "that range", hint="The image is damaged, or the bmap is for another image: "
            "fetch them again, or flash without the bmap.")


def _pwrite_all(fd: int, data: memoryview, offset: int, name: str) -> None:
    done = 0
    while done < len(data):
        try:
            count = os.pwrite(fd, data[done:], offset + done)
        except OSError as exc:
            raise target_error(exc, target=name, offset=offset + done, doing="writing",
                               fd=fd) from None
        if count <= 0:
            raise TargetError(f"short write to {name} at offset {offset + done}: it took no "
                              "more bytes", target=name, offset=offset + done,
                              hint="The disk is full or failing.")
        done += count

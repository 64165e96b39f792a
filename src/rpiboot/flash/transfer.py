"""What writing and verifying share: their results, their errors, per-block CRCs, and the
conveyor that overlaps reading, hashing and writing in threads with a fixed buffer pool.

Errors on the target name it and the offset: :class:`TargetError` (short write, EIO,
ENOSPC, ...), :class:`~rpiboot.errors.DeviceGone` when the disk vanished (ENODEV, ENXIO, or
EIO once its device node is gone), :class:`VerifyMismatch` when the bytes read back differ.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
import zlib
from collections.abc import Callable, Generator, Sequence
from typing import Any

from rpiboot.errors import BootError, DeviceGone, PermissionDenied, RpibootError
from rpiboot.record import field, record

CHUNK = 4 << 20  # bytes per read and per write: a multiple of every logical sector size
CRC_BLOCK = 64 << 10  # granularity of the per-block CRC-32s kept while writing
POOL = 4  # buffers in flight: memory = POOL * CHUNK whatever the image size
JOIN_TIMEOUT = 10.0  # seconds to wait for a helper thread after a failure


@record
class WriteResult:
    """What :func:`~rpiboot.flash.writer.write_image` wrote: ``ranges`` are (offset,
    length) on the target (the image's own offsets), ``sha256`` is of those bytes in order
    (the whole image's sha256 without a bmap)."""

    bytes_written: int
    seconds: float
    sha256: str
    ranges: tuple[tuple[int, int], ...]
    target: str = ""
    image_size: int | None = None  # bytes the image held (mapped or not)
    block_crcs: bytes = field(default=b"", repr=False)  # CRC-32 per CRC_BLOCK written, LE
    crc_block: int = CRC_BLOCK
    reopen: Callable[[], Any] | None = field(default=None, repr=False, compare=False)

    @property
    def rate(self) -> float:
        """Bytes per second."""
        return self.bytes_written / self.seconds if self.seconds > 0 else 0.0


@record
class VerifyResult:
    """What :func:`~rpiboot.flash.writer.verify_image` read back and found equal; ``method``
    says how the page cache was bypassed: "O_DIRECT", "F_NOCACHE", "fadvise" (dropped with
    posix_fadvise(DONTNEED) after fsync) or "buffered" (not bypassed)."""

    bytes_read: int
    seconds: float
    sha256: str
    method: str
    target: str = ""

    @property
    def rate(self) -> float:
        """Bytes per second."""
        return self.bytes_read / self.seconds if self.seconds > 0 else 0.0


class TargetError(BootError):
    """Writing to or reading back from the target disk failed at ``offset``."""

    def __init__(self, message: str, *, target: str = "", offset: int | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.target = target
        self.offset = offset


class VerifyMismatch(TargetError):
    """The bytes read back differ from the image's; ``offset`` is the first bad byte
    (``exact``) or the start of the first bad block of ``block`` bytes."""

    def __init__(self, message: str, *, target: str, offset: int | None, exact: bool,
                 block: int) -> None:
        super().__init__(message, target=target, offset=offset, hint=(
            "The disk did not keep what was written: flash it again; if it fails again at "
            "the same place, the eMMC/SD card is failing."))
        self.exact = exact
        self.block = block


def target_error(exc: OSError, *, target: str, offset: int, doing: str,
                 fd: int | None = None) -> RpibootError:
    """The project's error for ``exc`` raised while ``doing`` (writing / reading back /
    flushing) ``target`` at ``offset``."""
    code = exc.errno
    where = f"{doing} {target} at offset {offset}"
    if code in (errno.ENODEV, errno.ENXIO) or (code == errno.EIO and node_vanished(fd)):
        gone = DeviceGone(f"{target} disappeared while {where.split(' ', 1)[0]} it (offset "
                          f"{offset})", hint="Check the USB cable and the board's power, "
                          "then flash it again.")
        return gone
    if code in (errno.EACCES, errno.EPERM):
        return PermissionDenied(f"permission denied {where}",
                                hint="Run with enough privileges to write disks.")
    if code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return TargetError(f"no space left {where}: the disk is smaller than the image",
                           target=target, offset=offset, hint="Use a larger disk or a "
                           "smaller image.")
    if code == errno.EROFS:
        return TargetError(f"{target} is read-only ({where})", target=target, offset=offset,
                           hint="Check the disk's write-protect switch or eMMC boot config.")
    reason = "I/O error" if code == errno.EIO else (exc.strerror or str(exc))
    return TargetError(f"{reason} {where}", target=target, offset=offset,
                       hint="The disk or the USB link failed: check the cable, flash it "
                       "again; if it fails again at the same place, the disk is failing.")


def node_vanished(fd: int | None) -> bool:
    """True when the file or device node ``fd`` was opened from no longer exists (Linux:
    /proc/self/fd says "(deleted)", as it does for a USB disk unplugged while open)."""
    if fd is None:
        return False
    try:
        return os.readlink(f"/proc/self/fd/{fd}").endswith(" (deleted)")
    except OSError:
        return False


def fd_name(fd: int) -> str:
    """What ``fd`` is open on, for messages ("/dev/sdb"), or "fd N"."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return f"fd {fd}"


class BlockCrcs:
    """CRC-32 of every :data:`CRC_BLOCK` bytes of a stream fed in pieces of any size."""

    def __init__(self, block: int = CRC_BLOCK) -> None:
        self.block = block
        self.values = bytearray()
        self._crc = 0
        self._fill = 0

    def feed(self, data: memoryview) -> None:
        pos, size, block = 0, len(data), self.block
        if self._fill:
            step = min(block - self._fill, size)
            self._crc = zlib.crc32(data[:step], self._crc)
            self._fill += step
            pos = step
            if self._fill == block:
                self._emit()
        while size - pos >= block:
            self.values += zlib.crc32(data[pos:pos + block]).to_bytes(4, "little")
            pos += block
        if pos < size:
            self._crc = zlib.crc32(data[pos:], self._crc)
            self._fill += size - pos

    def _emit(self) -> None:
        self.values += self._crc.to_bytes(4, "little")
        self._crc = self._fill = 0

    def finish(self) -> bytes:
        if self._fill:
            self._emit()
        return bytes(self.values)


# ------------------------------------------------------------------ the conveyor
class Piece:
    """``length`` bytes at ``buffer[start:]`` that belong at ``offset`` on the target."""

    __slots__ = ("buffer", "first", "last", "length", "offset", "start", "tag")

    def __init__(self, buffer: memoryview, length: int, offset: int, *, start: int = 0,
                 tag: int = -1, first: bool = False, last: bool = False) -> None:
        self.buffer = buffer
        self.length = length
        self.offset = offset
        self.start = start
        self.tag = tag  # the bmap range index, or -1
        self.first = first  # the first / last piece of its range
        self.last = last

    @property
    def view(self) -> memoryview:
        return self.buffer[self.start:self.start + self.length]


class _Stopped(Exception):
    pass


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


class Conveyor:
    """A producer thread fills pool buffers; each middle stage runs in its own thread; the
    caller's loop over :meth:`run` is the last stage; a buffer goes back to the pool when
    the caller's loop body is done with its piece.  The first failure anywhere ends it all
    and is raised in the caller's thread."""

    def __init__(self, buffers: Sequence[memoryview]) -> None:
        self._free: queue.Queue[memoryview | None] = queue.Queue()
        for buffer in buffers:
            self._free.put(buffer)
        self._closed = False

    def take(self) -> memoryview:
        """A free buffer (blocks until one is); for the producer."""
        buffer = self._free.get()
        if buffer is None or self._closed:
            self._free.put(None)
            raise _Stopped
        return buffer

    def give_back(self, buffer: memoryview) -> None:
        self._free.put(buffer)

    def run(self, produce: Callable[[Conveyor, Callable[[Piece], None]], None],
            stages: Sequence[Callable[[Piece], None]] = ()) -> Generator[Piece, None, None]:
        queues: list[queue.Queue[Any]] = [queue.Queue() for _ in range(len(stages) + 1)]
        threads = [threading.Thread(target=self._produce, args=(produce, queues[0]),
                                    daemon=True, name="rpiboot-flash-read")]
        threads += [threading.Thread(target=self._stage, args=(stage, queues[i], queues[i + 1]),
                                     daemon=True, name="rpiboot-flash-hash")
                    for i, stage in enumerate(stages)]
        for thread in threads:
            thread.start()
        try:
            while (item := queues[-1].get()) is not _END:
                if isinstance(item, _Failed):
                    raise item.error
                yield item
                self._free.put(item.buffer)
        finally:
            self._closed = True
            self._free.put(None)  # wakes a producer waiting for a buffer
            for waiting in queues:
                waiting.put(_END)  # wakes a stage waiting for a piece
            for thread in threads:
                thread.join(JOIN_TIMEOUT)

    def _produce(self, produce: Callable[[Conveyor, Callable[[Piece], None]], None],
                 out: queue.Queue[Any]) -> None:
        try:
            produce(self, out.put)
            out.put(_END)
        except _Stopped:
            out.put(_END)
        except BaseException as exc:  # handed to the caller's thread
            out.put(_Failed(exc))

    def _stage(self, stage: Callable[[Piece], None], inbox: queue.Queue[Any],
               out: queue.Queue[Any]) -> None:
        while True:
            item = inbox.get()
            if item is _END or isinstance(item, _Failed) or self._closed:
                out.put(item if item is _END or isinstance(item, _Failed) else _END)
                return
            try:
                stage(item)
            except BaseException as exc:  # handed to the caller's thread
                out.put(_Failed(exc))
                return
            out.put(item)

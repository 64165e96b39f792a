"""Stream one file to a board in <= 16 KiB bulk chunks, with rate-limited progress events."""

from __future__ import annotations

import array
import time
from collections.abc import Callable

from rpiboot.errors import BootError
from rpiboot.events import BoardRef, Event, TransferProgress
from rpiboot.sources import FileSource

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from rpiboot.protocol.link import Link

MAX_BULK_CHUNK = 16 * 1024
BATCH_CHUNKS = 32  # 512 KiB read from disk per system call
PROGRESS_INTERVAL_S = 0.1


def send_file(link: Link, source: FileSource, name: str, board: BoardRef | None,
              emit: Callable[[Event], None]) -> None:
    """WRITE ``source``: the header with its size, then the bytes streamed from disk."""
    total = source.size
    link.write_header(total)
    count = max(1, min(BATCH_CHUNKS, -(-total // MAX_BULK_CHUNK)))
    buffers: list[array.array[int]] = [array.array("B", bytes(MAX_BULK_CHUNK))
                                       for _ in range(count)]
    sent = 0
    next_report = time.monotonic() + PROGRESS_INTERVAL_S
    emit(TransferProgress(board, name=name, done=0, total=total))
    try:
        for chunk in source.stream_chunks(buffers):
            link.bulk_out(chunk)
            sent += len(chunk)
            now = time.monotonic()
            if now >= next_report:
                next_report = now + PROGRESS_INTERVAL_S
                emit(TransferProgress(board, name=name, done=sent, total=total))
    except OSError as exc:
        raise BootError(f"{source.label}: read failed after {sent} of {total} bytes: {exc}",
                        hint="Check the boot directory's files; the board must be reset.") from exc
    emit(TransferProgress(board, name=name, done=sent, total=total))

"""What the protocol stages need from a USB link, as a Protocol (types only: imported by the
stages under ``TYPE_CHECKING``, so the boot path does not import :mod:`typing`)."""

from __future__ import annotations

import array
from typing import Protocol


class Link(Protocol):
    """What the protocol stages need from a USB link (:class:`rpiboot.usb.BoardLink` is
    the real one; a test may pass any object with these methods)."""

    @property
    def where(self) -> str:
        """The board's name in messages, e.g. ``1-1.3 [b29d2da0] (0a5c:2711)``."""

    def write(self, data: bytes) -> None: ...
    def send_size(self, size: int) -> None: ...
    def write_header(self, length: int) -> None: ...
    def bulk_out(self, chunk: array.array[int]) -> None: ...
    def read(self, length: int, *, timeout: float | None = None) -> bytes: ...

"""What the engine needs from the USB layer, as Protocols a test double can satisfy.

The real implementations live in :mod:`rpiboot.usb`: :class:`~rpiboot.usb.link.BoardLink`
(a :class:`BoardConnection`), :class:`~rpiboot.usb.watch.DeviceWatcher` (a
:class:`DeviceSource`) and :class:`~rpiboot.usb.hotplug.HotplugNotifier` (a
:class:`ChangeNotifier`).  The ``default_*`` factories of :mod:`rpiboot.engine.server` are
typed with these Protocols, so ``mypy --strict`` proves the real classes fit the seams they
are injected through.  The engine imports this module for types only (no :mod:`typing` at
run time on the boot path).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from rpiboot.protocol.link import Link
from rpiboot.usb.devices import DeviceInfo


class BoardConnection(Link, Protocol):
    """One boot device for one stage: read its serial, open (claim), move bytes, close."""

    def read_serial(self) -> str | None:
        """The iSerialNumber string (None when the device has none); needs no claim."""

    def open(self) -> None:
        """Configure the device and claim its vendor interface."""

    def set_deadline(self, deadline: float | None, *, stage_timeout: float | None = None
                     ) -> None:
        """No transfer may wait past ``deadline`` (monotonic seconds) from now on."""

    def close(self) -> None:
        """Release and dispose everything; safe to call twice or after the device left."""


class DeviceSource(Protocol):
    """The current list of boot devices, re-read by the serving loop, waited on by boards."""

    def poll(self) -> list[DeviceInfo]:
        """Re-read the device list and wake the boards waiting for a change."""

    def wait_for(self, port_path: str, *, not_identity: tuple[str, int, int] | None,
                 deadline: float, stop: threading.Event | None = None) -> DeviceInfo | None:
        """The device at ``port_path`` once it differs from ``not_identity``; None at
        ``deadline`` (monotonic seconds) or when ``stop`` is set."""


class ChangeNotifier(Protocol):
    """Wakes the idle serving loop when a boot device arrives or leaves (libusb hotplug)."""

    @property
    def active(self) -> bool:
        """False once closed or broken: the loop then polls instead of waiting."""

    @property
    def stopping(self) -> bool:
        """True once :meth:`close` began."""

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a change; True if one happened."""

    def close(self) -> None:
        """Stop notifying (idempotent, from any thread)."""


LinkFactory = Callable[[DeviceInfo], BoardConnection]
NotifierFactory = Callable[[threading.Event], "ChangeNotifier | None"]

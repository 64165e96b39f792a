"""One poller of the USB device list shared by every board session.

The serving loop calls :meth:`DeviceWatcher.poll` every ``poll_interval`` while any board is
being served (when idle it may instead wait for a libusb hotplug event, see
:mod:`rpiboot.usb.hotplug`); board sessions block in :meth:`DeviceWatcher.wait_for` until
their board re-appears at its port path.
"""

from __future__ import annotations

import logging
import threading
import time

from rpiboot.usb.devices import DeviceInfo, list_devices

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

log = logging.getLogger(__name__)


class DeviceWatcher:
    """The latest device list, keyed by port path, with thread-safe waiting."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self._by_port: dict[str, DeviceInfo] = {}
        self._changed = threading.Condition()
        self.polls = 0

    def poll(self) -> list[DeviceInfo]:
        """Re-read the device list and wake sessions waiting for a change."""
        import usb.core

        try:
            devices = list_devices(self.backend)
        except usb.core.USBError as exc:  # transient (e.g. out of memory): keep the last list
            log.debug("device list unavailable: %s", exc)
            with self._changed:
                return list(self._by_port.values())
        by_port = {info.port_path: info for info in devices}
        with self._changed:
            self.polls += 1
            changed = {k: v.identity for k, v in by_port.items()} != {
                k: v.identity for k, v in self._by_port.items()}
            if changed:
                self._by_port = by_port
                self._changed.notify_all()
        return devices

    def current(self, port_path: str) -> DeviceInfo | None:
        with self._changed:
            return self._by_port.get(port_path)

    def wait_for(self, port_path: str, *, not_identity: tuple[str, int, int] | None,
                 deadline: float, stop: threading.Event | None = None) -> DeviceInfo | None:
        """The boot device at ``port_path`` once its identity differs from ``not_identity``.

        Returns None at ``deadline`` (monotonic seconds) or when ``stop`` is set.
        """
        with self._changed:
            while True:
                info = self._by_port.get(port_path)
                if info is not None and info.identity != not_identity:
                    return info
                left = deadline - time.monotonic()
                if left <= 0 or (stop is not None and stop.is_set()):
                    return None
                self._changed.wait(min(left, 0.25))

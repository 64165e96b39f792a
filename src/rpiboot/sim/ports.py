"""What a board and the pyusb backend need from the virtual bus, and the pieces they share.

:class:`~rpiboot.sim.bus.VirtualBus` implements both Protocols; boards and the backend are
typed against them, so neither module imports the bus (no import cycle).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rpiboot.sim.transcript import Transcript
from rpiboot.sim.usbmodel import SimDevice

PORT_PATH = re.compile(r"^(\d+)-(\d+(?:\.\d+)*)$")


@dataclass(frozen=True)
class Attachment:
    """One device at one address: what pyusb's backend hands out as a device reference."""

    device: SimDevice
    bus: int
    address: int
    port_path: str

    @property
    def port_numbers(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.port_path.split("-", 1)[1].split("."))


class Scheduler:
    """Runs callbacks after (scaled) delays on daemon timer threads; cancellable."""

    def __init__(self, time_scale: float) -> None:
        self.time_scale = time_scale
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.errors: list[BaseException] = []

    def after(self, seconds: float, func: Callable[..., Any], *args: Any) -> None:
        def run() -> None:
            with self._lock:
                self._timers.discard(timer)
                if self._closed:
                    return
            try:
                func(*args)
            except BaseException as exc:  # keep the simulation alive; tests check .errors
                self.errors.append(exc)

        timer = threading.Timer(max(0.0, seconds * self.time_scale), run)
        timer.daemon = True
        with self._lock:
            if self._closed:
                return
            self._timers.add(timer)
        timer.start()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            timers, self._timers = list(self._timers), set()
        for timer in timers:
            timer.cancel()


class BoardHost(Protocol):
    """The bus as a board sees it: plug, unplug, timers, the transcript."""

    time_scale: float
    transcript: Transcript
    scheduler: Scheduler

    @property
    def boards(self) -> Sequence[Any]: ...
    def attach(self, device: SimDevice, port_path: str) -> Attachment: ...
    def detach(self, device: SimDevice, reason: str = "") -> None: ...


class BackendHost(Protocol):
    """The bus as the pyusb backend sees it: what is attached, and change notification."""

    busnum: int
    changed: threading.Condition

    def attachments(self) -> list[Attachment]: ...
    def is_attached(self, attachment: Attachment) -> bool: ...
    def notify(self) -> None: ...

"""The serving loop: start one board session per new matching board, collect the results.

While boards are being served it re-reads the device list every ``poll_interval``.  While
none is, and a change notifier (libusb hotplug) is available, it sleeps until a Broadcom
device arrives or leaves (re-reading the list at least every ``safety_poll`` seconds), so an
idle rpiboot hardly uses CPU.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from rpiboot.diagnosis import no_board_diagnosis
from rpiboot.engine.session import BoardSession
from rpiboot.errors import TimeoutExpired
from rpiboot.events import Event, Waiting
from rpiboot.options import BootOptions, ServeResult
from rpiboot.usb.devices import DeviceInfo

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from rpiboot.engine.seams import ChangeNotifier, DeviceSource, LinkFactory, NotifierFactory

log = logging.getLogger(__name__)

# Idle with hotplug, the device list is still re-read this often (seconds) in case an event
# is missed; this also bounds how long a ``stop`` set by the caller takes to be noticed.
HOTPLUG_SAFETY_POLL_S = 1.0
JOIN_ON_EXIT_S = 2.0  # how long the loop waits for board sessions once it stops


class ServeLoop:
    """One run of the serving loop (see the module docstring); :meth:`run` returns the
    :class:`ServeResult` (its ``error`` is a TimeoutExpired when no board appeared in time)."""

    def __init__(self, options: BootOptions, devices: DeviceSource, result: ServeResult, *,
                 emit: Callable[[Event], None], stop: threading.Event,
                 open_link: LinkFactory, notifier: NotifierFactory | None,
                 safety_poll: float = HOTPLUG_SAFETY_POLL_S) -> None:
        self.options = options
        self.devices = devices
        self.emit = emit
        self.stop = stop
        self.open_link = open_link
        self.start_notifier = notifier
        self.safety_poll = safety_poll
        self.filter = options.device_filter()
        self.result = result  # filled in as boards end
        self.sessions: dict[str, BoardSession] = {}
        self.handled: dict[str, tuple[str, int, int]] = {}  # port -> identity already handled
        self.last_activity = time.monotonic()
        self.wakeup = threading.Event()  # set by the change notifier

    def run(self) -> ServeResult:
        self.emit(Waiting(None, filters=self.filter.describe()))
        notifier = self.start_notifier(self.wakeup) if self.start_notifier else None
        if notifier is not None:
            log.info("device detection: libusb hotplug events while idle (list re-read every "
                     "%g s), polling every %g s while serving", self._safety_interval(),
                     self.options.poll_interval)
        else:
            log.info("device detection: polling every %g s", self.options.poll_interval)
        try:
            return self._serve(notifier)
        finally:
            if notifier is not None:
                notifier.close()
            self._join_all(JOIN_ON_EXIT_S)

    def _serve(self, notifier: ChangeNotifier | None) -> ServeResult:
        while not self.stop.is_set():
            self.wakeup.clear()  # before the poll: a change during it ends the next wait
            for info in self.devices.poll():
                self._maybe_start(info)
            if self._reap() and not self.options.loop:
                return self.result
            if self._idle_too_long():
                break
            if notifier is not None and notifier.active and not self.sessions:
                notifier.wait(self._hotplug_wait())  # handles libusb events in this thread
                if notifier.stopping:  # closed by the interpreter's exit: touch libusb no more
                    break
            else:  # serving boards, or no hotplug: poll every poll_interval (-m)
                self.stop.wait(self.options.poll_interval)
        return self.result

    def _safety_interval(self) -> float:
        return max(self.safety_poll, self.options.poll_interval)

    def _hotplug_wait(self) -> float:
        """How long to wait for a hotplug event: the safety re-poll, cut short by the
        ``wait_timeout`` deadline."""
        wait = self._safety_interval()
        limit = self.options.wait_timeout
        if limit is not None:
            wait = min(wait, max(0.0, self.last_activity + limit - time.monotonic()))
        return wait

    def _maybe_start(self, info: DeviceInfo) -> None:
        if info.port_path in self.sessions or not self.filter.matches_location(info):
            return
        if self.handled.get(info.port_path) == info.identity:
            return
        if not self.options.loop and self.sessions:
            return
        session = BoardSession(info, self.options, self.devices, self.emit, self.stop,
                               self.open_link)
        self.sessions[info.port_path] = session
        self.handled[info.port_path] = info.identity
        session.start()

    def _reap(self) -> bool:
        """Collect ended sessions; True if one board reached an end (finished or failed)."""
        ended = False
        for port, session in list(self.sessions.items()):
            if session.is_alive():
                continue
            del self.sessions[port]
            self.handled[port] = session.last_identity
            self.last_activity = time.monotonic()
            if session.outcome in ("finished", "failed"):
                self.result.boards.append(session.result)
                ended = True
        if self.sessions:
            self.last_activity = time.monotonic()
        return ended

    def _idle_too_long(self) -> bool:
        """True when loop mode has served boards and then idled for ``wait_timeout``, or
        when no board at all appeared within it (the result's error says so)."""
        limit = self.options.wait_timeout
        if limit is None or self.sessions:
            return False
        if time.monotonic() - self.last_activity < limit:
            return False
        if self.options.loop and self.result.boards:
            return True
        diagnosis = no_board_diagnosis()
        self.result.error = TimeoutExpired(f"no matching board appeared within {limit:g} s",
                                           hint=diagnosis.text())
        self.result.diagnosis = diagnosis
        return True

    def _join_all(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for session in list(self.sessions.values()):
            session.join(max(0.0, deadline - time.monotonic()))
        self._reap()

"""The boot operations API: serve boards (ROM stage, file server) until done.

``serve(options)`` waits for matching Broadcom boot devices, follows each board by its USB
port path through its re-enumerations (boot ROM -> file server -> next stage) and reports
what happens through ``on_event`` callbacks (see :mod:`rpiboot.events`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rpiboot.errors import ExitCode, InputError, RpibootError, TimeoutExpired
from rpiboot.events import BoardRef, Event, Waiting
from rpiboot.protocol.rom import STATUS_WAIT_S
from rpiboot.usb.devices import DeviceFilter, DeviceInfo
from rpiboot.usb.watch import DeviceWatcher

if TYPE_CHECKING:
    import usb.backend

    from rpiboot.protocol.session import BoardSession
    from rpiboot.usb.hotplug import HotplugNotifier

log = logging.getLogger(__name__)

EventCallback = Callable[[Event], None]
# Idle with hotplug, the device list is still re-read this often (seconds) in case an event
# is missed; this also bounds how long a ``stop`` set by the caller takes to be noticed.
HOTPLUG_SAFETY_POLL_S = 1.0


@dataclass(frozen=True)
class BootOptions:
    """What ``rpiboot`` was asked to do (the reference flags plus our additions)."""

    boot_dir: Path | None = None  # -d; None = default firmware found by rpiboot.firmware
    firmware_dir: Path | None = None  # --firmware-dir
    overlay: bool = False  # -o
    signed: bool = False  # -s (BCM2835/7: bootsig.bin's 20 bytes in the boot message)
    loop: bool = False  # -l
    port_path: str | None = None  # -p, exact or shell glob ("1-3.*")
    port_number: int | None = None  # -0 .. -98
    serial: str | None = None  # -i
    metadata: bool = False  # -j given
    metadata_dir: Path | None = None  # -j DIR; None -> only the MetadataReceived event
    wait_timeout: float | None = None  # --timeout: max wait for a board (None = forever)
    stage_timeout: float = 30.0  # one stage incl. waiting for the re-enumerated board
    boot_timeout: float = 300.0  # a whole board boot
    poll_interval: float = 0.02  # device polling interval (-m MICROSECONDS maps here)
    status_wait: float = STATUS_WAIT_S  # wait before reading the ROM status (reference: 1 s)

    def device_filter(self) -> DeviceFilter:
        return DeviceFilter(self.port_path, self.port_number, self.serial)


@dataclass
class ServeResult:
    """Boards that finished their file-server stage, and boards that failed."""

    finished: list[BoardRef] = field(default_factory=list)
    failed: list[tuple[BoardRef, RpibootError]] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        if not self.failed:
            return ExitCode.OK
        codes = {err.exit_code for _, err in self.failed}
        if codes == {ExitCode.TIMEOUT}:
            return ExitCode.TIMEOUT
        if ExitCode.PERMISSION in codes:
            return ExitCode.PERMISSION
        return ExitCode.FAILED


def serve(
    options: BootOptions,
    *,
    backend: usb.backend.IBackend | None = None,
    on_event: EventCallback | None = None,
    stop: threading.Event | None = None,
) -> ServeResult:
    """Serve matching boards until done (see the module docstring and notes/bootapi.md).

    Without ``loop``: returns once one board finished (or failed) its file-server stage;
    raises TimeoutExpired if no matching board appeared within ``wait_timeout``.  With
    ``loop``: serves boards concurrently (one worker thread per port path) until ``stop``
    is set, or until no board was seen for ``wait_timeout`` seconds.
    """
    from rpiboot.firmware import check_firmware_available

    if options.boot_dir is not None and not options.boot_dir.is_dir():
        raise InputError(f"boot directory {options.boot_dir} does not exist",
                         hint="Pass -d with an existing directory holding the boot files.")
    if options.boot_dir is None:
        check_firmware_available(options.firmware_dir)
    if backend is None:
        from rpiboot.usb.backend import load_backend

        backend, description = load_backend()
        log.info("using %s", description)
    server = _Server(options, DeviceWatcher(backend), on_event or (lambda _event: None),
                     stop or threading.Event())
    return server.run()


class _Server:
    """The serving loop: starts one session per new matching board, collects results.

    While boards are being served it re-reads the device list every ``poll_interval``.
    While none is, and libusb has hotplug, it sleeps in libusb's event handling until a
    Broadcom device arrives or leaves (re-reading the list at least every
    HOTPLUG_SAFETY_POLL_S), so an idle rpiboot hardly uses CPU.
    """

    def __init__(self, options: BootOptions, watcher: DeviceWatcher, emit: EventCallback,
                 stop: threading.Event) -> None:
        self.options = options
        self.watcher = watcher
        self.emit = emit
        self.stop = stop
        self.filter = options.device_filter()
        self.result = ServeResult()
        self.sessions: dict[str, BoardSession] = {}
        self.handled: dict[str, tuple[str, int, int]] = {}  # port -> identity already handled
        self.last_activity = time.monotonic()
        self.wakeup = threading.Event()  # set by libusb hotplug events

    def run(self) -> ServeResult:
        self.emit(Waiting(None, filters=self.filter.describe()))
        from rpiboot.usb.hotplug import start_notifier

        notifier = start_notifier(self.watcher.backend, self.wakeup)
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

    def _serve(self, notifier: HotplugNotifier | None) -> ServeResult:
        while not self.stop.is_set():
            self.wakeup.clear()  # before the poll: a change during it ends the next wait
            for info in self.watcher.poll():
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
        self._join_all(timeout=2.0)
        return self.result

    def _safety_interval(self) -> float:
        return max(HOTPLUG_SAFETY_POLL_S, self.options.poll_interval)

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
        from rpiboot.protocol.session import BoardSession  # imported on the first board

        session = BoardSession(info, self.options, self.watcher, self.emit, self.stop)
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
            if session.outcome == "finished":
                self.result.finished.append(session.board)
                ended = True
            elif session.outcome == "failed" and session.error is not None:
                self.result.failed.append((session.board, session.error))
                ended = True
        if self.sessions:
            self.last_activity = time.monotonic()
        return ended

    def _idle_too_long(self) -> bool:
        """True when loop mode has served boards and then idled for ``wait_timeout``;
        TimeoutExpired when no board at all appeared within it."""
        limit = self.options.wait_timeout
        if limit is None or self.sessions:
            return False
        if time.monotonic() - self.last_activity < limit:
            return False
        if self.options.loop and (self.result.finished or self.result.failed):
            return True
        raise TimeoutExpired(
            f"no matching board appeared within {limit:g} s",
            hint="Check that the board is in RPIBOOT mode (nRPIBOOT jumper / button held), "
            "the cable carries data, and the -p/-i filters match.")

    def _join_all(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for session in list(self.sessions.values()):
            session.join(max(0.0, deadline - time.monotonic()))
        self._reap()


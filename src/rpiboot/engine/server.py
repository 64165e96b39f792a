""":class:`Server`: serve boards in a background thread, with typed events and one result.

    with Server(BootOptions(boot_dir=Path("boot"), loop=True)) as server:
        for event in server.events():
            print(event)

Everything that goes wrong while serving, from a missing boot directory to a board that
vanished mid-transfer to no board appearing in time, ends up in the
:class:`~rpiboot.options.ServeResult` (``error`` for the run, ``boards[i].error`` per board)
and as an ``error`` event; nothing is raised from :meth:`Server.wait` or :meth:`Server.run`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator

from rpiboot.engine.loop import HOTPLUG_SAFETY_POLL_S, ServeLoop
from rpiboot.errors import InputError, InternalError, RpibootError
from rpiboot.events import BoardFailed, Event, ServeFailed, TransferProgress
from rpiboot.options import BootOptions, ServeResult

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

    from rpiboot.engine.seams import (
        BoardConnection,
        ChangeNotifier,
        DeviceSource,
        LinkFactory,
        NotifierFactory,
    )
    from rpiboot.usb.devices import DeviceInfo

log = logging.getLogger(__name__)

EventCallback = Callable[[Event], None]
STOP_GRACE_S = 3.0  # after Ctrl-C: how long boards get to close their devices
_END = object()  # marks the end of an events() stream


class Server:
    """Serves matching boards (see :class:`~rpiboot.options.BootOptions`) until done.

    Without ``options.loop`` the server ends once one board finished (or failed) its
    file-server stage; with it, it serves boards concurrently (one worker thread per USB
    port path) until :meth:`stop` is called, or until no board was seen for
    ``options.wait_timeout`` seconds.

    Injection points, for tests and unusual hosts (each has a real default):

    * ``backend``: the pyusb backend (default: libusb chosen by
      :func:`rpiboot.usb.load_backend`; the simulator's ``bus.backend`` works too);
    * ``devices``: the :class:`~rpiboot.engine.seams.DeviceSource` (default: a
      :class:`~rpiboot.usb.watch.DeviceWatcher` over ``backend``);
    * ``open_link``: ``DeviceInfo -> BoardConnection`` (default: a real
      :class:`~rpiboot.usb.link.BoardLink`);
    * ``notifier``: ``threading.Event -> ChangeNotifier | None``, how the idle loop learns
      that a device arrived (default: libusb hotplug where ``backend`` has it; pass
      ``lambda changed: None`` to always poll);
    * ``safety_poll``: while idle with a notifier, the device list is still re-read this
      often (seconds).

    Thread-safe: :meth:`stop`, :meth:`wait` and :meth:`events` may be called from any thread.
    """

    def __init__(self, options: BootOptions | None = None, *, backend: Any = None,
                 on_event: EventCallback | None = None, devices: DeviceSource | None = None,
                 open_link: LinkFactory | None = None,
                 notifier: NotifierFactory | None = None,
                 safety_poll: float = HOTPLUG_SAFETY_POLL_S,
                 stop: threading.Event | None = None) -> None:
        self.options = options or BootOptions()
        self._backend = backend
        self._on_event = on_event
        self._devices = devices
        self._open_link = open_link or default_link
        self._notifier = notifier
        self._safety_poll = safety_poll
        self._stop = stop or threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._subscribers: list[queue.SimpleQueue[object]] = []
        self._thread: threading.Thread | None = None
        self._result: ServeResult | None = None
        self._last_error_code: int | None = None  # of the last event, if it was an error
        self.interrupted = False

    # ------------------------------------------------------------------ life cycle
    def start(self) -> Server:
        """Start serving in a background thread (returns ``self``; call it once)."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("this Server was already started")
            self._thread = threading.Thread(target=self._work, name="rpiboot-serve",
                                            daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the server to stop: boards being served are told to stop and close their
        devices.  Returns at once; :meth:`wait` for the result."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> ServeResult | None:
        """The result once the server ended, or None if it is still serving after
        ``timeout`` seconds (None: wait as long as it takes)."""
        if self._thread is None:
            raise RuntimeError("the Server was not started")
        if not _interruptible_wait(self._done, timeout):
            return None
        return self._result

    def run(self) -> ServeResult:
        """Start, then wait for the result in the calling thread.  Ctrl-C stops the boards
        cleanly (each closes its device) and gives a result with ``interrupted`` set."""
        try:
            self.start()
            result = self.wait()
        except KeyboardInterrupt:  # also right after start(): the stop must still happen
            return self._interrupt()
        assert result is not None
        return result

    @property
    def running(self) -> bool:
        """True between :meth:`start` and the end of serving."""
        return self._thread is not None and not self._done.is_set()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, exc_type: object, *_exc: object) -> None:
        self.stop()
        if exc_type is KeyboardInterrupt:
            self._interrupt()
        else:
            self._done.wait(STOP_GRACE_S)

    # ------------------------------------------------------------------ events
    def events(self, *, timeout: float | None = None) -> Iterator[Event]:
        """An iterator over events as they happen, until the server ends.

        The subscription starts when this is called: call it before :meth:`start` (or
        right after entering ``with``) to see every event.  ``timeout``: stop iterating
        when no event came for that many seconds.
        """
        inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        with self._lock:
            self._subscribers.append(inbox)
            if self._done.is_set():
                inbox.put(_END)
        return self._drain(inbox, timeout)

    def _drain(self, inbox: queue.SimpleQueue[object], timeout: float | None
               ) -> Iterator[Event]:
        try:
            while True:
                item = _interruptible_get(inbox, timeout)
                if item is _END or item is None:
                    return
                assert isinstance(item, Event)
                yield item
        finally:
            with self._lock:
                self._subscribers.remove(inbox)

    def _emit(self, event: Event) -> None:
        if isinstance(event, (BoardFailed, ServeFailed)):
            self._last_error_code = event.exit_code
        elif not isinstance(event, TransferProgress):
            self._last_error_code = None
        if self._on_event is not None:
            self._on_event(event)
        with self._lock:
            for inbox in self._subscribers:
                inbox.put(event)

    # ------------------------------------------------------------------ the work
    def _work(self) -> None:
        result = ServeResult()
        try:
            result = self._serve(result)
        except RpibootError as exc:
            result.error = exc
        except Exception as exc:  # a bug: reported as one, never a hang
            log.debug("internal error in the serving loop", exc_info=True)
            result.error = InternalError(
                f"internal error: {type(exc).__name__}: {exc}",
                hint="This is a bug in rpiboot. Re-run with -vv for the traceback and "
                "report it.")
        finally:
            result.interrupted = self.interrupted
            self._emit_final_error(result)
            self._result = result
            with self._lock:
                self._done.set()
                for inbox in self._subscribers:
                    inbox.put(_END)

    def _emit_final_error(self, result: ServeResult) -> None:
        """Every failed run ends with one ``error`` event whose ``exit_code`` is the run's
        (what ``rpiboot`` exits with): the run's own failure, Ctrl-C (130), or a summary
        when the last board error carries another code (several boards failed)."""
        if result.error is not None:
            err, diagnosis = result.error, result.diagnosis
            self._emit(ServeFailed(None, error=str(err), hint=err.hint,
                                   exit_code=int(err.exit_code),
                                   stage=diagnosis.stage if diagnosis else None,
                                   causes=diagnosis.causes if diagnosis else ()))
        code = int(result.exit_code)
        if code == 0 or self._last_error_code == code:
            return
        if result.interrupted:
            text = "interrupted (Ctrl-C or SIGTERM)"
            hint = "The boards being served were told to stop and closed their devices."
        else:
            failed = result.failed
            text = (f"{len(failed)} of {len(result.boards)} board(s) failed; first: "
                    f"{failed[0][1]}" if failed else "the run failed")
            hint = "See each board's error event above."
        self._emit(ServeFailed(None, error=text, hint=hint, exit_code=code))

    def _serve(self, result: ServeResult) -> ServeResult:
        self._preflight()
        devices = self._devices
        if devices is None:
            backend = self._backend
            if backend is None:
                from rpiboot.usb.backend import load_backend

                backend, description = load_backend()
                log.info("using %s", description)
            devices = default_devices(backend)
            if self._notifier is None:
                self._notifier = default_notifier(backend)
        loop = ServeLoop(self.options, devices, result, emit=self._emit, stop=self._stop,
                         open_link=self._open_link, notifier=self._notifier,
                         safety_poll=self._safety_poll)
        return loop.run()

    def _preflight(self) -> None:
        """Fail before waiting for a board when there is nothing to serve."""
        boot_dir = self.options.boot_dir
        if boot_dir is not None and not boot_dir.is_dir():
            raise InputError(f"boot directory {boot_dir} does not exist",
                             hint="Pass -d with an existing directory holding the boot files.")
        if boot_dir is None:
            from rpiboot.firmware import check_firmware_available

            check_firmware_available(self.options.firmware_dir)

    def _interrupt(self) -> ServeResult:
        """Ctrl-C: stop, give the boards a moment to close their devices, mark the result."""
        self.interrupted = True
        self.stop()
        if self._thread is None or not self._thread.ident:  # interrupted before it started
            result = ServeResult(interrupted=True)
            self._emit_final_error(result)
            self._result = result
            return result
        self._done.wait(STOP_GRACE_S)
        result = self._result or ServeResult()
        result.interrupted = True
        return result


def _interruptible_wait(done: threading.Event, timeout: float | None) -> bool:
    """``done.wait(timeout)`` in slices, so Ctrl-C reaches the main thread on every OS."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
        if left <= 0:
            return done.is_set()
        if done.wait(left):
            return True


def _interruptible_get(inbox: queue.SimpleQueue[object], timeout: float | None) -> object:
    """The next item, waiting in slices (Ctrl-C friendly); None when ``timeout`` passed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
        if left <= 0:
            return None
        try:
            return inbox.get(timeout=left)
        except queue.Empty:
            continue


def default_link(info: DeviceInfo) -> BoardConnection:
    """The real USB link of ``info`` (pyusb)."""
    from rpiboot.usb.link import BoardLink

    return BoardLink(info)


def default_devices(backend: Any) -> DeviceSource:
    """The real device list of a pyusb ``backend``."""
    from rpiboot.usb.watch import DeviceWatcher

    return DeviceWatcher(backend)


def default_notifier(backend: Any) -> NotifierFactory:
    """libusb hotplug on ``backend`` where it has it (None from the factory otherwise)."""

    def start(changed: threading.Event) -> ChangeNotifier | None:
        from rpiboot.usb.hotplug import start_notifier

        return start_notifier(backend, changed)

    return start

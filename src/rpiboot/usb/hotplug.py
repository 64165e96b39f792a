"""Sleep until libusb reports a Broadcom device arriving or leaving (libusb hotplug).

When the pyusb backend is the libusb-1.0 one (it exposes the ctypes library as ``.lib`` and
the context as ``.ctx``) and that libusb has the hotplug capability, :func:`start_notifier`
registers a hotplug callback for the Broadcom vendor id.  The callback only sets a
:class:`threading.Event`.  There is no event thread: the serving loop itself handles libusb
events in :meth:`HotplugNotifier.wait` while no board is being served, so an idle rpiboot
wakes about once a second instead of 50 times.  While boards are served the loop polls as
before and never handles events, so the sessions' synchronous transfers keep handling their
own completions exactly as without hotplug (an event thread that held libusb's event lock
would add a thread hand-off to every transfer).

Everything else (Windows, the in-package simulator, a libusb without hotplug,
``RPIBOOT_NO_HOTPLUG=1``) gets None from :func:`start_notifier` and keeps polling.
"""

from __future__ import annotations

import atexit
import ctypes
import itertools
import logging
import os
import sys
import threading
import time

from rpiboot.chips import BROADCOM_VID

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

log = logging.getLogger(__name__)

NO_HOTPLUG_ENV = "RPIBOOT_NO_HOTPLUG"
LIBUSB_CAP_HAS_HOTPLUG = 0x0001
LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED = 0x01
LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT = 0x02
LIBUSB_HOTPLUG_MATCH_ANY = -1
LIBUSB_ERROR_INTERRUPTED = -10
MAX_EVENT_ERRORS = 5  # consecutive event-handling failures before giving up on hotplug
CLOSE_WAIT_S = 2.0  # close(): longest wait for another thread to leave libusb event handling


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


# int (*)(libusb_context *, libusb_device *, libusb_hotplug_event, void *user_data)
_CALLBACK_TYPE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                  ctypes.c_void_p)
_events_by_key: dict[int, threading.Event] = {}  # user_data -> the event the callback sets
_keys = itertools.count(1)
_live: set[HotplugNotifier] = set()  # registered, not yet closed
_live_lock = threading.Lock()
_atexit_registered = False


def _on_hotplug(_ctx: Any, _device: Any, event_type: int, user_data: int | None) -> int:
    log.debug("libusb hotplug: a Broadcom device %s",
              "arrived" if event_type == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED else "left")
    event = _events_by_key.get(user_data or 0)
    if event is not None:
        event.set()
    return 0  # keep the callback registered


# One C callback for the whole process, never freed: a callback object must outlive every
# registration, and any thread that handles libusb events (a synchronous transfer does) may
# call it.
_C_CALLBACK = _CALLBACK_TYPE(_on_hotplug)


def hotplug_disabled() -> bool:
    """True when ``$RPIBOOT_NO_HOTPLUG`` asks for polling (any value but "" and "0")."""
    return os.environ.get(NO_HOTPLUG_ENV, "") not in ("", "0")


def _declare(lib: Any) -> None:
    """ctypes signatures of the hotplug/event functions (pyusb declares only what it uses)."""
    lib.libusb_has_capability.argtypes = [ctypes.c_uint32]
    lib.libusb_has_capability.restype = ctypes.c_int
    lib.libusb_hotplug_register_callback.argtypes = [
        ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
        _CALLBACK_TYPE, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
    lib.libusb_hotplug_register_callback.restype = ctypes.c_int
    lib.libusb_hotplug_deregister_callback.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.libusb_hotplug_deregister_callback.restype = None
    lib.libusb_handle_events_timeout_completed.argtypes = [
        ctypes.c_void_p, ctypes.POINTER(_Timeval), ctypes.POINTER(ctypes.c_int)]
    lib.libusb_handle_events_timeout_completed.restype = ctypes.c_int


def supports_hotplug(backend: Any) -> bool:
    """True if ``backend`` is pyusb's libusb-1.0 backend on a libusb with hotplug."""
    lib, ctx = getattr(backend, "lib", None), getattr(backend, "ctx", None)
    if lib is None or not ctx or sys.platform == "win32":
        return False
    try:
        _declare(lib)
        return bool(lib.libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG))
    except AttributeError as exc:  # a libusb too old for hotplug
        log.debug("libusb lacks hotplug functions: %s", exc)
        return False


class HotplugNotifier:
    """Sets ``changed`` when a Broadcom device arrives or leaves; :meth:`close` it."""

    def __init__(self, backend: Any, changed: threading.Event) -> None:
        self.lib = backend.lib
        self.ctx = backend.ctx
        self.changed = changed
        self.failed = False  # event handling broke: the caller should poll instead
        self.stopping = False  # close() began: wait() no longer handles events
        self._registered = False
        self._errors = 0
        self._key = next(_keys)
        self._handle = ctypes.c_int(0)
        self._busy = threading.Lock()  # held while a thread is inside libusb event handling

    @property
    def active(self) -> bool:
        return not self.failed and not self.stopping

    def register(self) -> bool:
        """Register the libusb callback; False (and nothing registered) if libusb refuses."""
        _events_by_key[self._key] = self.changed
        status = self.lib.libusb_hotplug_register_callback(
            self.ctx, LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT, 0,
            BROADCOM_VID, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, _C_CALLBACK,
            ctypes.c_void_p(self._key), ctypes.pointer(self._handle))
        if status != 0:
            del _events_by_key[self._key]
            self.stopping = True
            log.debug("libusb_hotplug_register_callback failed (%d): polling instead", status)
            return False
        self._registered = True
        with _live_lock:
            _live.add(self)
        return True

    def wait(self, timeout: float) -> bool:
        """Handle libusb events in this thread until ``changed`` is set, ``timeout`` seconds
        passed or :meth:`close` is called; True if ``changed`` is set.  Only call it while
        no other thread does transfers, or they would wait on this thread to complete them."""
        deadline = time.monotonic() + max(0.0, timeout)
        while self.active and not self.changed.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            whole = int(left)
            with self._busy:
                if self.stopping:
                    break
                status = self.lib.libusb_handle_events_timeout_completed(
                    self.ctx, ctypes.byref(_Timeval(whole, int((left - whole) * 1e6))), None)
            if status in (0, LIBUSB_ERROR_INTERRUPTED):
                self._errors = 0
                continue
            self._errors += 1
            log.debug("libusb event handling failed (%d)", status)
            if self._errors >= MAX_EVENT_ERRORS:
                log.warning("libusb event handling failed %d times in a row; polling the "
                            "device list instead of waiting for hotplug events", self._errors)
                self.failed = True
            break  # let the caller re-poll before trying again
        return self.changed.is_set()

    def close(self) -> None:
        """Deregister the callback, first waking a :meth:`wait` in another thread out of
        libusb (idempotent; safe from any thread)."""
        self.stopping = True
        if not self._busy.acquire(blocking=False):
            interrupt = getattr(self.lib, "libusb_interrupt_event_handler", None)
            if interrupt is not None:  # libusb >= 1.0.21; else the wait's timeout ends it
                interrupt.argtypes, interrupt.restype = [ctypes.c_void_p], None
                interrupt(self.ctx)
            if not self._busy.acquire(timeout=CLOSE_WAIT_S):
                log.debug("libusb event handling did not return within %g s", CLOSE_WAIT_S)
                return
        try:
            if self._registered:
                self._registered = False
                _events_by_key.pop(self._key, None)
                self.lib.libusb_hotplug_deregister_callback(self.ctx, self._handle.value)
        finally:
            self._busy.release()
            with _live_lock:
                _live.discard(self)


def start_notifier(backend: Any, changed: threading.Event) -> HotplugNotifier | None:
    """A registered notifier that sets ``changed`` on Broadcom hotplug events, or None when
    hotplug is unavailable or disabled (the caller then polls)."""
    if hotplug_disabled():
        log.debug("%s is set: polling the device list", NO_HOTPLUG_ENV)
        return None
    if not supports_hotplug(backend):
        return None
    _close_at_exit()
    notifier = HotplugNotifier(backend, changed)
    return notifier if notifier.register() else None


def _close_at_exit() -> None:
    """Have atexit close live notifiers, registered once after the backend exists: pyusb
    frees the libusb context from a weakref.finalize exit hook registered when the backend
    was made, atexit runs later registrations first, and a thread still inside libusb's
    event handling at libusb_exit aborts the process (a daemon serving thread can be there
    when the main thread exits, e.g. on Ctrl-C)."""
    global _atexit_registered
    with _live_lock:
        if not _atexit_registered:
            atexit.register(_close_live_notifiers)
            _atexit_registered = True


def _close_live_notifiers() -> None:
    with _live_lock:
        live = list(_live)
    for notifier in live:
        notifier.close()

"""Wake the serving loop when libusb reports a Broadcom device arriving or leaving.

When the pyusb backend is the libusb-1.0 one (it exposes the ctypes library as ``.lib`` and
the context as ``.ctx``) and that libusb has the hotplug capability, :func:`start_notifier`
registers a hotplug callback for the Broadcom vendor id and runs one daemon thread that
handles libusb events (libusb's documented "one event thread" pattern: synchronous
transfers in other threads keep working, they are woken when this thread completes them).
The callback only sets a :class:`threading.Event`; the serving loop re-reads the device list
when it fires.  Everything else (Windows, the in-package simulator, a libusb without
hotplug, ``RPIBOOT_NO_HOTPLUG=1``) gets None and keeps polling.
"""

from __future__ import annotations

import atexit
import ctypes
import itertools
import logging
import os
import sys
import threading
from typing import Any

from rpiboot.chips import BROADCOM_VID

log = logging.getLogger(__name__)

NO_HOTPLUG_ENV = "RPIBOOT_NO_HOTPLUG"
LIBUSB_CAP_HAS_HOTPLUG = 0x0001
LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED = 0x01
LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT = 0x02
LIBUSB_HOTPLUG_MATCH_ANY = -1
LIBUSB_ERROR_INTERRUPTED = -10
EVENT_TIMEOUT_S = 2.0  # the event thread's longest sleep in libusb (close() wakes it)
MAX_EVENT_ERRORS = 5  # consecutive event-handling failures before giving up on hotplug


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


# int (*)(libusb_context *, libusb_device *, libusb_hotplug_event, void *user_data)
_CALLBACK_TYPE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                  ctypes.c_void_p)
_events_by_key: dict[int, threading.Event] = {}  # user_data -> the event the callback sets
_keys = itertools.count(1)
_live: set[HotplugNotifier] = set()
_live_lock = threading.Lock()
_atexit_registered = False


def _on_hotplug(_ctx: Any, _device: Any, event_type: int, user_data: int | None) -> int:
    log.debug("libusb hotplug: a Broadcom device %s",
              "arrived" if event_type == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED else "left")
    event = _events_by_key.get(user_data or 0)
    if event is not None:
        event.set()
    return 0  # keep the callback registered


# One C callback for the whole process, never freed: libusb may still hold a pointer to it
# briefly after a deregistration.
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


def _supports_hotplug(backend: Any) -> bool:
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
    """Sets ``changed`` whenever a Broadcom device arrives or leaves; :meth:`close` it."""

    def __init__(self, backend: Any, changed: threading.Event) -> None:
        self.lib = backend.lib
        self.ctx = backend.ctx
        self.changed = changed
        self.failed = False  # event handling broke: the caller should poll instead
        self._closing = threading.Event()
        self._key = next(_keys)
        self._handle = ctypes.c_int(0)
        self._thread = threading.Thread(target=self._handle_events, name="rpiboot-hotplug",
                                        daemon=True)

    @property
    def active(self) -> bool:
        return not self.failed and not self._closing.is_set()

    def _register(self) -> bool:
        _events_by_key[self._key] = self.changed
        status = self.lib.libusb_hotplug_register_callback(
            self.ctx, LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT, 0,
            BROADCOM_VID, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, _C_CALLBACK,
            ctypes.c_void_p(self._key), ctypes.pointer(self._handle))
        if status != 0:
            del _events_by_key[self._key]
            log.debug("libusb_hotplug_register_callback failed (%d): polling instead", status)
            return False
        with _live_lock:
            _live.add(self)
        self._thread.start()
        return True

    def _handle_events(self) -> None:
        timeout = _Timeval(int(EVENT_TIMEOUT_S), int(EVENT_TIMEOUT_S % 1 * 1e6))
        errors = 0
        while not self._closing.is_set():
            status = self.lib.libusb_handle_events_timeout_completed(
                self.ctx, ctypes.byref(timeout), None)
            if status in (0, LIBUSB_ERROR_INTERRUPTED):
                errors = 0
                continue
            errors += 1
            log.debug("libusb event handling failed (%d)", status)
            if errors >= MAX_EVENT_ERRORS:
                log.warning("libusb hotplug events failed %d times in a row; polling the "
                            "device list instead", errors)
                self.failed = True
                self.changed.set()  # let the serving loop notice and switch to polling
                return
            self._closing.wait(EVENT_TIMEOUT_S)

    def close(self) -> None:
        """Deregister the callback and stop the event thread (idempotent)."""
        if self._closing.is_set():
            return
        self._closing.set()
        _events_by_key.pop(self._key, None)
        self.lib.libusb_hotplug_deregister_callback(self.ctx, self._handle.value)
        interrupt = getattr(self.lib, "libusb_interrupt_event_handler", None)
        if interrupt is not None:  # libusb >= 1.0.21; deregistering wakes it too
            interrupt.argtypes, interrupt.restype = [ctypes.c_void_p], None
            interrupt(self.ctx)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(EVENT_TIMEOUT_S + 1.0)
        with _live_lock:
            _live.discard(self)


def start_notifier(backend: Any, changed: threading.Event) -> HotplugNotifier | None:
    """A running notifier that sets ``changed`` on Broadcom hotplug events, or None when
    hotplug is unavailable or disabled (the caller then polls)."""
    if hotplug_disabled():
        log.debug("%s is set: polling the device list", NO_HOTPLUG_ENV)
        return None
    if not _supports_hotplug(backend):
        return None
    _close_at_exit()
    notifier = HotplugNotifier(backend, changed)
    return notifier if notifier._register() else None


def _close_at_exit() -> None:
    """Register :func:`_close_live_notifiers` with atexit once, after the backend exists:
    pyusb frees the libusb context from a weakref.finalize exit hook registered when the
    backend was made, and atexit runs the later registration first."""
    global _atexit_registered
    with _live_lock:
        if not _atexit_registered:
            atexit.register(_close_live_notifiers)
            _atexit_registered = True


def _close_live_notifiers() -> None:
    """Stop event threads before pyusb's exit handler frees the libusb context under them."""
    with _live_lock:
        live = list(_live)
    for notifier in live:
        notifier.close()

"""Hotplug-driven device detection: when it is used, when it falls back to polling, and the
serving loop on a (fake) hotplug-capable libusb over the simulator."""

from __future__ import annotations

import ctypes
import threading
import time
from typing import Any

import pytest
from core_simkit import FAST_OPTIONS, TIME_SCALE, scenario_for

from rpiboot import BootOptions, Server
from rpiboot.engine.server import default_notifier
from rpiboot.errors import ExitCode, TimeoutExpired
from rpiboot.sim import Scenario, VirtualBus
from rpiboot.usb import hotplug
from rpiboot.usb.hotplug import (
    LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED,
    MAX_EVENT_ERRORS,
    NO_HOTPLUG_ENV,
    start_notifier,
    supports_hotplug,
)
from rpiboot.usb.watch import DeviceWatcher

SESSION_THREAD_PREFIX = "rpiboot-1-"  # BoardSession threads are named rpiboot-<port path>


class _Func:
    """A stand-in for a ctypes foreign function: callable, accepts argtypes/restype."""

    def __init__(self, func: Any) -> None:
        self.func = func

    def __call__(self, *args: Any) -> Any:
        return self.func(*args)


class FakeLibusb:
    """The libusb calls the notifier makes, recorded.  ``handle_events`` blocks like libusb
    (until ``fire``/``interrupt`` or the timeout) and calls the registered callback."""

    def __init__(self, *, capable: bool = True, register_status: int = 0,
                 events_status: int = 0, bus: VirtualBus | None = None) -> None:
        self.bus = bus
        self.registered: list[tuple[Any, ...]] = []
        self.deregistered: list[int] = []
        self.timeouts: list[float] = []
        self.sessions_alive_during_events = 0
        self.pending = threading.Event()  # a hotplug event libusb has not dispatched yet
        self.interrupted = threading.Event()
        self.events_status = events_status
        self.libusb_has_capability = _Func(lambda _cap: int(capable))
        self.libusb_hotplug_register_callback = _Func(
            lambda *args: self._register(register_status, *args))
        self.libusb_hotplug_deregister_callback = _Func(
            lambda _ctx, handle: self.deregistered.append(handle))
        self.libusb_handle_events_timeout_completed = _Func(self._handle_events)
        self.libusb_interrupt_event_handler = _Func(lambda _ctx: self.interrupted.set())

    def _register(self, status: int, *args: Any) -> int:
        if status == 0:
            args[-1].contents.value = 1234  # libusb writes the callback handle
            self.registered.append(args)
        return status

    def fire(self, event_type: int = LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED) -> None:
        """Call the registered callback as libusb's event handling does."""
        _ctx, _events, _flags, _vid, _pid, _cls, callback, user_data, _handle = self.registered[-1]
        assert callback(None, None, event_type, user_data.value) == 0

    def _handle_events(self, _ctx: Any, timeval_ref: Any, _completed: Any) -> int:
        timeval = timeval_ref._obj  # the _Timeval behind ctypes.byref()
        timeout = timeval.tv_sec + timeval.tv_usec / 1e6
        self.timeouts.append(timeout)
        if any(t.name.startswith(SESSION_THREAD_PREFIX) for t in threading.enumerate()):
            self.sessions_alive_during_events += 1
        if self.events_status != 0:
            return self.events_status
        if self.bus is not None:
            return self._dispatch_bus_changes(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.interrupted.is_set():
            if self.pending.wait(min(0.01, max(0.0, deadline - time.monotonic()))):
                self.pending.clear()
                self.fire()
                return 0
        self.interrupted.clear()
        return 0

    def _dispatch_bus_changes(self, timeout: float) -> int:
        """Fire the callback when the simulated bus's set of devices changes."""
        assert self.bus is not None

        def snapshot() -> set[tuple[str, int]]:
            return {(a.port_path, a.address) for a in self.bus.attachments()}

        before = snapshot()
        deadline = time.monotonic() + timeout
        with self.bus.changed:
            while snapshot() == before and not self.interrupted.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return 0
                self.bus.changed.wait(left)
        if self.interrupted.is_set():
            self.interrupted.clear()
            return 0
        self.fire()
        return 0


def _backend(lib: Any, ctx: Any = 1) -> Any:
    class Backend:
        pass

    backend = Backend()
    backend.lib, backend.ctx = lib, ctx
    return backend


@pytest.fixture(autouse=True)
def _hotplug_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NO_HOTPLUG_ENV, raising=False)


# ------------------------------------------------------------------ when hotplug is used
def test_backends_without_lib_or_ctx_poll() -> None:
    changed = threading.Event()
    assert start_notifier(object(), changed) is None
    assert start_notifier(_backend(FakeLibusb(), ctx=None), changed) is None
    with VirtualBus() as bus:
        assert not supports_hotplug(bus.backend)
        assert start_notifier(bus.backend, changed) is None


def test_libusb_without_the_capability_polls() -> None:
    lib = FakeLibusb(capable=False)
    assert start_notifier(_backend(lib), threading.Event()) is None
    assert lib.registered == []


def test_libusb_without_hotplug_functions_polls() -> None:
    lib = FakeLibusb()
    del lib.libusb_hotplug_register_callback
    assert start_notifier(_backend(lib), threading.Event()) is None


def test_refused_registration_polls() -> None:
    lib = FakeLibusb(register_status=-12)  # LIBUSB_ERROR_NOT_SUPPORTED
    assert start_notifier(_backend(lib), threading.Event()) is None


@pytest.mark.parametrize(("value", "polls"), [("1", True), ("yes", True), ("0", False),
                                              ("", False)])
def test_env_var_forces_polling(monkeypatch: pytest.MonkeyPatch, value: str,
                                polls: bool) -> None:
    monkeypatch.setenv(NO_HOTPLUG_ENV, value)
    lib = FakeLibusb()
    notifier = start_notifier(_backend(lib), threading.Event())
    assert (notifier is None) is polls
    assert len(lib.registered) == (0 if polls else 1)
    if notifier is not None:
        notifier.close()


# ------------------------------------------------------------------ the notifier itself
def test_registration_asks_for_broadcom_arrivals_and_departures() -> None:
    lib = FakeLibusb()
    notifier = start_notifier(_backend(lib), threading.Event())
    assert notifier is not None
    _ctx, events, flags, vid, pid, dev_class, *_rest = lib.registered[0]
    assert (events, flags, vid, pid, dev_class) == (0x01 | 0x02, 0, 0x0A5C, -1, -1)
    notifier.close()


def test_callback_sets_the_event_and_close_deregisters_its_handle() -> None:
    lib, changed = FakeLibusb(), threading.Event()
    notifier = start_notifier(_backend(lib), changed)
    assert notifier is not None and notifier.active
    lib.pending.set()
    assert notifier.wait(30.0) is True and changed.is_set()
    notifier.close()
    assert lib.deregistered == [1234] and not notifier.active
    changed.clear()
    lib.fire()  # a late call of the C callback no longer reaches this notifier
    assert not changed.is_set()
    notifier.close()  # idempotent
    assert lib.deregistered == [1234]


def test_wait_without_events_returns_false_within_its_timeout() -> None:
    lib = FakeLibusb()
    notifier = start_notifier(_backend(lib), threading.Event())
    assert notifier is not None
    assert notifier.wait(0.05) is False
    assert lib.timeouts and max(lib.timeouts) <= 0.05
    notifier.close()


def test_repeated_event_errors_fall_back_to_polling() -> None:
    lib = FakeLibusb(events_status=-1)  # LIBUSB_ERROR_IO
    notifier = start_notifier(_backend(lib), threading.Event())
    assert notifier is not None
    for _ in range(MAX_EVENT_ERRORS - 1):
        notifier.wait(1.0)
        assert notifier.active
    notifier.wait(1.0)
    assert notifier.failed and not notifier.active
    assert len(lib.timeouts) == MAX_EVENT_ERRORS  # one attempt per wait, never a spin
    notifier.close()


def test_close_from_another_thread_interrupts_a_wait() -> None:
    lib = FakeLibusb()
    notifier = start_notifier(_backend(lib), threading.Event())
    assert notifier is not None
    entered = threading.Event()
    original = lib.libusb_handle_events_timeout_completed.func

    def handle_events(*args: Any) -> int:
        entered.set()
        return original(*args)

    lib.libusb_handle_events_timeout_completed.func = handle_events
    waiter = threading.Thread(target=notifier.wait, args=(60.0,))
    waiter.start()
    assert entered.wait(10)
    notifier.close()
    waiter.join(10)
    assert not waiter.is_alive()
    assert lib.deregistered == [1234]


def test_exit_hook_closes_live_notifiers() -> None:
    lib = FakeLibusb()
    notifier = start_notifier(_backend(lib), threading.Event())
    assert notifier is not None
    hotplug._close_live_notifiers()
    assert notifier.stopping and lib.deregistered == [1234]


def test_timeval_struct_matches_the_platform_c_long() -> None:
    assert ctypes.sizeof(hotplug._Timeval) == 2 * ctypes.sizeof(ctypes.c_long)


# ------------------------------------------------------------------ the serving loop
class CountingDevices:
    """A DeviceSource (the engine's seam) that records when the list is re-read."""

    def __init__(self, backend: Any) -> None:
        self.watcher = DeviceWatcher(backend)
        self.polls: list[float] = []

    def poll(self) -> list[Any]:
        self.polls.append(time.monotonic())
        return self.watcher.poll()

    def wait_for(self, port_path: str, **kwargs: Any) -> Any:
        return self.watcher.wait_for(port_path, **kwargs)


def test_sim_backend_serves_by_polling_as_before(tmp_path: Any) -> None:
    """The simulator's backend has no libusb: the default notifier factory gives None and
    the loop polls every poll_interval."""
    with VirtualBus() as bus:
        assert default_notifier(bus.backend)(threading.Event()) is None
    spec = scenario_for("cm4")
    scenario = Scenario.load(spec, tmp_path, time_scale=TIME_SCALE)
    devices = CountingDevices(scenario.bus.backend)
    scenario.bus.start()
    try:
        result = Server(BootOptions(boot_dir=scenario.bootdir, **FAST_OPTIONS),
                        devices=devices, notifier=default_notifier(scenario.bus.backend)).run()
    finally:
        scenario.bus.close()
    assert result.exit_code == ExitCode.OK and scenario.bus.problems() == []
    assert len(devices.polls) >= 3  # polled, not woken by events


def test_idle_loop_sleeps_until_a_hotplug_event(tmp_path: Any) -> None:
    """A board plugged later is found through the hotplug callback, not by polling; libusb
    events are never handled by the loop while a board session runs."""
    spec = scenario_for("cm4")
    spec["devices"][0]["attach_at"] = 10.0  # 0.2 s at the tests' time scale
    scenario = Scenario.load(spec, tmp_path, time_scale=TIME_SCALE)
    fake = FakeLibusb(bus=scenario.bus)
    devices = CountingDevices(scenario.bus.backend)
    attached: list[float] = []

    def record(event: Any) -> None:
        if event.kind == "attached":
            attached.append(time.monotonic())

    scenario.bus.start()
    try:
        result = Server(BootOptions(boot_dir=scenario.bootdir, **FAST_OPTIONS),
                        devices=devices, on_event=record, safety_poll=120.0,
                        notifier=default_notifier(_backend(fake))).run()
    finally:
        scenario.bus.close()
    assert result.exit_code == ExitCode.OK and scenario.bus.problems() == []
    # before the board: the first poll, then one per hotplug wake-up (not one per 5 ms)
    assert 1 <= len([t for t in devices.polls if t < attached[0]]) <= 3
    assert fake.registered and fake.deregistered == [1234]
    assert fake.sessions_alive_during_events == 0


def test_idle_hotplug_wait_still_honours_the_timeout(tmp_path: Any) -> None:
    lib = FakeLibusb()
    with VirtualBus() as bus:
        options = BootOptions(boot_dir=tmp_path, wait_timeout=0.2)
        result = Server(options, devices=DeviceWatcher(bus.backend), safety_poll=120.0,
                        notifier=default_notifier(_backend(lib))).run()
    assert isinstance(result.error, TimeoutExpired)
    assert result.exit_code == ExitCode.TIMEOUT
    assert lib.timeouts and max(lib.timeouts) <= 0.2
    assert lib.deregistered == [1234]

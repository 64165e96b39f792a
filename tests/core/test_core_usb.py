"""USB layer: port paths, filters, error mapping, libusb selection, listing through the sim."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import usb.core
from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot.errors import BootError, DeviceGone, InputError, PermissionDenied, TimeoutExpired
from rpiboot.sim import VirtualBus
from rpiboot.usb import DeviceFilter, DeviceInfo, list_devices, load_backend
from rpiboot.usb.backend import LIBUSB_ENV
from rpiboot.usb.devices import port_path_of
from rpiboot.usb.link import UDEV_RULE, translate_usb_error


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 255), st.lists(st.integers(1, 15), min_size=1, max_size=7))
def test_port_path_format(bus: int, ports: list[int]) -> None:
    path = port_path_of(bus, tuple(ports), ports[-1])
    head, chain = path.split("-")
    assert int(head) == bus and [int(p) for p in chain.split(".")] == ports


def test_port_path_without_port_numbers_uses_port_number() -> None:
    assert port_path_of(2, None, 5) == "2-5"


def _info(port_path: str, port_number: int) -> DeviceInfo:
    return DeviceInfo(0x0A5C, 0x2711, 1, 9, port_path, port_number, 3, device=None)


@pytest.mark.parametrize(("pattern", "path", "expected"), [
    ("1-1", "1-1", True), ("1-1", "1-1.2", False), ("1-3.*", "1-3.2", True),
    ("1-3.*", "1-3", False), ("1-[12]", "1-2", True), ("1-?", "1-10", False),
])
def test_port_path_filter(pattern: str, path: str, expected: bool) -> None:
    assert DeviceFilter(port_path=pattern).matches_location(_info(path, 1)) is expected


def test_port_number_and_serial_filters() -> None:
    assert DeviceFilter(port_number=2).matches_location(_info("1-3.2", 2))
    assert not DeviceFilter(port_number=2).matches_location(_info("1-2.3", 3))
    assert DeviceFilter(serial="abc").matches_serial("abc")
    assert not DeviceFilter(serial="abc").matches_serial(None)
    assert DeviceFilter().matches_serial(None)
    assert DeviceFilter(port_path="1-*", serial="x").describe() == {"port_path": "1-*",
                                                                    "serial": "x"}


@pytest.mark.parametrize(("exc", "kind"), [
    (usb.core.USBTimeoutError("t", -7, errno.ETIMEDOUT), TimeoutExpired),
    (usb.core.USBError("denied", -3, errno.EACCES), PermissionDenied),
    (usb.core.USBError("gone", -4, errno.ENODEV), DeviceGone),
    (usb.core.USBError("io", -1, errno.EIO), DeviceGone),
    (usb.core.USBError("pipe", -9, errno.EPIPE), DeviceGone),
    (usb.core.USBError("busy", -6, errno.EBUSY), BootError),
])
def test_usb_errors_are_translated(exc: Exception, kind: type) -> None:
    error = translate_usb_error(exc, "USB device 0a5c:2711 at 1-1")
    assert type(error) is kind
    assert "1-1" in str(error) and error.hint


def test_permission_hint_has_udev_rule_on_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.platform", "linux")
    error = translate_usb_error(usb.core.USBError("denied", -3, errno.EACCES), "dev")
    assert UDEV_RULE in error.hint and "plugdev" in error.hint
    monkeypatch.setattr("sys.platform", "win32")
    error = translate_usb_error(usb.core.USBError("denied", -3, errno.EACCES), "dev")
    assert "WinUSB" in error.hint and "Zadig" in error.hint


def test_libusb_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(LIBUSB_ENV, str(tmp_path / "nope.so"))
    with pytest.raises(InputError, match=LIBUSB_ENV):
        load_backend()
    system = Path("/usr/lib/x86_64-linux-gnu/libusb-1.0.so.0")
    if system.exists():  # a fresh process: pyusb keeps the first libusb it loads
        code = "from rpiboot.usb import load_backend; print(load_backend()[1])"
        out = subprocess.run([sys.executable, "-c", code], check=True, text=True,
                             capture_output=True, env={**os.environ, LIBUSB_ENV: str(system)})
        assert out.stdout.strip() == f"libusb from {LIBUSB_ENV} ({system})"


def test_default_backend_loads_some_libusb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LIBUSB_ENV, raising=False)
    backend, description = load_backend()
    assert backend is not None and "libusb" in description


def test_bundled_library_found_without_importing_libusb_package() -> None:
    code = ("import sys; from rpiboot.usb.backend import bundled_library_path; "
            "path = bundled_library_path(); print(path, 'libusb_package' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=True, text=True,
                         capture_output=True).stdout.split()
    libusb_package = pytest.importorskip("libusb_package")
    assert out == [str(libusb_package.get_library_path()), "False"]


def test_listing_skips_other_vendors_and_non_boot_pids() -> None:
    from rpiboot.sim.usbmodel import DeviceDesc, SimDevice, boot_config

    with VirtualBus(time_scale=0.01) as bus:
        bus.add_board({"id": "cm4", "port": "1-2", "rom": {"pid": "2711"}})
        bus.start()
        for port, vid, pid in (("1-3", 0x0525, 0xA4A5), ("1-4", 0x0A5C, 0x21E8)):
            bus.attach(SimDevice(f"x{port}", "msd", DeviceDesc(vid, pid), boot_config(False),
                                 {}, bus.transcript), port)
        found = list_devices(bus.backend)
        assert [(d.port_path, d.pid, d.stage) for d in found] == [("1-2", 0x2711, "rom")]
        assert found[0].chip is not None and found[0].chip.family == "BCM2711"
        assert bus.transcript.events("open") == []  # listing opens nothing

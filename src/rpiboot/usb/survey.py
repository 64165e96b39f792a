"""Every USB device libusb lists, from cached descriptors only (for ``rpiboot doctor``).

Nothing is opened or claimed: libusb keeps each device's descriptor, bus, address, port
numbers and speed from enumeration, and its configuration descriptor (for a hub's
self-powered bit) from the same cache on Linux, macOS and Windows.  Also: which libusb
version is loaded.
"""

from __future__ import annotations

import ctypes
import logging

from rpiboot.record import record
from rpiboot.usb.devices import port_path_of

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

log = logging.getLogger(__name__)

HUB_CLASS = 9
SELF_POWERED = 0x40  # bmAttributes bit of a configuration descriptor
# libusb_speed -> Mb/s (LIBUSB_SPEED_LOW .. LIBUSB_SPEED_SUPER_PLUS_X2)
SPEEDS_MBPS: dict[int, float] = {1: 1.5, 2: 12, 3: 480, 4: 5000, 5: 10000, 6: 20000}


@record
class Sighting:
    """One device as libusb lists it."""

    vid: int
    pid: int
    bus: int
    address: int
    port_path: str
    serial_index: int
    product_index: int
    device_class: int
    speed_mbps: float | None  # None: libusb does not know
    self_powered: bool | None = None  # hubs only: the configuration's self-powered bit

    @property
    def vid_pid(self) -> str:
        return f"{self.vid:04x}:{self.pid:04x}"

    @property
    def is_hub(self) -> bool:
        return self.device_class == HUB_CLASS


def _self_powered(backend: Any, handle: Any) -> bool | None:
    try:
        config = backend.get_configuration_descriptor(handle, 0)
    except Exception as exc:  # a descriptor libusb cannot give: unknown
        log.debug("configuration descriptor unreadable: %s", exc)
        return None
    return bool(config.bmAttributes & SELF_POWERED)


def _sighting(backend: Any, handle: Any) -> Sighting:
    desc = backend.get_device_descriptor(handle)
    ports = tuple(getattr(desc, "port_numbers", None) or ())
    bus = getattr(desc, "bus", None) or 0
    speed = getattr(desc, "speed", None)
    is_hub = desc.bDeviceClass == HUB_CLASS
    return Sighting(
        vid=desc.idVendor, pid=desc.idProduct, bus=bus,
        address=getattr(desc, "address", None) or 0,
        port_path=port_path_of(bus, ports, getattr(desc, "port_number", None)),
        serial_index=desc.iSerialNumber, product_index=desc.iProduct,
        device_class=desc.bDeviceClass, speed_mbps=SPEEDS_MBPS.get(speed or 0),
        self_powered=_self_powered(backend, handle) if is_hub and ports else None)


def survey(backend: Any) -> list[Sighting]:
    """Every device on every bus (root hubs included), from libusb's cache."""
    found = []
    for handle in backend.enumerate_devices():
        try:
            found.append(_sighting(backend, handle))
        except Exception as exc:  # vanished while listing: leave it out
            log.debug("device descriptor unreadable: %s", exc)
    return found


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint16), ("minor", ctypes.c_uint16),
                ("micro", ctypes.c_uint16), ("nano", ctypes.c_uint16),
                ("rc", ctypes.c_char_p), ("describe", ctypes.c_char_p)]


def libusb_version(backend: Any) -> str | None:
    """"1.0.26" (with its release-candidate suffix, if any), or None when unknown."""
    lib = getattr(backend, "lib", None)
    try:
        get_version = lib.libusb_get_version  # type: ignore[union-attr]
    except AttributeError:
        return None
    get_version.argtypes = []
    get_version.restype = ctypes.POINTER(_Version)
    version = get_version().contents
    rc = (version.rc or b"").decode(errors="replace")
    return f"{version.major}.{version.minor}.{version.micro}{rc}"

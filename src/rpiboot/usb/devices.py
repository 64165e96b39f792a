"""List Broadcom boot devices by USB port path and apply the user's filters (-p, -N, -i)."""

from __future__ import annotations

import fnmatch
import logging

from rpiboot.chips import BROADCOM_VID, Chip, chip_for, is_rom_stage
from rpiboot.record import field, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

log = logging.getLogger(__name__)


def port_path_of(bus: int | None, port_numbers: tuple[int, ...] | None, port: int | None) -> str:
    """The reference's USB path "BUS-P.P.P" (e.g. "1-1.3.2")."""
    ports = tuple(port_numbers or ())
    if not ports and port:
        ports = (port,)
    chain = ".".join(str(p) for p in ports) if ports else "0"
    return f"{bus or 0}-{chain}"


@record
class DeviceInfo:
    """One enumerated Broadcom boot device (nothing opened yet)."""

    vid: int
    pid: int
    bus: int
    address: int
    port_path: str
    port_number: int
    serial_index: int
    device: Any = field(compare=False, repr=False)  # the usb.core.Device

    @property
    def chip(self) -> Chip | None:
        return chip_for(self.pid) if self.vid == BROADCOM_VID else None

    @property
    def is_rom(self) -> bool:
        return is_rom_stage(self.serial_index)

    @property
    def stage(self) -> str:
        return "rom" if self.is_rom else "fileserver"

    @property
    def identity(self) -> tuple[str, int, int]:
        """Changes on every re-enumeration (new address), stable while the device stays."""
        return self.port_path, self.bus, self.address

    @property
    def vid_pid(self) -> str:
        return f"{self.vid:04x}:{self.pid:04x}"


def _describe(desc: Any, device: Any) -> DeviceInfo:
    port_numbers = getattr(desc, "port_numbers", None)
    port = getattr(desc, "port_number", None) or 0
    ports = tuple(port_numbers) if port_numbers else ()
    bus = getattr(desc, "bus", None) or 0
    return DeviceInfo(
        vid=desc.idVendor,
        pid=desc.idProduct,
        bus=bus,
        address=getattr(desc, "address", None) or 0,
        port_path=port_path_of(bus, ports, port),
        port_number=ports[-1] if ports else port,
        serial_index=desc.iSerialNumber,
        device=device,
    )


def list_devices(backend: Any) -> list[DeviceInfo]:
    """Every Broadcom device with a known boot PID on the bus, fresh from the backend.

    Only device descriptors are read (libusb caches them): nothing is opened, and no
    pyusb ``Device`` object is built for other vendors' devices, so polling stays cheap.
    """
    import usb.core

    found: list[DeviceInfo] = []
    for handle in backend.enumerate_devices():
        try:
            desc = backend.get_device_descriptor(handle)
        except usb.core.USBError as exc:  # vanished between listing and reading
            log.debug("descriptor unreadable: %s", exc)
            continue
        if desc.idVendor != BROADCOM_VID or chip_for(desc.idProduct) is None:
            continue
        found.append(_describe(desc, usb.core.Device(handle, backend)))
    return found


@record
class DeviceFilter:
    """The reference's selection flags: -p PATH (exact or glob), -N port number, -i SERIAL."""

    port_path: str | None = None
    port_number: int | None = None
    serial: str | None = None

    def matches_location(self, info: DeviceInfo) -> bool:
        """-p and -N, which need no access to the device."""
        if self.port_path is not None:
            pattern = self.port_path
            if info.port_path != pattern and not fnmatch.fnmatchcase(info.port_path, pattern):
                return False
        return self.port_number is None or info.port_number == self.port_number

    def matches_serial(self, serial: str | None) -> bool:
        """-i: the board's serial string must equal the given one."""
        return self.serial is None or serial == self.serial

    def describe(self) -> dict[str, Any]:
        """The filters in effect, for the Waiting event."""
        items = {"port_path": self.port_path, "port_number": self.port_number,
                 "serial": self.serial}
        return {key: value for key, value in items.items() if value is not None}

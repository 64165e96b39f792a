"""macOS: serial numbers, names, speeds and hubs of USB devices from ``system_profiler``.

macOS needs no driver for the boot devices; libusb lists them with their descriptors.
``system_profiler -json`` adds what libusb can give only by opening a device (its serial
string, its product name) and the hubs above it, without opening anything.  Two formats are
parsed: ``SPUSBDataType`` (macOS 10.15 to 15: ``vendor_id``, ``location_id``,
``device_speed``) and ``SPUSBHostDataType`` (newer: ``USBDeviceKeyVendorID``, ...).
"""

from __future__ import annotations

import json
import re

from rpiboot.errors import InputError
from rpiboot.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    Runner = Callable[[Sequence[str]], tuple[int, str]]

DATA_TYPES = ("SPUSBHostDataType", "SPUSBDataType")
APPLE_VID = 0x05AC
MAX_DEPTH = 16  # hubs nest; deeper JSON is not a USB tree
_LEGACY_SPEEDS = {"low_speed": 1.5, "full_speed": 12, "high_speed": 480, "super_speed": 5000,
                  "super_speed_plus": 10000}
_HEX = re.compile(r"\s*0x([0-9a-fA-F]+)")
_RATE = re.compile(r"\s*([0-9.]+)\s*([MG])b/s", re.IGNORECASE)


class ProfilerOutputError(InputError):
    """system_profiler output that is not in the expected format."""


@record
class ProfilerDevice:
    """One USB device in system_profiler's tree."""

    name: str | None
    vid: int
    pid: int
    serial: str | None
    location_id: int | None
    speed: float | None
    parents: tuple[tuple[str | None, int, int, int | None], ...]  # (name, vid, pid, location)

    @property
    def port_path(self) -> str | None:
        return port_path_from_location(self.location_id)


def port_path_from_location(location: int | None) -> str | None:
    """A location ID as a port path: bus in the top byte, then one port per nibble
    (0x14320000 -> "20-3.2")."""
    from rpiboot.flash.platform_macos import port_path_of_location

    return None if location is None else port_path_of_location(location)


def _hex(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    if value.strip() == "apple_vendor_id":
        return APPLE_VID
    found = _HEX.match(value)
    return int(found.group(1), 16) if found else None


def _speed(item: dict[str, Any]) -> float | None:
    legacy = item.get("device_speed")
    if isinstance(legacy, str):
        return _LEGACY_SPEEDS.get(legacy.strip())
    found = _RATE.match(str(item.get("USBDeviceKeyLinkSpeed", "")))
    if not found:
        return None
    try:
        rate = float(found.group(1)) * (1000 if found.group(2).upper() == "G" else 1)
    except ValueError:
        return None
    return int(rate) if rate.is_integer() else rate


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _device(item: dict[str, Any], parents: tuple[Any, ...]) -> ProfilerDevice | None:
    vid = _hex(item.get("vendor_id", item.get("USBDeviceKeyVendorID")))
    pid = _hex(item.get("product_id", item.get("USBDeviceKeyProductID")))
    if vid is None or pid is None:
        return None
    location = _hex(item.get("location_id", item.get("USBKeyLocationID")))
    serial = _text(item.get("serial_num", item.get("USBDeviceKeySerialNumber")))
    return ProfilerDevice(_text(item.get("_name")), vid, pid, serial, location, _speed(item),
                          parents)


def _walk(items: object, parents: tuple[Any, ...], depth: int, out: list[ProfilerDevice]
          ) -> None:
    if not isinstance(items, list) or depth > MAX_DEPTH:
        return
    for item in items:
        if not isinstance(item, dict):
            continue
        device = _device(item, parents)
        below = parents
        if device is not None:
            out.append(device)
            below = (*parents, (device.name, device.vid, device.pid, device.location_id))
        _walk(item.get("_items"), below, depth + 1, out)


def parse_system_profiler(text: str) -> list[ProfilerDevice]:
    """Every USB device in ``system_profiler -json SPUSBDataType`` (or
    ``SPUSBHostDataType``) output; ProfilerOutputError when it is not that."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProfilerOutputError(f"system_profiler output is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProfilerOutputError("system_profiler output is not a JSON object")
    buses = next((data[key] for key in DATA_TYPES if key in data), None)
    if not isinstance(buses, list):
        raise ProfilerOutputError(f"system_profiler output has none of {', '.join(DATA_TYPES)}")
    found: list[ProfilerDevice] = []
    _walk(buses, (), 0, found)
    return found


def query_system_profiler(run: Runner) -> tuple[list[ProfilerDevice], str | None]:
    """(devices, error): from the first data type that lists devices (the newer one is
    tried first; each macOS version knows one or both)."""
    errors, answered = [], False
    for data_type in DATA_TYPES:
        try:
            status, out = run(("system_profiler", "-json", data_type))
            if status != 0:
                raise ProfilerOutputError(f"exit status {status}")
            devices = parse_system_profiler(out)
        except (OSError, InputError) as exc:
            errors.append(f"{data_type}: {exc}")
            continue
        answered = True
        if devices:
            return devices, None
    return [], None if answered else "; ".join(errors)

"""Windows: the disks below a USB port, from one PowerShell query (Get-Disk, Get-Partition,
Get-PnpDevice and Get-PnpDeviceProperty, as one JSON document).

Untested on real hardware: the parser is tested on outputs written from Microsoft's
documented formats (tests/flash/recorded/); see docs/flash-disks.md for the assumptions.

* A disk's ``Path`` (``\\\\?\\usbstor#disk&ven_linux&prod_file-stor_gadget&rev_0606#
  b29d2da0&0#{...}``) names its USBSTOR device (``USBSTOR\\DISK&VEN_...\\B29D2DA0&0``, the
  last ``&N`` is the LUN), whose parent (``DEVPKEY_Device_Parent``, through an ``&MI_xx``
  interface node for a composite device) is the USB device.
* The USB device's ``DEVPKEY_Device_LocationPaths`` (``PCIROOT(0)#PCI(1400)#USBROOT(0)#
  USB(3)#USB(2)``) gives its chain of ports: "3.2" in a port path "B-3.2".
* The bus number B is libusb's, which Windows does not show: the chain is matched on every
  host controller, and a port path is answered only when exactly one controller has a USB
  device with disks there.  That controller is then bound to B, so ``owner_port`` can
  name B (and answers None for a controller no port path was bound to).
* Mount points: the drive letters and folder access paths of the disk's partitions.

The node opened is ``\\\\.\\PhysicalDriveN`` (pathlib on Windows adds a trailing
backslash to it: :func:`rpiboot.flash.blockdev.node_path` takes it off).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rpiboot.flash.disks import Disk, Pause, PollingFinder, sleep_or_stop
from rpiboot.flash.hostcmd import Runner, run_command
from rpiboot.flash.sysfs import check_port_path
from rpiboot.record import record

PS_SCRIPT = "; ".join((
    "$ErrorActionPreference = 'Stop'",
    "$d = @(Get-Disk | Select-Object Number, Path, FriendlyName, SerialNumber, Size, "
    "LogicalSectorSize, IsReadOnly, IsOffline, @{n='BusType';e={[string]$_.BusType}})",
    "$p = @(Get-Partition | Select-Object DiskNumber, PartitionNumber, "
    "@{n='DriveLetter';e={[string]$_.DriveLetter}}, AccessPaths)",
    "$u = @(Get-PnpDevice -PresentOnly | Where-Object { $_.InstanceId -match "
    "'^(USB|USBSTOR)\\\\' } | ForEach-Object { $k = Get-PnpDeviceProperty -InstanceId "
    "$_.InstanceId -KeyName DEVPKEY_Device_Parent, DEVPKEY_Device_LocationPaths "
    "-ErrorAction SilentlyContinue; [pscustomobject]@{ InstanceId = $_.InstanceId; "
    "Parent = ($k | Where-Object KeyName -eq 'DEVPKEY_Device_Parent').Data; "
    "LocationPaths = @(($k | Where-Object KeyName -eq 'DEVPKEY_Device_LocationPaths').Data) "
    "} })",
    "ConvertTo-Json -Compress -Depth 4 -InputObject @{ disks = $d; partitions = $p; "
    "devices = $u }",
))
POWERSHELL = ("powershell.exe", "-NoProfile", "-NonInteractive", "-Command", PS_SCRIPT)
MAX_PARENT_HOPS = 4
_DISK_PATH = re.compile(r"^\\\\\?\\(usbstor#[^#]+#[^#]+)#", re.IGNORECASE)
_DRIVE = re.compile(r"^\\\\\.\\PHYSICALDRIVE([0-9]{1,4})\\?\Z", re.IGNORECASE)
_USB_DEVICE = re.compile(r"^USB\\VID_[0-9A-F]{4}&PID_[0-9A-F]{4}\\", re.IGNORECASE)
_LOCATION = re.compile(r"^(?P<hcd>.+#USBROOT\([0-9]+\))(?P<ports>(?:#USB\([0-9]{1,3}\))+)\Z",
                       re.IGNORECASE)


@record
class WindowsDisk:
    """A disk whose USBSTOR device sits below a USB device with a known chain of ports."""

    number: int
    controller: str          # "PCIROOT(0)#PCI(1400)#USBROOT(0)"
    ports: tuple[int, ...]   # (3, 2)
    lun: int
    size: int
    logical_sector: int
    read_only: bool
    vendor: str
    model: str
    serial: str | None
    mounted: tuple[str, ...]


def _items(value: object) -> list[dict[str, Any]]:
    """ConvertTo-Json gives one object, a list, or null: always a list of objects."""
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _chain(paths: object) -> tuple[str, tuple[int, ...]] | None:
    """(controller, ports) from the first LocationPaths entry that reaches USBROOT."""
    for path in paths if isinstance(paths, list) else [paths]:
        found = _LOCATION.match(path.strip()) if isinstance(path, str) else None
        if found:
            ports = tuple(int(p) for p in re.findall(r"USB\(([0-9]+)\)", found["ports"]))
            return found["hcd"].upper(), ports
    return None


def _usb_device(instance: str, parents: dict[str, str]) -> str | None:
    """The USB device (not an &MI_ interface node) above a USBSTOR instance."""
    current = instance
    for _ in range(MAX_PARENT_HOPS):
        parent = parents.get(current.upper())
        if parent is None:
            return None
        if _USB_DEVICE.match(parent) and "&MI_" not in parent.upper():
            return parent
        current = parent
    return None


def _mounts(partitions: list[dict[str, Any]]) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {}
    for part in partitions:
        number, letter = _int(part.get("DiskNumber")), part.get("DriveLetter")
        if number is None:
            continue
        points = found.setdefault(number, [])
        if isinstance(letter, str) and re.match(r"^[A-Za-z]\Z", letter):
            points.append(f"{letter.upper()}:\\")
        for access in _items_str(part.get("AccessPaths")):
            if not access.startswith("\\\\?\\Volume") and access.upper() not in points:
                points.append(access)
    return {n: tuple(dict.fromkeys(p)) for n, p in found.items()}


def _items_str(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, str) and item]


def _ids(instance: str) -> tuple[str, str, int | None]:
    """Vendor, product and LUN from USBSTOR\\DISK&VEN_X&PROD_Y&REV_Z\\SERIAL&L."""
    parts = instance.split("\\")
    fields = dict(f.split("_", 1) for f in parts[1].split("&") if "_" in f) if len(parts) > 2 \
        else {}
    lun = parts[-1].rsplit("&", 1)[-1] if len(parts) > 2 and "&" in parts[-1] else ""
    return (fields.get("VEN", "").replace("_", " ").strip(),
            fields.get("PROD", "").replace("_", " ").strip(),
            int(lun) if lun.isdigit() and len(lun) < 4 else None)


def _names(friendly: object, vendor: str, model: str) -> tuple[str, str]:
    """Vendor and model as Windows shows them ("Linux File-Stor Gadget [USB Device]"),
    else the instance ID's upper-case ones."""
    if not isinstance(friendly, str) or not friendly.strip():
        return vendor, model
    name = friendly.strip()
    if name.casefold().endswith(" usb device"):
        name = name[: -len(" usb device")].rstrip()
    if vendor and name.casefold().startswith(vendor.casefold() + " "):
        return name[: len(vendor)], name[len(vendor) + 1:].strip()
    return vendor, name


def _disk(item: dict[str, Any], devices: dict[str, dict[str, Any]],
          parents: dict[str, str], mounts: dict[int, tuple[str, ...]]) -> WindowsDisk | None:
    number, size, path = _int(item.get("Number")), _int(item.get("Size")), item.get("Path")
    found = _DISK_PATH.match(path) if isinstance(path, str) else None
    if number is None or size is None or size <= 0 or found is None:
        return None
    instance = found.group(1).replace("#", "\\").upper()
    usb = _usb_device(instance, parents)
    chain = _chain(devices.get(usb.upper(), {}).get("LocationPaths")) if usb else None
    vendor, model, lun = _ids(instance)
    if usb is None or chain is None or lun is None:
        return None
    vendor, model = _names(item.get("FriendlyName"), vendor, model)
    sector = _int(item.get("LogicalSectorSize")) or 512
    serial = item.get("SerialNumber")  # the USB serial, case kept; else the instance's
    serial = serial.strip() if isinstance(serial, str) and serial.strip() else \
        usb.split("\\")[-1]
    return WindowsDisk(number, chain[0], chain[1], lun, size,
                       sector if 512 <= sector <= 65536 else 512,
                       item.get("IsReadOnly") is True, vendor, model,
                       serial if serial and "&" not in serial else None,
                       mounts.get(number, ()))


def parse_windows_disks(text: str) -> list[WindowsDisk] | None:
    """The USB disks in the output of :data:`PS_SCRIPT`; None when it is not that JSON."""
    try:
        data = json.loads(text.strip().lstrip("\ufeff"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or "disks" not in data:
        return None
    devices = {d["InstanceId"].upper(): d for d in _items(data.get("devices"))
               if isinstance(d.get("InstanceId"), str)}
    parents = {k: d["Parent"] for k, d in devices.items() if isinstance(d.get("Parent"), str)}
    mounts = _mounts(_items(data.get("partitions")))
    found = [_disk(item, devices, parents, mounts) for item in _items(data.get("disks"))]
    return sorted((d for d in found if d is not None), key=lambda d: (d.number, d.lun))


class WindowsDiskFinder(PollingFinder):
    """The :class:`~rpiboot.flash.disks.DiskFinder` of Windows (PowerShell)."""

    def __init__(self, run: Runner = run_command, *, poll_interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 pause: Pause = sleep_or_stop) -> None:
        super().__init__(poll_interval=poll_interval, clock=clock, pause=pause)
        self._run = run
        self._buses: dict[str, int] = {}  # controller -> the libusb bus number bound to it
        self._lock = threading.Lock()

    def _query(self) -> list[WindowsDisk]:
        done = self._run(POWERSHELL)
        found = parse_windows_disks(done.stdout) if done.status == 0 else None
        return found or []

    def _controller(self, bus: int, disks: list[WindowsDisk]) -> str | None:
        """The one controller these disks are on, bound to ``bus`` (None: ambiguous, or
        bound to another bus already)."""
        controllers = {d.controller for d in disks}
        if len(controllers) != 1:
            return None
        controller = controllers.pop()
        with self._lock:
            bound = self._buses.get(controller)
            if bound is not None:
                return controller if bound == bus else None
            if bus in self._buses.values():
                return None
            self._buses[controller] = bus
        return controller

    def disks_below(self, port_path: str) -> list[Disk]:
        bus, _, chain = check_port_path(port_path).partition("-")
        ports = tuple(int(p) for p in chain.split("."))
        mine = [d for d in self._query() if d.ports == ports]
        controller = self._controller(int(bus), mine) if mine else None
        return [Disk(path=Path(f"\\\\.\\PhysicalDrive{d.number}"), size=d.size,
                     logical_sector=d.logical_sector, read_only=d.read_only, removable=True,
                     vendor=d.vendor, model=d.model, lun=d.lun, port_path=port_path,
                     name=f"PhysicalDrive{d.number}", serial=d.serial, mounted=d.mounted)
                for d in mine if d.controller == controller]

    def owner_port(self, path: Path) -> str | None:
        found = _DRIVE.match(str(path))
        if found is None:
            return None
        disk = next((d for d in self._query() if d.number == int(found.group(1))), None)
        with self._lock:
            bus = self._buses.get(disk.controller) if disk is not None else None
        if disk is None or bus is None:
            return None
        return f"{bus}-{'.'.join(str(p) for p in disk.ports)}"

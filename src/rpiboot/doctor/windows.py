"""Windows: which driver is bound to each boot device, from Windows' own tools.

libusb can open a device on Windows only through a driver it speaks to: WinUSB (what Zadig
and Raspberry Pi's installer set up), or libusbK / libusb0.  The doctor asks PowerShell's
``Get-PnpDevice`` (whose ``Service`` names the driver) and, if PowerShell fails, ``pnputil
/enum-devices /connected`` (Windows 10 1903+; it names the INF file and any problem code).
Both outputs are parsed here; their formats are documented by Microsoft.
"""

from __future__ import annotations

import json
import re

from rpiboot.doctor.report import Device, Problem
from rpiboot.errors import InputError
from rpiboot.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    Runner = Callable[[Sequence[str]], tuple[int, str]]

PS_SCRIPT = ("Get-PnpDevice -PresentOnly | Where-Object { $_.InstanceId -match "
             "'^USB\\\\VID_(0A5C|0525)&' } | Select-Object InstanceId,FriendlyName,Status,"
             "Service,Problem,Class | ConvertTo-Json -Depth 2")
POWERSHELL = ("powershell.exe", "-NoProfile", "-NonInteractive", "-Command", PS_SCRIPT)
PNPUTIL = ("pnputil.exe", "/enum-devices", "/connected")
LIBUSB_SERVICES = {"winusb": "WinUSB", "libusbk": "libusbK", "libusb0": "libusb0"}
NO_DRIVER_PROBLEMS = {1, 18, 28}  # not configured, reinstall drivers, drivers not installed
_PROBLEM_NAMES = {"CM_PROB_NONE": 0, "CM_PROB_NOT_CONFIGURED": 1, "CM_PROB_REINSTALL": 18,
                  "CM_PROB_DISABLED": 22, "CM_PROB_FAILED_INSTALL": 28}
_IDS = re.compile(r"VID_([0-9A-F]{4})&PID_([0-9A-F]{4})(?:&MI_([0-9A-F]{2}))?", re.IGNORECASE)
ZADIG_FIX = (
    "Install the WinUSB driver for it: run Zadig (https://zadig.akeo.ie), Options > List All "
    "Devices, pick \"{name}\" (USB ID {vid} {pid}), choose WinUSB, click Install Driver (or "
    "Replace Driver), then unplug and replug the board. Repeat for each chip and for the "
    "second stage if Windows shows it as a new device; for the CM3's two-interface ROM "
    "pick \"(Interface 1)\". Raspberry Pi's rpiboot installer for Windows also installs a "
    "driver.")


class PnpOutputError(InputError):
    """Output of a Windows tool that is not in the documented format."""


@record
class PnpEntry:
    """One PnP device node (a USB device, or one interface of a composite device)."""

    instance_id: str
    name: str | None = None
    status: str | None = None
    service: str | None = None  # Get-PnpDevice only: "WinUSB", "usbccgp", "USBSTOR", ...
    problem: int | None = None
    class_name: str | None = None
    driver_inf: str | None = None  # pnputil only: "oem42.inf"
    source: str = "powershell"

    @property
    def ids(self) -> tuple[int, int, int | None] | None:
        found = _IDS.search(self.instance_id)
        if found is None:
            return None
        interface = int(found.group(3), 16) if found.group(3) else None
        return int(found.group(1), 16), int(found.group(2), 16), interface

    @property
    def serial(self) -> str | None:
        """The instance's last part when it is the device's serial string (no '&')."""
        parts = self.instance_id.split("\\")
        last = parts[-1] if len(parts) >= 3 else ""
        return last if last and "&" not in last else None


def _problem_code(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        match = re.match(r"(\d+)", text)
        if match:
            return int(match.group(1))
        return _PROBLEM_NAMES.get(text.upper())
    return None


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def parse_pnp_json(text: str) -> list[PnpEntry]:
    """``Get-PnpDevice | Select-Object ... | ConvertTo-Json``: one object, a list of them, or
    nothing (no device).  PnpOutputError when it is something else."""
    text = text.strip().lstrip("\ufeff")
    if not text:
        return []
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise PnpOutputError(f"Get-PnpDevice output is not JSON: {exc}") from None
    items = data if isinstance(data, list) else [data]
    entries = []
    for item in items:
        instance = item.get("InstanceId") if isinstance(item, dict) else None
        if not isinstance(instance, str) or not instance.strip():
            raise PnpOutputError("Get-PnpDevice output: an entry without an InstanceId")
        problem = item.get("Problem", item.get("ConfigManagerErrorCode"))
        entries.append(PnpEntry(instance.strip(), _text(item.get("FriendlyName")),
                                _text(item.get("Status")), _text(item.get("Service")),
                                _problem_code(problem), _text(item.get("Class"))))
    return entries


def _pnputil_entry(fields: dict[str, str]) -> PnpEntry:
    return PnpEntry(fields["instance id"], fields.get("device description") or None,
                    fields.get("status") or None, None,
                    _problem_code(fields.get("problem code")),
                    fields.get("class name") or None, fields.get("driver name") or None,
                    source="pnputil")


def parse_pnputil(text: str) -> list[PnpEntry]:
    """``pnputil /enum-devices``: blocks of ``Key: value`` lines, each starting with
    ``Instance ID:``.  PnpOutputError when there is text but no block (e.g. a localized
    Windows, whose keys are translated)."""
    entries: list[PnpEntry] = []
    fields: dict[str, str] | None = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "instance id":
            if fields is not None:
                entries.append(_pnputil_entry(fields))
            fields = {key: value}
        elif fields is not None and key not in fields:
            fields[key] = value
    if fields is not None:
        entries.append(_pnputil_entry(fields))
    if not entries and text.strip() and "no devices" not in text.lower():
        raise PnpOutputError("pnputil output has no 'Instance ID:' line (a translated "
                             "Windows, or an older pnputil without /enum-devices)")
    return [entry for entry in entries if entry.instance_id]


@record
class PnpQuery:
    """What the Windows tools said (``entries``), which tool, or why neither worked."""

    entries: tuple[PnpEntry, ...]
    source: str | None
    error: str | None = None


def query_pnp(run: Runner) -> PnpQuery:
    """Ask PowerShell, then pnputil; ``run(argv)`` returns (exit status, stdout)."""
    errors = []
    for argv, parse, name in ((POWERSHELL, parse_pnp_json, "powershell"),
                              (PNPUTIL, parse_pnputil, "pnputil")):
        try:
            status, out = run(argv)
            if status != 0:
                raise PnpOutputError(f"exit status {status}")
            return PnpQuery(tuple(parse(out)), name)
        except (OSError, InputError) as exc:
            errors.append(f"{argv[0]}: {exc}")
    return PnpQuery((), None, "; ".join(errors))


def vendor_entry(entries: Sequence[PnpEntry], vid: int, pid: int) -> PnpEntry | None:
    """The node libusb opens for this device: the vendor interface of a composite device
    (the highest MI_xx, e.g. the CM3 ROM's interface 1), else the device itself."""
    mine = [(e.ids[2], e) for e in entries if e.ids is not None and e.ids[:2] == (vid, pid)]
    interfaces = [pair for pair in mine if pair[0] is not None]
    if interfaces:
        return max(interfaces, key=lambda pair: pair[0] or 0)[1]
    return mine[0][1] if mine else None


def driver_name(entry: PnpEntry | None) -> str | None:
    if entry is None:
        return None
    if entry.service:
        return LIBUSB_SERVICES.get(entry.service.lower(), entry.service)
    return entry.driver_inf


def driver_problem(device: Device, entry: PnpEntry | None) -> Problem | None:
    """What is wrong with the driver of a boot device (None: nothing, or not knowable)."""
    if device.stage not in ("rom", "fileserver") or entry is None:
        return None
    name = entry.name or device.product or f"{device.chip} Boot"
    fix = ZADIG_FIX.format(name=name, vid=f"{device.vid:04X}", pid=f"{device.pid:04X}")
    service = (entry.service or "").lower()
    if entry.problem in NO_DRIVER_PROBLEMS or (not service and not entry.driver_inf):
        code = f" (problem code {entry.problem})" if entry.problem is not None else ""
        return Problem("winusb-missing", "error",
                       f"{device.label}: Windows has no driver for \"{name}\"{code}, so "
                       "libusb cannot open it", fix, device.port_path)
    if service in ("libusbk", "libusb0"):
        return Problem("libusbk-driver", "info",
                       f"{device.label}: bound to {LIBUSB_SERVICES[service]}, which libusb "
                       "uses only through libusbK.dll", "If rpiboot cannot open it, "
                       + fix.replace("Install Driver (or Replace Driver)", "Replace Driver"),
                       device.port_path)
    if service and service != "winusb":
        return Problem("wrong-driver", "error",
                       f"{device.label}: bound to the {entry.service} driver, not WinUSB, so "
                       "libusb cannot open it", fix, device.port_path)
    return None


def pnp_only_devices(entries: Sequence[PnpEntry]) -> list[Device]:
    """Devices from the PnP list alone (when libusb lists nothing): no port path."""
    devices = []
    for entry in entries:
        ids = entry.ids
        if ids is None or ids[2] is not None:
            continue
        chosen = vendor_entry(entries, ids[0], ids[1])
        devices.append(Device(port_path=None, vid=ids[0], pid=ids[1], serial=entry.serial,
                              product=entry.name, driver=driver_name(chosen)))
    return devices


def pnp_summary(query: PnpQuery) -> dict[str, Any]:
    return {"source": query.source, "error": query.error,
            "entries": [{"instance_id": e.instance_id, "name": e.name, "status": e.status,
                         "service": e.service, "problem": e.problem, "driver_inf": e.driver_inf}
                        for e in query.entries]}

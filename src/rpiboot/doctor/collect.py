"""Put the report together: host, devices (sysfs on Linux; libusb plus the OS's own tools
elsewhere), permissions, firmware, and every problem with what to do about it.

Nothing here claims, configures or opens a device: libusb is asked for its device list and
cached descriptors only, and on Linux everything else comes from sysfs and ``stat``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rpiboot.doctor import checks
from rpiboot.doctor.firmware_check import firmware_section
from rpiboot.doctor.host import (
    UserInfo,
    current_user,
    host_problems,
    host_section,
    libusb_info,
    os_family,
)
from rpiboot.doctor.report import SEVERITIES, Device, Hub, Problem, Report, is_pi_device
from rpiboot.record import replace

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from rpiboot.doctor.macos import ProfilerDevice
    from rpiboot.usb.survey import Sighting

    Runner = Callable[[Sequence[str]], tuple[int, str]]

TOOL_TIMEOUT_S = 30.0


def run_tool(argv: Sequence[str]) -> tuple[int, str]:
    """Run an OS tool; (exit status, stdout).  OSError when it is missing or hangs."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, errors="replace",
                              timeout=TOOL_TIMEOUT_S, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise OSError(f"{argv[0]} did not answer within {TOOL_TIMEOUT_S:g} s") from None
    return done.returncode, done.stdout


def libusb_devices(sightings: list[Sighting]) -> list[Device]:
    """Raspberry Pi devices from libusb's list, with the hubs above each (by port path)."""
    by_path = {s.port_path: s for s in sightings}
    devices = []
    for seen in sightings:
        if not is_pi_device(seen.vid, seen.pid):
            continue
        bus, _, chain = seen.port_path.partition("-")
        ports = chain.split(".")
        hubs = [by_path[path] for depth in range(1, len(ports))
                if (path := f"{bus}-{'.'.join(ports[:depth])}") in by_path]
        devices.append(Device(
            port_path=seen.port_path, vid=seen.vid, pid=seen.pid, bus=seen.bus,
            address=seen.address, serial_index=seen.serial_index, speed=seen.speed_mbps,
            hubs=tuple(Hub(h.port_path, h.vid_pid, None, h.speed_mbps, h.self_powered)
                       for h in hubs), libusb_visible=True))
    return devices


def _profiled(device: Device, found: list[ProfilerDevice]) -> Device:
    """``device`` with what system_profiler adds: serial, product name, the hubs above."""
    from rpiboot.doctor.macos import port_path_from_location

    mine = [p for p in found if (p.vid, p.pid) == (device.vid, device.pid)]
    same_port = [p for p in mine if p.port_path == device.port_path]
    match = same_port[0] if same_port else (mine[0] if len(mine) == 1 else None)
    if match is None:
        return device
    hubs = device.hubs or tuple(
        Hub(port_path_from_location(location) or "?", f"{vid:04x}:{pid:04x}", name, None, None)
        for name, vid, pid, location in match.parents)
    return replace(device, serial=match.serial, product=match.name,
                   speed=device.speed if device.speed is not None else match.speed, hubs=hubs)


def _macos(devices: list[Device] | None, run: Runner, extra: dict[str, Any]) -> list[Device]:
    from rpiboot.doctor.macos import query_system_profiler

    found, error = query_system_profiler(run)
    extra["system_profiler"] = {"error": error, "devices": len(found)}
    if devices is None:  # no libusb: what system_profiler lists is all there is
        return [Device(port_path=p.port_path, vid=p.vid, pid=p.pid, serial=p.serial,
                       product=p.name, speed=p.speed) for p in found
                if is_pi_device(p.vid, p.pid)]
    return [_profiled(device, found) for device in devices]


def _windows(devices: list[Device] | None, run: Runner, extra: dict[str, Any]
             ) -> tuple[list[Device], list[Problem]]:
    from rpiboot.doctor import windows

    query = windows.query_pnp(run)
    extra["pnp"] = windows.pnp_summary(query)
    problems = []
    if query.error is not None:
        problems.append(Problem(
            "pnp-query-failed", "info", f"could not ask Windows which drivers are bound "
            f"({query.error})", "Run `pnputil /enum-devices /connected` in a terminal and add "
            "its output (the blocks for VID_0A5C) to your report."))
    if not devices:
        return windows.pnp_only_devices(query.entries), problems
    result = []
    for device in devices:
        entry = windows.vendor_entry(query.entries, device.vid, device.pid)
        problem = windows.driver_problem(device, entry)
        problems += [problem] if problem is not None else []
        serial = entry.serial if entry is not None else None
        result.append(replace(device, driver=windows.driver_name(entry),
                              serial=device.serial or serial,
                              product=device.product or (entry.name if entry else None)))
    return result, problems


def _linux(sightings: list[Sighting] | None, user: UserInfo, roots: tuple[Path, Path]
           ) -> tuple[list[Device] | None, dict[str, Any], list[Problem]]:
    from rpiboot.doctor.linux import linux_devices
    from rpiboot.doctor.permissions import node_problems, permissions_section

    seen = {(s.bus, s.address) for s in sightings} if sightings is not None else None
    devices = linux_devices(seen, root=roots[0], dev_root=roots[1])
    section, problems = permissions_section(user)
    if devices is not None:
        problems = node_problems(devices, section["coverage"], user) + problems
    return devices, section, problems


def _sudo_note(user: UserInfo) -> list[Problem]:
    sudo_user = os.environ.get("SUDO_USER")
    if not user.root or not sudo_user or sudo_user == "root":
        return []
    return [Problem("ran-as-root", "info",
                    f"rpiboot doctor ran as root (sudo), so its permission checks are root's "
                    f"(root can open every board), not {sudo_user}'s",
                    f"Run it again without sudo to see what {sudo_user} may open.")]


def _ordered(problems: list[Problem]) -> tuple[Problem, ...]:
    return tuple(sorted(problems, key=lambda p: SEVERITIES.index(p.severity)
                        if p.severity in SEVERITIES else len(SEVERITIES)))


def diagnose(*, firmware_dir: Path | None = None, backend: Any = None,
             platform: str | None = None, run: Runner | None = None,
             user: UserInfo | None = None, sysfs_root: Path | None = None,
             dev_root: Path | None = None) -> Report:
    """Look at this computer and every Raspberry Pi USB device on it; never raises for
    what it finds (that goes into the report's problems).

    ``backend`` replaces libusb (a pyusb backend, e.g. the simulator's); ``platform``,
    ``run`` (how OS tools are run) and ``user`` replace what this process would find, for
    tests; ``sysfs_root``/``dev_root`` default to ``/sys/bus/usb/devices`` and ``/dev``."""
    from rpiboot.doctor.linux import DEV_ROOT, SYSFS_USB
    from rpiboot.usb.backend import load_backend
    from rpiboot.usb.survey import survey

    family = os_family(platform or sys.platform)
    user = user if user is not None else current_user()
    loader = load_backend if backend is None else (lambda: (backend, "the given backend"))
    loaded, libusb = libusb_info(loader)
    sightings = survey(loaded) if loaded is not None else None
    extra: dict[str, Any] = {}
    problems = host_problems(family, libusb)
    permissions = None
    devices: list[Device] | None = None
    if family == "linux":
        problems += _sudo_note(user)
        roots = (sysfs_root or SYSFS_USB, dev_root or DEV_ROOT)
        devices, permissions, found = _linux(sightings, user, roots)
        problems += found
    if devices is None:
        devices = libusb_devices(sightings) if sightings is not None else None
    if family == "darwin":
        devices = _macos(devices, run or run_tool, extra)
    elif family == "win32":
        devices, found = _windows(devices, run or run_tool, extra)
        problems += found
    devices = sorted(devices or [], key=lambda d: (d.port_path is None, d.port_path or ""))
    problems += checks.device_problems(devices, libusb.description)
    firmware, found = firmware_section(firmware_dir)
    host = host_section(family, user, libusb) | extra
    return Report(host=host, permissions=permissions, devices=tuple(devices),
                  firmware=firmware, problems=_ordered(problems + found))

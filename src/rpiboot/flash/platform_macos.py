"""macOS: the disks below a USB port, from ``ioreg`` and ``diskutil`` (both as plists).

Untested on real hardware: the parsers are tested on outputs written from Apple's
documented formats (tests/flash/recorded/); see docs/flash-disks.md.

* A port path is a location ID, as libusb on macOS numbers devices: the bus is the top
  byte, then one port per nibble ("20-2.3" <-> 0x14230000; at most 6 ports of 1..15).
* ``ioreg -a -l -r -c IOUSBHostDevice``: each USB device's IOService subtree as a plist
  (``IORegistryEntryChildren``).  A disk is an ``IOMedia`` with ``"Whole" = true`` and a
  ``"BSD Name"`` ("disk4"), below the USB device with that ``locationID`` (the nearest
  one: a hub's subtree holds its children too).  Its LUN is the nearest ``"SCSI Logical
  Unit Number"`` (or ``"IOUnitLUN"``) above it, else its rank below the device; vendor and
  product from ``"Device Characteristics"``; size, ``"Preferred Block Size"``,
  ``"Writable"``, ``"Removable"``, ``"BSD Major"``/``"BSD Minor"`` from the IOMedia.
* ``diskutil list -plist``: ``AllDisksAndPartitions`` gives the mount points of each disk
  and its partitions (and APFS volumes).

The node opened is ``/dev/diskN`` (the block device, whose number IOMedia gives).
"""

from __future__ import annotations

import os
import plistlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rpiboot.errors import UsageError
from rpiboot.flash.disks import Disk, Pause, PollingFinder, sleep_or_stop
from rpiboot.flash.hostcmd import Runner, run_command
from rpiboot.flash.sysfs import check_port_path
from rpiboot.record import record

IOREG = ("ioreg", "-a", "-l", "-r", "-c", "IOUSBHostDevice")
DISKUTIL_LIST = ("diskutil", "list", "-plist")
MAX_DEPTH = 64
_BSD_DISK = re.compile(r"^disk[0-9]{1,4}\Z")
_NODE = re.compile(r"^/dev/r?(disk[0-9]{1,4})(?:s[0-9]{1,4})*\Z")
_LUN_KEYS = ("SCSI Logical Unit Number", "IOUnitLUN")


def location_of_port_path(port_path: str) -> int | None:
    """"20-2.3" -> 0x14230000; None when it cannot be a location ID."""
    try:
        bus, _, chain = check_port_path(port_path).partition("-")
    except UsageError:
        return None
    ports = [int(p) for p in chain.split(".")]
    if int(bus) > 255 or len(ports) > 6 or not all(1 <= p <= 15 for p in ports):
        return None
    location = int(bus) << 24
    for depth, port in enumerate(ports):
        location |= port << (20 - 4 * depth)
    return location


def port_path_of_location(location: int) -> str | None:
    """0x14230000 -> "20-2.3" (ports end at the first zero nibble)."""
    if not isinstance(location, int) or not 0 <= location < 1 << 32:
        return None
    ports = []
    for shift in range(20, -1, -4):
        nibble = (location >> shift) & 0xF
        if nibble == 0:
            break
        ports.append(str(nibble))
    return f"{location >> 24}-{'.'.join(ports)}" if ports else None


@record
class MacMedia:
    """A whole-disk IOMedia below a USB device."""

    bsd_name: str
    location: int
    lun: int
    size: int
    block_size: int
    writable: bool
    removable: bool
    vendor: str
    model: str
    serial: str | None
    dev: str | None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


@record
class _Context:
    location: int | None = None
    serial: str | None = None
    lun: int | None = None
    vendor: str = ""
    model: str = ""


def _below(node: dict[str, Any], ctx: _Context) -> _Context:
    """The context for ``node``'s children."""
    location = _int(node.get("locationID"))
    if location is not None and _int(node.get("idVendor")) is not None:
        serial = _str(node.get("USB Serial Number") or node.get("kUSBSerialNumberString"))
        ctx = _Context(location, serial or None)
    lun = next((v for k in _LUN_KEYS if (v := _int(node.get(k))) is not None), None)
    chars = node.get("Device Characteristics")
    vendor, model = ctx.vendor, ctx.model
    if isinstance(chars, dict):
        vendor = _str(chars.get("Vendor Name")) or vendor
        model = _str(chars.get("Product Name")) or model
    return _Context(ctx.location, ctx.serial, ctx.lun if lun is None else lun, vendor, model)


def _media(node: dict[str, Any], ctx: _Context, rank: int) -> MacMedia | None:
    name, size = _str(node.get("BSD Name")), _int(node.get("Size"))
    if not _BSD_DISK.match(name) or node.get("Whole") is not True or ctx.location is None \
            or size is None or size <= 0:
        return None
    major, minor = _int(node.get("BSD Major")), _int(node.get("BSD Minor"))
    block = _int(node.get("Preferred Block Size")) or 512
    return MacMedia(name, ctx.location, rank if ctx.lun is None else ctx.lun, size,
                    block if 512 <= block <= 65536 else 512, node.get("Writable") is not False,
                    node.get("Removable") is True, ctx.vendor, ctx.model, ctx.serial,
                    f"{major}:{minor}" if major is not None and minor is not None else None)


def _walk(node: object, ctx: _Context, depth: int, out: dict[str, MacMedia]) -> None:
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        return
    ctx = _below(node, ctx)
    rank = sum(1 for m in out.values() if m.location == ctx.location)
    found = _media(node, ctx, rank)
    if found is not None:
        out.setdefault(found.bsd_name, found)  # a hub's subtree shows it again: same view
    children = node.get("IORegistryEntryChildren")
    if isinstance(children, list):
        for child in children:
            _walk(child, ctx, depth + 1, out)


def _plist(data: bytes) -> Any:
    try:
        return plistlib.loads(data)
    except Exception:  # malformed tool output of any kind (plistlib, expat, base64): none
        return None


def parse_ioreg(data: bytes) -> list[MacMedia]:
    """Every whole-disk IOMedia below a USB device in ``ioreg -a -l -r -c
    IOUSBHostDevice`` output; [] for anything that is not such a plist."""
    root = _plist(data)
    out: dict[str, MacMedia] = {}
    for tree in root if isinstance(root, list) else [root]:
        _walk(tree, _Context(), 0, out)
    return sorted(out.values(), key=lambda m: (m.location, m.lun, m.bsd_name))


def _mount_point(entry: object) -> list[str]:
    if not isinstance(entry, dict):
        return []
    point = entry.get("MountPoint")
    return [point] if isinstance(point, str) and point.startswith("/") else []


def parse_diskutil_list(data: bytes) -> dict[str, tuple[str, ...]] | None:
    """Whole disk -> the mount points of it and its partitions and APFS volumes, from
    ``diskutil list -plist``; None when the output is not that plist."""
    root = _plist(data)
    disks = root.get("AllDisksAndPartitions") if isinstance(root, dict) else None
    if not isinstance(disks, list):
        return None
    found: dict[str, tuple[str, ...]] = {}
    for disk in disks:
        if not isinstance(disk, dict) or not isinstance(disk.get("DeviceIdentifier"), str):
            continue
        points = _mount_point(disk)
        for key in ("Partitions", "APFSVolumes"):
            parts = disk.get(key)
            for part in parts if isinstance(parts, list) else []:
                points += _mount_point(part)
        found[disk["DeviceIdentifier"]] = tuple(dict.fromkeys(points))
    return found


class MacDiskFinder(PollingFinder):
    """The :class:`~rpiboot.flash.disks.DiskFinder` of macOS (``ioreg`` + ``diskutil``)."""

    def __init__(self, run: Runner = run_command, *, poll_interval: float = 0.5,
                 clock: Callable[[], float] = time.monotonic,
                 pause: Pause = sleep_or_stop) -> None:
        super().__init__(poll_interval=poll_interval, clock=clock, pause=pause)
        self._run = run

    def _media(self) -> list[MacMedia]:
        done = self._run(IOREG)
        return parse_ioreg(done.stdout.encode("utf-8", "replace")) if done.status == 0 else []

    def disks_below(self, port_path: str) -> list[Disk]:
        location = location_of_port_path(check_port_path(port_path))
        mine = [m for m in self._media() if m.location == location and m.dev is not None]
        if location is None or not mine:
            return []
        listed = self._run(DISKUTIL_LIST)
        mounts = parse_diskutil_list(listed.stdout.encode("utf-8", "replace"))
        if listed.status != 0 or mounts is None:
            return []  # mount state unknown: not ready
        return [Disk(path=Path("/dev") / m.bsd_name, size=m.size, logical_sector=m.block_size,
                     read_only=not m.writable, removable=m.removable, vendor=m.vendor,
                     model=m.model, lun=m.lun, port_path=port_path, name=m.bsd_name,
                     serial=m.serial, mounted=mounts.get(m.bsd_name, ()), dev=m.dev)
                for m in mine]

    def owner_port(self, path: Path) -> str | None:
        found = _NODE.match(os.path.realpath(path))
        if found is None:
            return None
        media = next((m for m in self._media() if m.bsd_name == found.group(1)), None)
        return port_path_of_location(media.location) if media is not None else None

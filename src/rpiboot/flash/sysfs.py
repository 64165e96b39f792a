"""Linux sysfs, read defensively: bounded attribute reads, bounded directory listings, and
the one chain a USB disk's block device sits on.

Everything read here is untrusted input (a hostile or half-published tree must not crash
the reader or make it look outside ``/sys``): attribute files are read up to
:data:`MAX_ATTR_BYTES`, listings stop after :data:`MAX_ENTRIES`, and every path is
resolved and compared before it is believed.

The chain of a USB disk, as the kernel's usb-storage (and uas) driver publishes it::

    /sys/devices/.../usb1/1-1/1-1:1.0/host0/target0:0:0/0:0:0:0/block/sdb[/sdb1]
                     <usb>  <port> <interface> <SCSI host> <target> <H:C:T:L>

``/sys/bus/usb/devices/1-1`` links to the USB device; ``/sys/dev/block/8:16`` to the block
device.  A chain counts only when its real path (every symbolic link resolved) is exactly
that pattern below the real path of the USB device.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

from rpiboot.errors import UsageError
from rpiboot.record import record

MAX_ATTR_BYTES = 4096
MAX_ENTRIES = 512
SECTOR = 512  # sysfs "size" is always in 512-byte units

PORT_PATH = re.compile(r"^[0-9]{1,3}-[0-9]{1,3}(?:\.[0-9]{1,3}){0,7}\Z")
DEV_NUMBER = re.compile(r"^([0-9]{1,10}):([0-9]{1,10})\Z")
HOST = re.compile(r"^host[0-9]{1,6}\Z")
TARGET = re.compile(r"^target[0-9]{1,6}:[0-9]{1,6}:[0-9]{1,6}\Z")
SCSI_ADDRESS = re.compile(r"^([0-9]{1,6}):([0-9]{1,6}):([0-9]{1,6}):([0-9]{1,10})\Z")
BLOCK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}\Z")
_DIGITS = re.compile(r"^[0-9]{1,20}\Z")
_INTERFACE_TAIL = re.compile(r"^[0-9]{1,3}\.[0-9]{1,3}\Z")


def check_port_path(port_path: str) -> str:
    """``port_path`` if it is a USB port path as sysfs names devices ("1-1", "1-3.2");
    UsageError otherwise (it is used to build paths below /sys)."""
    if not isinstance(port_path, str) or not PORT_PATH.match(port_path):
        raise UsageError(f"{port_path!r} is not a USB port path",
                         hint='A port path is BUS-PORT[.PORT...], e.g. "1-1" or "1-3.2".')
    return port_path


def read_attr(path: Path, limit: int = MAX_ATTR_BYTES) -> str | None:
    """A sysfs attribute's text without its trailing newline; None when it is missing,
    unreadable, larger than ``limit`` or not text."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except (OSError, ValueError):
        return None
    if len(data) > limit or b"\0" in data:
        return None
    return data.decode("utf-8", "replace").strip()


def read_int(path: Path, *, lo: int = 0, hi: int = 1 << 63) -> int | None:
    text = read_attr(path)
    if text is None or not _DIGITS.match(text):
        return None
    value = int(text)
    return value if lo <= value <= hi else None


def read_flag(path: Path) -> bool | None:
    text = read_attr(path)
    return {"0": False, "1": True}.get(text or "")


def parse_dev(text: str | None) -> tuple[int, int] | None:
    """"8:16" -> (8, 16); None for anything else."""
    found = DEV_NUMBER.match(text or "")
    if not found:
        return None
    major, minor = int(found.group(1)), int(found.group(2))
    return (major, minor) if major < (1 << 32) and minor < (1 << 32) else None


def list_dir(path: Path) -> list[str]:
    """At most MAX_ENTRIES names in ``path``, sorted; [] when it cannot be listed."""
    try:
        with os.scandir(path) as entries:
            return sorted(entry.name for entry in itertools.islice(entries, MAX_ENTRIES))
    except (OSError, ValueError):
        return []


def real(path: Path) -> Path | None:
    """``path`` with every symbolic link resolved; None when it does not exist (or loops)."""
    try:
        resolved = os.path.realpath(path, strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    return Path(resolved)


def within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@record
class BlockChain:
    """A block device found on the chain below a USB device (real paths)."""

    port_path: str
    usb_device: Path   # /sys/devices/.../1-1
    scsi_device: Path  # .../1-1:1.0/host0/target0:0:0/0:0:0:0
    block: Path        # .../0:0:0:0/block/sdb
    name: str          # sdb
    lun: int


def usb_device_dir(sys_root: Path, port_path: str) -> Path | None:
    """The real sysfs folder of the USB device at ``port_path`` (its name must be the port
    path, and it must lie below /sys/devices); None when there is none."""
    root = real(sys_root)
    found = real(sys_root / "bus" / "usb" / "devices" / check_port_path(port_path))
    if root is None or found is None or found.name != port_path:
        return None
    return found if within(found, root / "devices") and found != root / "devices" else None


def _children(folder: Path, pattern: re.Pattern[str]) -> list[str]:
    return [name for name in list_dir(folder) if pattern.match(name)]


def _interfaces(usb: Path, port_path: str) -> list[str]:
    prefix = port_path + ":"
    return [name for name in list_dir(usb)
            if name.startswith(prefix) and _INTERFACE_TAIL.match(name[len(prefix):])]


def chains_below(sys_root: Path, port_path: str) -> list[BlockChain]:
    """Every block device on a usb-storage chain of exactly the USB device at
    ``port_path`` (not of devices behind it, when it is a hub).  A name whose real path
    leaves the chain (a symbolic link anywhere along it) is not returned."""
    usb = usb_device_dir(sys_root, port_path)
    if usb is None:
        return []
    found = []
    for interface in _interfaces(usb, port_path):
        for host in _children(usb / interface, HOST):
            for target in _children(usb / interface / host, TARGET):
                target_dir = usb / interface / host / target
                for address in _children(target_dir, SCSI_ADDRESS):
                    scsi = target_dir / address
                    for name in _children(scsi / "block", BLOCK_NAME):
                        block = scsi / "block" / name
                        if real(block) != block:  # a link somewhere: not this chain
                            continue
                        lun = int(address.rsplit(":", 1)[1])
                        found.append(BlockChain(port_path, usb, scsi, block, name, lun))
    return found


def chain_of_block(sys_root: Path, dev: str) -> BlockChain | None:
    """The chain of the block device (or partition) with device number ``dev`` ("8:16"),
    from ``/sys/dev/block/<dev>``; None when it is not a usb-storage disk, or the tree is
    not consistent (the link, the port's own link and the ``dev`` attribute must agree)."""
    root = real(sys_root)
    if parse_dev(dev) is None or root is None:
        return None
    block = real(sys_root / "dev" / "block" / dev)
    devices = root / "devices"
    if block is None or not within(block, devices) or read_attr(block / "dev") != dev:
        return None
    parts = block.relative_to(devices).parts
    if len(parts) >= 8 and parts[-3] == "block" and parts[-1].startswith(parts[-2]):
        parts = parts[:-1]  # a partition: .../block/sdb/sdb1
    if len(parts) < 7 or parts[-2] != "block":
        return None
    port, interface, host, target, address = parts[-7:-2]
    if not (PORT_PATH.match(port) and interface.startswith(port + ":")
            and _INTERFACE_TAIL.match(interface[len(port) + 1:]) and HOST.match(host)
            and TARGET.match(target) and SCSI_ADDRESS.match(address)
            and BLOCK_NAME.match(parts[-1])):
        return None
    usb = devices.joinpath(*parts[:-6])
    if usb_device_dir(sys_root, port) != usb:
        return None
    scsi = usb / interface / host / target / address
    return BlockChain(port, usb, scsi, scsi / "block" / parts[-1], parts[-1],
                      int(address.rsplit(":", 1)[1]))


def partitions(block: Path) -> list[tuple[str, str]]:
    """(name, dev) of the partitions of a disk: its sub-folders with a ``partition`` file."""
    found = []
    disk = block.name
    for name in list_dir(block):
        if name.startswith(disk) and name != disk and (block / name / "partition").is_file():
            dev = read_attr(block / name / "dev")
            if parse_dev(dev) is not None and dev is not None:
                found.append((name, dev))
    return found

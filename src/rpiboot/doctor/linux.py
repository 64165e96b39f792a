"""Raspberry Pi USB devices as Linux's sysfs shows them: port path, speed, serial, drivers,
hubs above, the ``/dev/bus/usb`` node's permissions, and a gadget's block devices.

Only files are read (sysfs attributes, ``stat`` of the nodes): no device is opened, so this
is fast and works whatever the permissions.  ``/sys/bus/usb/devices/1-3.2`` is named after
its port path (bus 1, port 3, then port 2 of the hub there): the reference's path format.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rpiboot.doctor.report import BlockDevice, Device, Hub, Interface, Node, is_pi_device
from rpiboot.record import record

SYSFS_USB = Path("/sys/bus/usb/devices")
DEV_ROOT = Path("/dev")
SECTOR = 512
SELF_POWERED = 0x40


@record
class SysfsUsb:
    """One USB device directory of sysfs."""

    name: str  # "1-3.2", "usb1" for a root hub
    path: Path
    vid: int
    pid: int
    busnum: int | None
    devnum: int | None
    speed: float | None
    serial_index: int | None
    device_class: int | None
    self_powered: bool | None
    serial: str | None
    product: str | None
    manufacturer: str | None

    @property
    def vid_pid(self) -> str:
        return f"{self.vid:04x}:{self.pid:04x}"


def read_attr(folder: Path, name: str) -> str | None:
    """A sysfs attribute without its newline; None when absent or unreadable."""
    try:
        with open(folder / name, encoding="utf-8", errors="replace") as handle:
            return handle.read(4096).strip()
    except OSError:
        return None


def _hex(text: str | None) -> int | None:
    try:
        return int(text, 16) if text else None
    except ValueError:
        return None


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return int(value) if value is not None and value.is_integer() else value


def _descriptors(folder: Path) -> bytes:
    try:
        with open(folder / "descriptors", "rb") as handle:
            return handle.read(64)
    except OSError:
        return b""


def _self_powered(folder: Path, raw: bytes) -> bool | None:
    attributes = _hex(read_attr(folder, "bmAttributes"))
    if attributes is None and len(raw) >= 26 and raw[19] == 2:  # config descriptor follows
        attributes = raw[25]
    return None if attributes is None else bool(attributes & SELF_POWERED)


def read_usb(folder: Path) -> SysfsUsb | None:
    """The device in ``folder``, or None if it is not a complete USB device."""
    vid, pid = _hex(read_attr(folder, "idVendor")), _hex(read_attr(folder, "idProduct"))
    if vid is None or pid is None:
        return None
    raw = _descriptors(folder)
    busnum, devnum = _number(read_attr(folder, "busnum")), _number(read_attr(folder, "devnum"))
    return SysfsUsb(
        name=folder.name, path=folder, vid=vid, pid=pid,
        busnum=int(busnum) if busnum is not None else None,
        devnum=int(devnum) if devnum is not None else None,
        speed=_number(read_attr(folder, "speed")),
        serial_index=raw[16] if len(raw) >= 18 else None,
        device_class=_hex(read_attr(folder, "bDeviceClass")),
        self_powered=_self_powered(folder, raw),
        serial=read_attr(folder, "serial"), product=read_attr(folder, "product"),
        manufacturer=read_attr(folder, "manufacturer"))


def list_usb(root: Path = SYSFS_USB) -> dict[str, SysfsUsb] | None:
    """Every USB device (no interfaces) by name; None when there is no such sysfs."""
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return None
    found = {}
    for name in names:
        if ":" not in name:
            usb = read_usb(root / name)
            if usb is not None:
                found[name] = usb
    return found


def _driver(folder: Path) -> str | None:
    link = folder / "driver"
    if os.path.islink(link):
        try:
            return os.path.basename(os.readlink(link))
        except OSError:
            return None
    uevent = read_attr(folder, "uevent") or ""  # umockdev-style trees keep it only here
    for line in uevent.splitlines():
        if line.startswith("DRIVER="):
            return line.split("=", 1)[1] or None
    return None


def interfaces(usb: SysfsUsb) -> list[Interface]:
    """The device's interfaces (``1-3.2:1.0``) and the driver bound to each."""
    try:
        names = sorted(name for name in os.listdir(usb.path) if name.startswith(usb.name + ":"))
    except OSError:
        return []
    found: list[Interface] = []
    for name in names:
        folder = usb.path / name
        number = _hex(read_attr(folder, "bInterfaceNumber"))
        found.append(Interface(number if number is not None else len(found),
                               _hex(read_attr(folder, "bInterfaceClass")), _driver(folder)))
    return found


def _owner(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def node_info(path: Path) -> Node | None:
    """Mode, owner and group of a device node, and whether this process may read and
    write it (the kernel's answer: ACLs from udev's uaccess count)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return Node(str(path), f"{stat.S_IMODE(info.st_mode):04o}", _owner(info.st_uid),
                _group(info.st_gid), os.access(path, os.R_OK), os.access(path, os.W_OK))


def block_devices(usb: SysfsUsb, dev_root: Path = DEV_ROOT) -> list[BlockDevice]:
    """Disks below the device's interfaces: ``1-1:1.0/host0/target0:0:0/0:0:0:0/block/sda``."""
    found = []
    for block in sorted(usb.path.glob(f"{usb.name}:*/host*/target*/*/block/*")):
        lun = block.parent.parent
        sectors = _number(read_attr(block, "size"))
        removable, read_only = read_attr(block, "removable"), read_attr(block, "ro")
        node = dev_root / block.name
        found.append(BlockDevice(
            name=block.name, path=str(node),
            size=int(sectors) * SECTOR if sectors is not None else None,
            vendor=read_attr(lun, "vendor"), model=read_attr(lun, "model"),
            removable=None if removable is None else removable == "1",
            read_only=None if read_only is None else read_only == "1",
            writable=os.access(node, os.W_OK) if os.path.exists(node) else None))
    return found


def hub_chain(name: str, everything: dict[str, SysfsUsb]) -> list[Hub]:
    """The hubs between the root hub and port path ``name`` ("1-3.2.1": 1-3, 1-3.2)."""
    bus, _, chain = name.partition("-")
    ports = chain.split(".")
    hubs = []
    for depth in range(1, len(ports)):
        usb = everything.get(f"{bus}-{'.'.join(ports[:depth])}")
        if usb is not None:
            hubs.append(Hub(usb.name, usb.vid_pid, usb.product, usb.speed, usb.self_powered))
    return hubs


def _vendor_driver(found: list[Interface]) -> str | None:
    vendor = [i for i in found if i.interface_class == 0xFF]
    chosen = vendor[-1] if vendor else (found[0] if found else None)
    return chosen.driver if chosen is not None else None


def linux_devices(seen_by_libusb: set[tuple[int, int]] | None, *,
                  root: Path = SYSFS_USB, dev_root: Path = DEV_ROOT) -> list[Device] | None:
    """Every Raspberry Pi USB device in sysfs (None: no sysfs here).  ``seen_by_libusb``:
    the (bus, address) pairs libusb lists, or None when libusb did not load."""
    everything = list_usb(root)
    if everything is None:
        return None
    devices = []
    for name, usb in everything.items():
        if not is_pi_device(usb.vid, usb.pid) or "-" not in name:
            continue
        found = interfaces(usb)
        node = (dev_root / "bus" / "usb" / f"{usb.busnum:03d}" / f"{usb.devnum:03d}"
                if usb.busnum is not None and usb.devnum is not None else None)
        visible = (None if seen_by_libusb is None or node is None
                   else (usb.busnum, usb.devnum) in seen_by_libusb)
        devices.append(Device(
            port_path=name, vid=usb.vid, pid=usb.pid, bus=usb.busnum, address=usb.devnum,
            serial_index=usb.serial_index, serial=usb.serial, speed=usb.speed,
            product=usb.product, manufacturer=usb.manufacturer,
            hubs=tuple(hub_chain(name, everything)), driver=_vendor_driver(found),
            interfaces=tuple(found), node=node_info(node) if node is not None else None,
            block_devices=tuple(block_devices(usb, dev_root)), libusb_visible=visible))
    return devices

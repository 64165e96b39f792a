"""A sysfs-like tree in a temporary folder, laid out the way the bench publishes one
(../shared/bench/rpisim/disks.py and umockdev_host.py) and the kernel does:

    sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host0/target0:0:0/0:0:0:0/block/sdb
    sys/bus/usb/devices/1-1  -> ../../../devices/pci0000:00/0000:00:14.0/usb1/1-1
    sys/dev/block/8:16       -> ../../devices/.../block/sdb
    sys/block/sdb            -> ../devices/.../block/sdb
    .../block/sdb/device     -> ../../../0:0:0:0
    dev/sdb                  (a regular file, or a link to a real block device)

Attributes are written the way sysfs shows them (with a trailing newline; SCSI vendor and
model padded to 8 and 16 characters).  A block device can be created bare and published
later (:meth:`FakeSysfs.publish`), as the bench does one attribute after the other.
"""

from __future__ import annotations

import os
from pathlib import Path

USB_PCI = "devices/pci0000:00/0000:00:14.0"
SATA = "devices/pci0000:00/0000:00:17.0"
BLOCK_ATTRS = ("size", "ro", "removable", "dev")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(os.path.relpath(target, link.parent))


class FakeSysfs:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.sys = root / "sys"
        self.dev = root / "dev"
        self.mountinfo = root / "mountinfo"
        self.dev.mkdir(parents=True)
        self.mountinfo.write_text("")
        self.hosts = 0
        self.pending: dict[str, dict[str, str]] = {}
        usb1 = self.sys / USB_PCI / "usb1"
        _write(usb1 / "busnum", "1")
        _link(self.sys / "bus" / "usb" / "devices" / "usb1", usb1)
        (self.sys / "dev" / "block").mkdir(parents=True)

    # ---------------------------------------------------------------- USB devices
    def usb_dir(self, port: str) -> Path:
        bus, _, chain = port.partition("-")
        folder = self.sys / USB_PCI / f"usb{bus}"
        ports = chain.split(".")
        for depth in range(1, len(ports) + 1):
            folder = folder / f"{bus}-{'.'.join(ports[:depth])}"
        return folder

    def usb_device(self, port: str, *, serial: str | None = "b29d2da0",
                   vid: str = "0525", pid: str = "a4a5") -> Path:
        folder = self.usb_dir(port)
        for name, value in (("idVendor", vid), ("idProduct", pid), ("devpath", port[2:]),
                            ("busnum", port.split("-")[0])):
            _write(folder / name, value)
        if serial is not None:
            _write(folder / "serial", serial)
        _link(self.sys / "bus" / "usb" / "devices" / port, folder)
        return folder

    # ---------------------------------------------------------------- disks
    @staticmethod
    def dev_of(name: str) -> str:
        return f"8:{(ord(name[2]) - ord('a')) * 16}"

    def scsi_host(self, port: str) -> Path:
        """Interface 0 bound to usb-storage, and a SCSI host below it."""
        intf = self.usb_dir(port) / f"{port}:1.0"
        existing = sorted(intf.glob("host*")) if intf.is_dir() else []
        if existing:
            return existing[0]
        _write(intf / "bInterfaceClass", "08")
        host = intf / f"host{self.hosts}"
        self.hosts += 1
        host.mkdir(parents=True)
        return host

    def _scsi_device(self, host: Path, lun: int, vendor: str, model: str) -> Path:
        number = host.name[4:]
        scsi = host / f"target{number}:0:0" / f"{number}:0:0:{lun}"
        _write(scsi / "vendor", f"{vendor[:8]:<8}")
        _write(scsi / "model", f"{model[:16]:<16}")
        _write(scsi / "rev", "0606")
        return scsi

    def _block(self, scsi: Path, name: str, attrs: dict[str, str], *, publish: bool,
               node: bool | Path) -> Path:
        block = scsi / "block" / name
        block.mkdir(parents=True)
        _link(block / "device", scsi)
        _link(self.sys / "dev" / "block" / attrs["dev"], block)
        _link(self.sys / "block" / name, block)
        self.pending[name] = attrs
        if publish:
            self.publish(name)
        if isinstance(node, Path):  # a real block device (a loop device) stands behind it
            (self.dev / name).symlink_to(node)
        elif node:
            (self.dev / name).write_bytes(bytes(512))
        return block

    def gadget_disk(self, port: str, lun: int, name: str, *, sectors: int = 131072,
                    ro: bool = False, removable: bool = True, vendor: str = "Linux",
                    model: str = "File-Stor Gadget", dev: str | None = None,
                    publish: bool = True, node: bool | Path = True) -> Path:
        """A LUN of the gadget at ``port`` (whose USB device must exist)."""
        scsi = self._scsi_device(self.scsi_host(port), lun, vendor, model)
        attrs = {"size": str(sectors), "ro": str(int(ro)), "removable": str(int(removable)),
                 "dev": dev or self.dev_of(name)}
        return self._block(scsi, name, attrs, publish=publish, node=node)

    def host_disk(self, name: str = "sda", *, ata: int = 1, sectors: int = 65536,
                  dev: str | None = None, node: bool | Path = True) -> Path:
        """A SATA disk of the host, outside the USB controller."""
        host = self.sys / SATA / f"ata{ata}" / f"host{self.hosts}"
        self.hosts += 1
        scsi = self._scsi_device(host, 0, "ATA", "Host SSD")
        attrs = {"size": str(sectors), "ro": "0", "removable": "0",
                 "dev": dev or self.dev_of(name)}
        return self._block(scsi, name, attrs, publish=True, node=node)

    def publish(self, name: str, only: tuple[str, ...] = BLOCK_ATTRS) -> None:
        """Write (some of) the attributes of a block device created bare."""
        block = (self.sys / "block" / name).resolve()
        for key in only:
            _write(block / key, self.pending[name][key])

    def partition(self, name: str, number: int) -> str:
        block = (self.sys / "block" / name).resolve()
        major, minor = self.pending[name]["dev"].split(":")
        dev = f"{major}:{int(minor) + number}"
        part = block / f"{name}{number}"
        _write(part / "partition", str(number))
        _write(part / "dev", dev)
        _write(part / "size", "2048")
        _link(self.sys / "dev" / "block" / dev, part)
        return dev

    def mount(self, dev: str, mount_point: str, source: str = "/dev/none") -> None:
        """A line of /proc/self/mountinfo."""
        with open(self.mountinfo, "a") as f:
            count = len(self.mountinfo.read_text().splitlines())
            f.write(f"{100 + count} 1 {dev} / {mount_point} rw,relatime shared:1 - vfat "
                    f"{source} rw\n")

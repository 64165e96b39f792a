"""The disks of a board's mass-storage gadget: which block devices are below a USB port.

After a board boots the mass-storage firmware it re-enumerates, on the same USB port path,
as a USB mass-storage gadget (0525:a4a5) whose LUNs (eMMC, NVMe, ...) become block devices
of the host.  A :class:`DiskFinder` maps a port path to those disks and a disk node back to
the port it is below; :mod:`rpiboot.flash.safety` asks it again at open time, so a disk that
is not below the board's port is never opened for writing.

* :class:`LinuxDiskFinder` reads sysfs (``/sys/bus/usb/devices/<port>`` and the usb-storage
  chain below it; :mod:`rpiboot.flash.sysfs`);
* :class:`~rpiboot.flash.platform_macos.MacDiskFinder` and
  :class:`~rpiboot.flash.platform_windows.WindowsDiskFinder` ask the OS's tools.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from rpiboot.errors import UsageError
from rpiboot.flash import sysfs
from rpiboot.flash.mounts import MountEntry, mount_points, read_mount_table
from rpiboot.record import record

DEFAULT_POLL_S = 0.05
DEFAULT_SETTLE_S = 0.5

Pause = Callable[[float, "threading.Event | None"], None]


@record
class Disk:
    """One block device below a board's USB port."""

    path: Path            # the node to open: /dev/sdb (or a regular file in tests)
    size: int             # bytes (0 if not yet known -> not ready)
    logical_sector: int   # bytes, 512 default
    read_only: bool
    removable: bool
    vendor: str
    model: str
    lun: int              # SCSI LUN (0 = first)
    port_path: str        # the USB port path it is below ("1-1.3")
    name: str             # "sdb"
    serial: str | None = None          # the gadget's USB serial
    mounted: tuple[str, ...] = ()      # mount points of the disk or its partitions
    sysfs: str | None = None           # /sys/... of the block device (Linux)
    dev: str | None = None             # "8:16": its device number (Linux), None for a file

    def label(self) -> str:
        """"/dev/sdb (LUN 0, Linux File-Stor Gadget, 64 MiB)"."""
        what = " ".join(part for part in (self.vendor, self.model) if part) or "disk"
        return f"{self.path} (LUN {self.lun}, {what}, {human_size(self.size)})"


class DiskFinder(Protocol):
    """Maps a USB port path to the disks below it, and a disk node back to its port."""

    def disks_below(self, port_path: str) -> list[Disk]:
        """Every block device whose USB ancestor is exactly the device at port_path, fully
        published (size readable and > 0). [] when none yet."""
        ...

    def wait_for_disks(self, port_path: str, *, deadline: float,
                       stop: threading.Event | None = None,
                       settle: float = DEFAULT_SETTLE_S) -> list[Disk]:
        """Poll until disks_below() is non-empty and unchanged for ``settle`` seconds (all
        LUNs of a gadget appear within about a second), or until ``deadline``
        (time.monotonic() seconds) or ``stop`` (-> [])."""
        ...

    def owner_port(self, path: Path) -> str | None:
        """The USB port path a block device node is below (re-read at open time), or None
        (not a USB disk, or unknown)."""
        ...


def human_size(size: int) -> str:
    """4194304 -> "4 MiB", 1536 -> "1.5 KiB"."""
    if size < 1024:
        return f"{size} B"
    value, units = size / 1024, ["KiB", "MiB", "GiB", "TiB"]
    while value >= 1024 and len(units) > 1:
        value, units = value / 1024, units[1:]
    return f"{value:.4g} {units[0]}"


def sleep_or_stop(seconds: float, stop: threading.Event | None) -> None:
    if stop is not None:
        stop.wait(seconds)
    else:
        time.sleep(seconds)


def wait_until_stable(poll: Callable[[], list[Disk]], *, deadline: float,
                      stop: threading.Event | None, settle: float, interval: float,
                      clock: Callable[[], float] = time.monotonic,
                      pause: Pause = sleep_or_stop) -> list[Disk]:
    """Call ``poll`` every ``interval`` seconds until it returns the same non-empty list
    for ``settle`` seconds (-> that list), or until ``deadline`` / ``stop`` (-> [])."""
    last: list[Disk] | None = None
    since = clock()
    while True:
        if stop is not None and stop.is_set():
            return []
        now = clock()
        current = poll()
        if current != last:
            last, since = current, now
        if current and now - since >= settle:
            return current
        if now >= deadline:
            return []
        pause(max(0.0, min(interval, deadline - now)), stop)


def describe(disks: Sequence[Disk]) -> str:
    return "; ".join(disk.label() for disk in disks) if disks else "none"


def select_target(disks: Sequence[Disk], target: int | str) -> Disk:
    """The disk ``target`` names: an int is a LUN, a string a case-insensitive part of
    the model ("nvme", "File-Stor").  UsageError listing the disks when none or several
    match."""
    if isinstance(target, bool) or not isinstance(target, (int, str)):
        raise UsageError(f"--target must be a LUN number or a model name, not {target!r}")
    if isinstance(target, int):
        found = [disk for disk in disks if disk.lun == target]
        wanted = f"LUN {target}"
    else:
        needle = target.strip().casefold()
        found = [disk for disk in disks if needle and needle in disk.model.casefold()]
        wanted = f"a model matching {target!r}"
    if len(found) == 1:
        return found[0]
    port = disks[0].port_path if disks else "?"
    if not found:
        raise UsageError(f"no disk with {wanted} below port {port}; there is: "
                         f"{describe(disks)}",
                         hint="Choose one with --target LUN or --target MODEL.")
    raise UsageError(f"{len(found)} disks have {wanted} below port {port}: {describe(found)}",
                     hint="Name one by its LUN: --target N.")


class PollingFinder:
    """What every OS's :class:`DiskFinder` shares: waiting for a board's disks by polling
    its own :meth:`disks_below` until the list is stable (:func:`wait_until_stable`)."""

    def __init__(self, *, poll_interval: float, clock: Callable[[], float] = time.monotonic,
                 pause: Pause = sleep_or_stop) -> None:
        self.poll_interval = poll_interval
        self._clock = clock
        self._pause = pause

    def disks_below(self, port_path: str) -> list[Disk]:
        """The disks whose USB device is ``port_path`` or below it (the OS's answer)."""
        raise NotImplementedError

    def wait_for_disks(self, port_path: str, *, deadline: float,
                       stop: threading.Event | None = None,
                       settle: float = DEFAULT_SETTLE_S) -> list[Disk]:
        """The disks below ``port_path`` once they stopped changing for ``settle`` seconds;
        [] at ``deadline`` or ``stop``."""
        sysfs.check_port_path(port_path)
        return wait_until_stable(lambda: self.disks_below(port_path), deadline=deadline,
                                 stop=stop, settle=settle, interval=self.poll_interval,
                                 clock=self._clock, pause=self._pause)


class LinuxDiskFinder(PollingFinder):
    """Disks below a USB port from sysfs (:mod:`rpiboot.flash.sysfs`); mounts from
    ``mounts`` (``/proc/self/mountinfo`` or ``/proc/self/mounts``)."""

    def __init__(self, sys_root: Path = Path("/sys"), dev_root: Path = Path("/dev"),
                 mounts: Path = Path("/proc/self/mountinfo"), *,
                 poll_interval: float = DEFAULT_POLL_S,
                 clock: Callable[[], float] = time.monotonic,
                 pause: Pause = sleep_or_stop) -> None:
        super().__init__(poll_interval=poll_interval, clock=clock, pause=pause)
        self.sys_root = Path(sys_root)
        self.dev_root = Path(dev_root)
        self.mounts = Path(mounts)

    def disks_below(self, port_path: str) -> list[Disk]:
        chains = sysfs.chains_below(self.sys_root, port_path)
        if not chains:
            return []
        table = read_mount_table(self.mounts)
        found = []
        for chain in chains:
            disk = self._disk(chain, table)
            if disk is not None:
                found.append(disk)
        return sorted(found, key=lambda disk: (disk.lun, disk.name))

    def owner_port(self, path: Path) -> str | None:
        try:
            info = os.stat(path)
        except (OSError, ValueError):
            return None
        if not stat.S_ISBLK(info.st_mode):
            return None
        return self.port_of_dev(f"{os.major(info.st_rdev)}:{os.minor(info.st_rdev)}")

    def port_of_dev(self, dev: str) -> str | None:
        """The port path the block device (or partition) with number ``dev`` ("8:16") is
        below, from ``/sys/dev/block``; None when it is not a USB disk."""
        chain = sysfs.chain_of_block(self.sys_root, dev)
        return chain.port_path if chain is not None else None

    def _disk(self, chain: sysfs.BlockChain, table: list[MountEntry]) -> Disk | None:
        """The record of one block device, or None while it is not fully published (its
        attributes, and its /dev node, appear one after the other)."""
        block = chain.block
        sectors = sysfs.read_int(block / "size")
        dev = sysfs.read_attr(block / "dev")
        number = sysfs.parse_dev(dev)
        read_only = sysfs.read_flag(block / "ro")
        removable = sysfs.read_flag(block / "removable")
        if not sectors or number is None or dev is None or read_only is None \
                or removable is None or not self._node_ready(chain.name, number):
            return None
        sector = sysfs.read_int(block / "queue" / "logical_block_size", lo=512, hi=1 << 16)
        devs = {number} | {parsed for _, part in sysfs.partitions(block)
                           if (parsed := sysfs.parse_dev(part)) is not None}
        return Disk(
            path=self.dev_root / chain.name, size=sectors * sysfs.SECTOR,
            logical_sector=sector if sector and sector & (sector - 1) == 0 else 512,
            read_only=read_only, removable=removable,
            vendor=sysfs.read_attr(chain.scsi_device / "vendor") or "",
            model=sysfs.read_attr(chain.scsi_device / "model") or "",
            lun=chain.lun, port_path=chain.port_path, name=chain.name,
            serial=sysfs.read_attr(chain.usb_device / "serial") or None,
            mounted=mount_points(table, devs), sysfs=str(block), dev=dev)

    def _node_ready(self, name: str, number: tuple[int, int]) -> bool:
        """The /dev node exists; when it is a block device, it has this number (a stale
        node of an earlier disk with the same name does not count)."""
        try:
            info = os.stat(self.dev_root / name)
        except (OSError, ValueError):
            return False
        if stat.S_ISBLK(info.st_mode):
            return (os.major(info.st_rdev), os.minor(info.st_rdev)) == number
        return True


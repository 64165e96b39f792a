"""Opening a board's disk for writing, with every refusal checked first.

The one rule: a disk that is not below the board's USB port is never opened for writing,
whatever the user typed.  :func:`open_for_writing` re-checks everything at open time, in
this order, and refuses (a :class:`WriteRefused`, nothing written) when:

1. ``finder.owner_port(path)`` is not ``port_path`` (another port, the host's own disk),
   or the disk is not, now, one of ``finder.disks_below(port_path)`` (it went away);
2. the node at the path is not that disk any more (its device number differs from the
   one sysfs gives, or it is neither a device nor, for tests, a regular file);
3. it is read-only (sysfs ``ro``);
4. it (or a partition) is mounted, unless ``unmount=True``: then each mount point is
   unmounted (``umount``; ``diskutil unmount`` on macOS) and all of the above is checked
   again;
5. the image is larger than the disk (when its size is known up front);
6. the exclusive open fails (EBUSY: in use), the descriptor is not the node checked, or
   the kernel says read-only (``BLKROGET``), no capacity, or a size smaller than the
   image (``BLKGETSIZE64``).

A regular file stands in for a disk in tests (only a fake finder can give one: the Linux
finder's ``owner_port`` is None for anything but a block device); it is opened without
``O_EXCL`` and never created or truncated (:mod:`rpiboot.flash.blockdev`).

The result holds the descriptor, the real size and the logical sector size.
"""

from __future__ import annotations

import errno
import os
import sys

from rpiboot.errors import InputError
from rpiboot.flash import blockdev
from rpiboot.flash.disks import Disk, DiskFinder, describe, human_size
from rpiboot.flash.hostcmd import Runner, run_command
from rpiboot.fspaths import path_error

OTHER_PORT, GONE, CHANGED, NOT_A_DISK = "other-port", "gone", "changed", "not-a-disk"
READ_ONLY, MOUNTED, TOO_SMALL, BUSY = "read-only", "mounted", "too-small", "busy"
ONLY_OURS = ("rpiboot writes only the disks below the USB port of the board it booted; "
             "this one belongs to another device, or to this computer.")


class WriteRefused(InputError):
    """A disk was not opened for writing (nothing was written); ``reason`` says why:
    other-port, gone, changed, not-a-disk, read-only, mounted, too-small or busy."""

    def __init__(self, message: str, *, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


class OpenedDisk:
    """A disk open for writing: ``fd`` (a raw descriptor), ``size`` (bytes, from the
    kernel), ``logical_sector`` (bytes), and ``disk`` (the record checked at open time).
    Close it (or use ``with``); closing twice is harmless."""

    def __init__(self, fd: int, disk: Disk, size: int, logical_sector: int) -> None:
        self.fd = fd
        self.disk = disk
        self.path = disk.path
        self.size = size
        self.logical_sector = logical_sector
        self.closed = False

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)

    def __enter__(self) -> OpenedDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd {self.fd}"
        return f"OpenedDisk({self.path}, {self.size} bytes, {state})"


def _refuse(disk: Disk, what: str, reason: str, hint: str) -> WriteRefused:
    return WriteRefused(f"refusing to write {disk.label()}: {what}", reason=reason, hint=hint)


def _current(disk: Disk, finder: DiskFinder, port_path: str) -> Disk:
    """The disk as the finder sees it now, below ``port_path``; refused otherwise."""
    if disk.port_path != port_path:
        raise _refuse(disk, f"it is below USB port {disk.port_path}, not below the board at "
                      f"{port_path}", OTHER_PORT, ONLY_OURS)
    present = finder.disks_below(port_path)
    fresh = next((d for d in present if d.path == disk.path), None)
    owner = finder.owner_port(disk.path)
    if owner == port_path and fresh is not None:
        return fresh
    if owner is None and not os.path.lexists(blockdev.node_path(disk.path)):
        raise _refuse(disk, "it went away", GONE,
                      "The board may have reset or been unplugged; run again.")
    if owner != port_path:
        where = f"below USB port {owner}" if owner else "not below any board's USB port"
        raise _refuse(disk, f"it is {where}, not below the board at {port_path}",
                      OTHER_PORT, ONLY_OURS)
    raise _refuse(disk, f"it is not (or no longer) one of the whole disks below port "
                  f"{port_path} (there: {describe(present)})", GONE,
                  "The board may have reset or been unplugged; run again.")


def _node(disk: Disk) -> blockdev.Node:
    """The node at the disk's path, which must be that disk (its device number)."""
    node = blockdev.stat_node(disk.path)
    if node is None:
        raise _refuse(disk, "it is neither a disk device nor a file", NOT_A_DISK,
                      "Check that the board's disk is still there; run again.")
    if node.kind in ("block", "char"):
        actual = f"{node.dev[0]}:{node.dev[1]}" if node.dev is not None else None
        if disk.dev is None or actual != disk.dev:
            raise _refuse(disk, f"the node is device {actual}, the disk below port "
                          f"{disk.port_path} is {disk.dev or 'unknown'}", CHANGED,
                          "The disk re-appeared under another name; run again.")
    elif node.kind == "file" and disk.dev is not None:
        raise _refuse(disk, f"it is a regular file, not the device {disk.dev}", NOT_A_DISK,
                      "Check that the board's disk is still there; run again.")
    return node


def _unmount(disk: Disk, run: Runner) -> None:
    if sys.platform.startswith("win"):
        raise _refuse(disk, f"it has mounted volumes ({', '.join(disk.mounted)})", MOUNTED,
                      "Remove the drive letters of its volumes (Disk Management), or "
                      "take the disk offline, then run again.")
    tool = ("diskutil", "unmount") if sys.platform == "darwin" else ("umount",)
    for mount_point in disk.mounted:
        done = run((*tool, mount_point))
        if done.status != 0:
            why = (done.stderr or done.stdout).strip().splitlines()
            raise _refuse(disk, f"cannot unmount {mount_point}: "
                          f"{why[-1] if why else f'exit status {done.status}'}", MOUNTED,
                          f"Close what uses it (lsof +f -- {mount_point}), unmount it, "
                          "and run again.")


def _checked(disk: Disk, finder: DiskFinder, port_path: str, unmount: bool,
             run: Runner) -> tuple[Disk, blockdev.Node]:
    fresh = _current(disk, finder, port_path)
    node = _node(fresh)
    if fresh.read_only:
        raise _refuse(fresh, "the disk is read-only", READ_ONLY,
                      "The board exports it read-only (a write-protected medium or the "
                      "gadget's ro setting); make it writable and run again.")
    if fresh.mounted and unmount:
        _unmount(fresh, run)
        fresh = _current(fresh, finder, port_path)
        node = _node(fresh)
    if fresh.mounted:
        verb = "is still mounted" if unmount else "is mounted"
        raise _refuse(fresh, f"it {verb} at {', '.join(fresh.mounted)}", MOUNTED,
                      "Unmount it first (umount MOUNTPOINT), or pass --unmount to let "
                      "rpiboot unmount it.")
    return fresh, node


def _too_big(disk: Disk, image_size: int | None, disk_size: int) -> None:
    if image_size is not None and disk_size and image_size > disk_size:
        raise _refuse(disk, f"the image ({human_size(image_size)}) is larger than the disk "
                      f"({human_size(disk_size)})", TOO_SMALL,
                      "Use a smaller image, or choose another disk with --target.")


def _open(disk: Disk, node: blockdev.Node) -> int:
    try:
        return os.open(blockdev.node_path(disk.path), blockdev.open_flags(node))
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            raise _refuse(disk, "it is in use (a mounted or held partition, or another "
                          "program opened it exclusively)", BUSY,
                          "Unmount it and close what uses it (LVM, an automounter, a "
                          "partition tool), then run again.") from None
        if exc.errno == errno.EROFS:
            raise _refuse(disk, "the disk is read-only", READ_ONLY,
                          "Make it writable and run again.") from None
        if exc.errno in (errno.ENOENT, errno.ENXIO, errno.ENODEV):
            raise _refuse(disk, "it went away", GONE,
                          "The board may have reset or been unplugged; run again.") from None
        raise path_error(disk.path, exc, doing="open the disk for writing") from None


def _measured(fd: int, disk: Disk, node: blockdev.Node, image_size: int | None
              ) -> OpenedDisk:
    if not blockdev.same_node(fd, node):
        raise _refuse(disk, "the node changed while it was being opened", CHANGED,
                      "Run again.")
    geometry = blockdev.geometry(fd, node)
    if geometry.read_only:
        raise _refuse(disk, "the kernel says the disk is read-only", READ_ONLY,
                      "Make it writable and run again.")
    size = geometry.size if geometry.size is not None else disk.size
    if size <= 0:
        raise _refuse(disk, "it reports no capacity (no medium?)", GONE,
                      "Check the board's storage; run again.")
    _too_big(disk, image_size, size)
    sector = geometry.logical_sector or disk.logical_sector or 512
    return OpenedDisk(fd, disk, size, sector)


def open_for_writing(disk: Disk, *, finder: DiskFinder, port_path: str,
                     image_size: int | None, unmount: bool,
                     run: Runner = run_command) -> OpenedDisk:
    """Open ``disk`` of the board at ``port_path`` for writing, after every check of this
    module's docstring; WriteRefused (nothing written, nothing opened) when one fails.
    ``run`` runs the unmount tool (tests pass a fake)."""
    if image_size is not None and image_size < 0:
        raise ValueError("image_size must be None or >= 0")
    fresh, node = _checked(disk, finder, port_path, unmount, run)
    _too_big(fresh, image_size, fresh.size)
    fd = _open(fresh, node)
    try:
        return _measured(fd, fresh, node, image_size)
    except BaseException:
        os.close(fd)
        raise


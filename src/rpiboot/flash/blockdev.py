"""The node behind a disk path, opened for writing: what kind of node it is, the flags to
open it with, and its real size and sector size from the kernel.

* Linux block device: ``O_WRONLY | O_EXCL | O_CLOEXEC``.  ``O_EXCL`` on a block device is
  an exclusive open: it fails with EBUSY while a partition is mounted or held (LVM, dm,
  md) or another program opened it exclusively.  Size ``BLKGETSIZE64``, logical sector
  ``BLKSSZGET``, read-only ``BLKROGET``.
* macOS ``/dev/diskN`` (block) or ``/dev/rdiskN`` (character, raw): ``O_WRONLY |
  O_CLOEXEC``; ``DKIOCGETBLOCKCOUNT`` x ``DKIOCGETBLOCKSIZE``, ``DKIOCISWRITABLE``.
* A regular file stands in for a disk in tests (a fake finder gives its path): a plain
  ``O_WRONLY | O_CLOEXEC`` open (never created, never truncated); its size is ``st_size``.
"""

from __future__ import annotations

import os
import platform
import stat
import struct
import sys

from rpiboot.record import record

_PPC_MIPS_SPARC = ("ppc", "powerpc", "mips", "sparc")
# Linux <linux/fs.h>; _IOR's direction bits differ on powerpc, mips and sparc
BLKROGET, BLKSSZGET = 0x125E, 0x1268
BLKGETSIZE64 = (0x40081272 if platform.machine().lower().startswith(_PPC_MIPS_SPARC)
                else 0x80081272)
# macOS <sys/disk.h>
DKIOCGETBLOCKSIZE, DKIOCGETBLOCKCOUNT, DKIOCISWRITABLE = 0x40046418, 0x40086419, 0x4004641D


@record
class Node:
    """What ``stat`` said of a disk path just before it was opened."""

    kind: str                 # "block", "char" (macOS raw disk), "file", "windows"
    dev: tuple[int, int] | None
    identity: tuple[int, int] | None  # (st_dev, st_ino): the very node


def node_path(path: str | os.PathLike[str]) -> str:
    """The path to open: on Windows, ``Path(r"\\\\.\\PhysicalDrive2")`` prints with a
    trailing backslash that CreateFile does not accept."""
    text = os.fspath(path)
    if sys.platform.startswith("win") and text.startswith("\\\\.\\"):
        return text.rstrip("\\")
    return text


def stat_node(path: str | os.PathLike[str]) -> Node | None:
    """The node at ``path`` (symbolic links followed); None when there is none or it is
    neither a device nor a regular file.  Windows' ``\\\\.\\PhysicalDriveN`` cannot be
    stat'ed: it is a "windows" node without a number."""
    if sys.platform.startswith("win") and node_path(path).startswith("\\\\.\\"):
        return Node("windows", None, None)
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    identity = (info.st_dev, info.st_ino)
    number = (os.major(info.st_rdev), os.minor(info.st_rdev))
    if stat.S_ISBLK(info.st_mode):
        return Node("block", number, identity)
    if stat.S_ISCHR(info.st_mode) and sys.platform == "darwin":
        return Node("char", number, identity)
    if stat.S_ISREG(info.st_mode):
        return Node("file", None, identity)
    return None


def open_flags(node: Node) -> int:
    flags = os.O_WRONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    if node.kind == "block" and sys.platform.startswith("linux"):
        flags |= os.O_EXCL  # exclusive open of a block device (no O_CREAT: nothing created)
    return flags


def same_node(fd: int, node: Node) -> bool:
    """The open descriptor is the node that was checked: same (st_dev, st_ino), and when
    fstat shows a device, the same device number.  (Under umockdev, fstat shows the
    regular file standing in for the device; its identity still proves it.)"""
    if node.kind == "windows":
        return True
    try:
        info = os.fstat(fd)
    except OSError:
        return False
    if (info.st_dev, info.st_ino) != node.identity:
        return False
    if stat.S_ISBLK(info.st_mode) or stat.S_ISCHR(info.st_mode):
        return (os.major(info.st_rdev), os.minor(info.st_rdev)) == node.dev
    return True


def _ioctl(fd: int, request: int, fmt: str) -> int | None:
    try:
        import fcntl
    except ImportError:  # Windows
        return None
    buffer = bytearray(struct.calcsize(fmt))
    try:
        fcntl.ioctl(fd, request, buffer)
    except (OSError, OverflowError, ValueError):
        return None
    value: int = struct.unpack(fmt, buffer)[0]
    return value


@record
class Geometry:
    """What the kernel says of an open disk (None: it could not say)."""

    size: int | None
    logical_sector: int | None
    read_only: bool | None


def geometry(fd: int, node: Node) -> Geometry:
    if node.kind == "file":
        try:
            return Geometry(os.fstat(fd).st_size, None, False)
        except OSError:
            return Geometry(None, None, None)
    if node.kind == "block" and sys.platform.startswith("linux"):
        read_only = _ioctl(fd, BLKROGET, "i")
        return Geometry(_ioctl(fd, BLKGETSIZE64, "Q"), _ioctl(fd, BLKSSZGET, "i"),
                        None if read_only is None else read_only != 0)
    if sys.platform == "darwin" and node.kind in ("block", "char"):
        block, count = _ioctl(fd, DKIOCGETBLOCKSIZE, "I"), _ioctl(fd, DKIOCGETBLOCKCOUNT, "Q")
        writable = _ioctl(fd, DKIOCISWRITABLE, "I")
        size = block * count if block is not None and count is not None else None
        return Geometry(size, block, None if writable is None else writable == 0)
    return Geometry(None, None, None)

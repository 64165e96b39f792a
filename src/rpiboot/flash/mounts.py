"""Which mount points use a disk or one of its partitions, from the kernel's mount table.

Both formats are read, line by line (each line is untrusted input; a malformed one is
skipped):

* ``/proc/self/mountinfo`` (the default): ``ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS
  [TAGS...] - FSTYPE SOURCE SUPER_OPTIONS``; the ``MAJ:MIN`` field names the device
  directly.  Btrfs reports an anonymous device number there, so the source is checked too;
* ``/proc/self/mounts`` (``SOURCE MOUNTPOINT FSTYPE OPTIONS 0 0``).

A mount uses a disk when its device number is one of the disk's (the disk's own, or one of
its partitions'), or when its source is a ``/dev/...`` node of one of those numbers (this
follows ``/dev/disk/by-uuid/...`` links).  Octal escapes (``\\040`` for a blank) are
decoded.  Reads stop at :data:`MAX_TABLE_BYTES`.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from rpiboot.record import record

MAX_TABLE_BYTES = 16 << 20
MAX_LINE_CHARS = 16384
_OCTAL = re.compile(rb"\\([0-3][0-7]{2})")
_DEV = re.compile(r"^([0-9]{1,10}):([0-9]{1,10})\Z")


@record
class MountEntry:
    """One line of the mount table."""

    source: str
    mount_point: str
    dev: tuple[int, int] | None = None  # mountinfo only


def unescape(field: str) -> str:
    """The kernel's octal escapes (``\\040`` = blank, ``\\011`` tab, ``\\012`` newline,
    ``\\134`` backslash) decoded; other bytes as the file system gives them."""
    if "\\" not in field:
        return field
    try:
        raw = os.fsencode(field)
    except UnicodeError:  # text that did not come from the kernel: left as it is
        return field
    return os.fsdecode(_OCTAL.sub(lambda m: bytes([int(m.group(1), 8)]), raw))


def _mountinfo(fields: list[str]) -> MountEntry | None:
    try:
        separator = fields.index("-", 6)
    except ValueError:
        return None
    found = _DEV.match(fields[2])
    if found is None:
        return None
    source = fields[separator + 2] if separator + 2 < len(fields) else ""
    return MountEntry(unescape(source), unescape(fields[4]),
                      (int(found.group(1)), int(found.group(2))))


def parse_mount_table(text: str) -> list[MountEntry]:
    """Every well-formed line of a mountinfo or mounts table (the format is told per line)."""
    entries = []
    for line in text.split("\n"):  # the kernel's separators: newline and single blanks
        if len(line) > MAX_LINE_CHARS:
            continue
        fields = [field for field in line.split(" ") if field]
        if len(fields) >= 10 and _DEV.match(fields[2]) and "-" in fields[6:]:
            entry = _mountinfo(fields)
        elif len(fields) >= 2:
            entry = MountEntry(unescape(fields[0]), unescape(fields[1]))
        else:
            entry = None
        if entry is not None and entry.mount_point.startswith("/"):
            entries.append(entry)
    return entries


def read_mount_table(path: Path) -> list[MountEntry]:
    """The mount table at ``path`` (at most MAX_TABLE_BYTES of it); [] when unreadable."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TABLE_BYTES)
    except OSError:
        return []
    return parse_mount_table(os.fsdecode(data) if b"\0" not in data else "")


def _block_number(path: str, stat_node: Callable[[str], os.stat_result]
                  ) -> tuple[int, int] | None:
    try:
        info = stat_node(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISBLK(info.st_mode):
        return None
    return os.major(info.st_rdev), os.minor(info.st_rdev)


def mount_points(entries: Iterable[MountEntry], devs: set[tuple[int, int]],
                 stat_node: Callable[[str], os.stat_result] = os.stat) -> tuple[str, ...]:
    """The mount points (in table order, each once) whose device is one of ``devs``."""
    found: list[str] = []
    for entry in entries:
        hit = entry.dev in devs
        if not hit and entry.source.startswith("/dev/"):
            hit = _block_number(entry.source, stat_node) in devs
        if hit and entry.mount_point not in found:
            found.append(entry.mount_point)
    return tuple(found)

"""The mount table parser: both formats, the kernel's escapes, device numbers from the
mountinfo field or the source node, and arbitrary text (never a crash)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot.flash import mounts
from rpiboot.flash.mounts import MountEntry, mount_points, parse_mount_table, unescape

MOUNTINFO = """\
22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw
36 22 8:17 / /media/pi/boot\\040fs rw,nosuid shared:120 master:3 - vfat /dev/sdb1 rw,fmask=0022
37 22 8:18 / /media/pi/rootfs rw shared:121 - ext4 /dev/disk/by-label/rootfs rw
38 22 0:45 / /srv/btrfs rw shared:122 - btrfs /dev/sdb3 rw,space_cache=v2
39 22 0:5 / /dev rw shared:2 - devtmpfs udev rw
40 22 8:19 / relative rw - ext4 /dev/sdb4 rw
garbage
41 22 8:20 /
"""

MOUNTS = """\
/dev/sda2 / ext4 rw,relatime 0 0
/dev/sdb1 /media/pi/tab\\011name vfat rw 0 0
tmpfs /run tmpfs rw 0 0
"""


def test_mountinfo_lines_with_optional_fields_and_escapes() -> None:
    entries = parse_mount_table(MOUNTINFO)
    assert entries == [
        MountEntry("/dev/sda2", "/", (8, 2)),
        MountEntry("/dev/sdb1", "/media/pi/boot fs", (8, 17)),
        MountEntry("/dev/disk/by-label/rootfs", "/media/pi/rootfs", (8, 18)),
        MountEntry("/dev/sdb3", "/srv/btrfs", (0, 45)),
        MountEntry("udev", "/dev", (0, 5)),
    ]


def test_the_mounts_format() -> None:
    assert parse_mount_table(MOUNTS) == [
        MountEntry("/dev/sda2", "/"), MountEntry("/dev/sdb1", "/media/pi/tab\tname"),
        MountEntry("tmpfs", "/run")]


def _fake_stat(numbers: dict[str, tuple[int, int]]) -> Callable[[str], os.stat_result]:
    """stat() of block device nodes that exist only in ``numbers``."""
    def stat_node(path: str) -> os.stat_result:
        if path not in numbers:
            raise FileNotFoundError(path)
        return _blk(os.makedev(*numbers[path]))
    return stat_node


def _blk(rdev: int) -> os.stat_result:
    # st_rdev is not among the 10 positional fields: pass it through the dict argument
    return os.stat_result((stat.S_IFBLK | 0o660, 1, 1, 1, 0, 0, 0, 0, 0, 0), {"st_rdev": rdev})


def test_a_disk_is_matched_by_number_or_by_its_source_node() -> None:
    entries = parse_mount_table(MOUNTINFO)
    node = _fake_stat({"/dev/sdb3": (8, 19), "/dev/disk/by-label/rootfs": (8, 18)})
    sdb = {(8, 16), (8, 17), (8, 18), (8, 19)}
    assert mount_points(entries, sdb, node) == ("/media/pi/boot fs", "/media/pi/rootfs",
                                                "/srv/btrfs")  # btrfs: by its source
    assert mount_points(entries, {(8, 0), (8, 2)}, node) == ("/",)
    assert mount_points(entries, {(8, 32)}, node) == ()
    assert mount_points(parse_mount_table(MOUNTS), {(8, 17)},
                        _fake_stat({"/dev/sdb1": (8, 17)})) == ("/media/pi/tab\tname",)


def test_only_dev_sources_are_stat_ed() -> None:
    asked: list[str] = []

    def stat_node(path: str) -> os.stat_result:
        asked.append(path)
        raise FileNotFoundError(path)

    mount_points(parse_mount_table(MOUNTINFO + "50 22 0:9 / /x rw - nfs srv:/export rw\n"
                                   "51 22 0:9 / /y rw - fuse /home/u/img rw\n"),
                 {(8, 99)}, stat_node)
    assert all(path.startswith("/dev/") for path in asked) and asked


def test_the_read_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = tmp_path / "mountinfo"
    table.write_text(MOUNTINFO)
    assert len(mounts.read_mount_table(table)) == 5
    monkeypatch.setattr(mounts, "MAX_TABLE_BYTES", 60)
    assert [e.mount_point for e in mounts.read_mount_table(table)] == ["/"]
    assert mounts.read_mount_table(tmp_path / "missing") == []
    (tmp_path / "nul").write_bytes(b"22 1 8:2 / / rw - ext4 /dev/sda2 rw\n\0")
    assert mounts.read_mount_table(tmp_path / "nul") == []


def _escape(text: str) -> str:
    """The kernel's escaping of a mount point (blank, tab, newline, backslash)."""
    return "".join(f"\\{ord(c):03o}" if c in " \t\n\\" else c for c in text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1))
def test_unescape_undoes_the_kernels_escapes(name: str) -> None:
    path = "/" + name.replace("\0", "")
    line = f"40 22 8:17 / {_escape(path)} rw shared:1 - vfat /dev/sdb1 rw"
    assert parse_mount_table(line) == [MountEntry("/dev/sdb1", path, (8, 17))]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_crashes(text: str) -> None:
    for entry in parse_mount_table(text):
        assert entry.mount_point.startswith("/")
    assert unescape(text) is not None
    mount_points(parse_mount_table(text), {(8, 16)}, _fake_stat({}))

"""LinuxDiskFinder on sysfs-like trees in tmp (tests/flash/fake_sysfs.py): which disks are
below which port, when a disk counts as published, mounts, and symbolic-link tricks that
must never give a disk to the wrong port."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fake_sysfs import USB_PCI, FakeSysfs

from rpiboot.errors import UsageError
from rpiboot.flash.disks import Disk, LinuxDiskFinder


@pytest.fixture
def tree(tmp_path: Path) -> FakeSysfs:
    return FakeSysfs(tmp_path)


def finder_for(tree: FakeSysfs) -> LinuxDiskFinder:
    return LinuxDiskFinder(tree.sys, tree.dev, tree.mountinfo)


def bench_like(tree: FakeSysfs) -> FakeSysfs:
    """What the bench shows after cm5-two-luns-like boots: a host SATA disk (sda), a
    gadget with two LUNs at 1-1 (sdb, sdc), a USB stick at 1-2 (sdd)."""
    tree.host_disk("sda")
    tree.usb_device("1-1", serial="b29d2da0")
    tree.gadget_disk("1-1", 0, "sdb", sectors=131072)
    tree.gadget_disk("1-1", 1, "sdc", sectors=65536, model="NVMe", ro=True)
    tree.usb_device("1-2", serial="STICK0001", vid="0781", pid="5567")
    tree.gadget_disk("1-2", 0, "sdd", vendor="SanDisk", model="Cruzer Blade")
    return tree


def test_a_gadget_with_one_lun_is_found_with_every_field(tree: FakeSysfs) -> None:
    tree.host_disk("sda")
    tree.usb_device("1-1")
    block = tree.gadget_disk("1-1", 0, "sdb", sectors=131072)
    assert finder_for(tree).disks_below("1-1") == [Disk(
        path=tree.dev / "sdb", size=64 << 20, logical_sector=512, read_only=False,
        removable=True, vendor="Linux", model="File-Stor Gadget", lun=0, port_path="1-1",
        name="sdb", serial="b29d2da0", mounted=(), sysfs=str(block.resolve()), dev="8:16")]


def test_two_luns_come_in_lun_order_and_other_ports_keep_theirs(tree: FakeSysfs) -> None:
    finder = finder_for(bench_like(tree))
    mine = finder.disks_below("1-1")
    assert [(d.name, d.lun, d.size, d.model, d.read_only) for d in mine] == [
        ("sdb", 0, 64 << 20, "File-Stor Gadget", False), ("sdc", 1, 32 << 20, "NVMe", True)]
    stick = finder.disks_below("1-2")
    assert [(d.name, d.vendor, d.model, d.serial, d.port_path) for d in stick] == [
        ("sdd", "SanDisk", "Cruzer Blade", "STICK0001", "1-2")]
    assert finder.disks_below("1-3") == []
    assert finder.disks_below("2-1") == []


def test_owner_ports_by_device_number(tree: FakeSysfs) -> None:
    finder = finder_for(bench_like(tree))
    assert finder.port_of_dev("8:16") == "1-1"
    assert finder.port_of_dev("8:32") == "1-1"
    assert finder.port_of_dev("8:48") == "1-2"
    assert finder.port_of_dev("8:0") is None  # the host's SATA disk
    assert finder.port_of_dev("8:64") is None  # nothing
    assert finder.port_of_dev(tree.partition("sdb", 1)) == "1-1"
    assert finder.port_of_dev(tree.partition("sda", 1)) is None


@pytest.mark.parametrize("bad", ["", "1-1/../1-2", "../1-1", "usb1", "1-1:1.0", "1-", "-1",
                                 "1-1.", "1--1", "1-1\n", "1-1.2.3.4.5.6.7.8.9"])
def test_a_malformed_port_path_is_a_usage_error(tree: FakeSysfs, bad: str) -> None:
    with pytest.raises(UsageError, match="not a USB port path"):
        finder_for(tree).disks_below(bad)


def test_a_disk_behind_a_hub_belongs_to_the_hubs_port_not_to_the_hub(tree: FakeSysfs) -> None:
    tree.usb_device("1-3", serial=None, vid="05e3", pid="0608")
    tree.usb_device("1-3.2")
    tree.gadget_disk("1-3.2", 0, "sdb")
    finder = finder_for(tree)
    assert finder.disks_below("1-3") == []
    assert [d.port_path for d in finder.disks_below("1-3.2")] == ["1-3.2"]
    assert finder.port_of_dev("8:16") == "1-3.2"


# ------------------------------------------------------------------ publication order
def test_a_disk_counts_only_once_every_attribute_and_its_node_exist(tree: FakeSysfs) -> None:
    tree.usb_device("1-1")
    tree.gadget_disk("1-1", 0, "sdb", publish=False, node=False)
    finder = finder_for(tree)
    for attrs in [(), ("dev",), ("dev", "ro"), ("dev", "ro", "removable")]:
        tree.publish("sdb", attrs)
        assert finder.disks_below("1-1") == [], attrs
    tree.publish("sdb", ("size",))
    assert finder.disks_below("1-1") == []  # no /dev/sdb yet
    (tree.dev / "sdb").write_bytes(b"")
    assert [d.name for d in finder.disks_below("1-1")] == ["sdb"]


@pytest.mark.parametrize(("attr", "value"), [
    ("size", "0"), ("size", ""), ("size", "-5"), ("size", "12abc"), ("size", "9" * 30),
    ("dev", "8"), ("dev", "a:b"), ("ro", "2"), ("ro", "yes"), ("removable", "")])
def test_half_written_or_garbage_attributes_are_not_ready(tree: FakeSysfs, attr: str,
                                                          value: str) -> None:
    tree.usb_device("1-1")
    block = tree.gadget_disk("1-1", 0, "sdb")
    (block / attr).write_text(value)
    assert finder_for(tree).disks_below("1-1") == []


def test_logical_sector_size_from_the_queue_when_it_is_there(tree: FakeSysfs) -> None:
    tree.usb_device("1-1")
    block = tree.gadget_disk("1-1", 0, "sdb")
    (block / "queue").mkdir()
    for value, expected in (("4096", 4096), ("512", 512), ("3000", 512), ("0", 512),
                            ("x", 512)):
        (block / "queue" / "logical_block_size").write_text(value + "\n")
        assert finder_for(tree).disks_below("1-1")[0].logical_sector == expected


def test_an_oversized_attribute_is_not_read(tree: FakeSysfs) -> None:
    tree.usb_device("1-1")
    block = tree.gadget_disk("1-1", 0, "sdb")
    (block / "size").write_text("1" * 5000)
    assert finder_for(tree).disks_below("1-1") == []


# ------------------------------------------------------------------ mounts
def test_mounted_partitions_are_listed_from_mountinfo(tree: FakeSysfs) -> None:
    tree.usb_device("1-1")
    tree.gadget_disk("1-1", 0, "sdb")
    tree.host_disk("sda")
    boot, root = tree.partition("sdb", 1), tree.partition("sdb", 2)
    tree.mount(boot, "/media/pi/boot\\040fs")
    tree.mount(root, "/media/pi/rootfs")
    tree.mount(root, "/media/pi/rootfs")  # a second line for the same mount point
    tree.mount("8:1", "/")  # the host's
    tree.mount("0:45", "/elsewhere")
    disk = finder_for(tree).disks_below("1-1")[0]
    assert disk.mounted == ("/media/pi/boot fs", "/media/pi/rootfs")


def test_the_old_mounts_format_works_through_the_source_node(tree: FakeSysfs) -> None:
    tree.usb_device("1-1")
    tree.gadget_disk("1-1", 0, "sdb")
    (tree.root / "mounts").write_text(f"{tree.dev / 'sdb'} /mnt/x vfat rw 0 0\n")
    finder = LinuxDiskFinder(tree.sys, tree.dev, tree.root / "mounts")
    # dev/sdb is a regular file here, not a block device: it cannot be matched by number
    assert finder.disks_below("1-1")[0].mounted == ()


# ------------------------------------------------------------------ symbolic-link tricks
def _swap_for_link(path: Path, target: Path) -> None:
    """Replace the folder ``path`` with a symbolic link to ``target``."""
    os.rename(path, path.with_name(path.name + ".orig"))
    path.symlink_to(os.path.relpath(target, path.parent))


def test_a_block_entry_linking_into_another_ports_chain_is_not_ours(tree: FakeSysfs) -> None:
    finder = finder_for(bench_like(tree))
    own = tree.usb_dir("1-1") / "1-1:1.0" / "host1" / "target1:0:0" / "1:0:0:0" / "block"
    stick = next((tree.usb_dir("1-2")).rglob("block/sdd"))
    (own / "sdd").symlink_to(os.path.relpath(stick, own))
    assert [d.name for d in finder.disks_below("1-1")] == ["sdb", "sdc"]
    assert [d.name for d in finder.disks_below("1-2")] == ["sdd"]


def test_a_scsi_host_linking_to_another_ports_host_is_not_ours(tree: FakeSysfs) -> None:
    tree.usb_device("1-1")
    tree.usb_device("1-2")
    tree.gadget_disk("1-2", 0, "sdd")
    intf = tree.usb_dir("1-1") / "1-1:1.0"
    intf.mkdir()
    (intf / "host7").symlink_to(os.path.relpath(next(tree.usb_dir("1-2").rglob("host*")),
                                                intf))
    finder = finder_for(tree)
    assert finder.disks_below("1-1") == []
    assert finder.port_of_dev("8:48") == "1-2"


def test_a_port_link_to_another_device_or_outside_sys_gives_nothing(tree: FakeSysfs,
                                                                    tmp_path: Path) -> None:
    bench_like(tree)
    finder = finder_for(tree)
    port_link = tree.sys / "bus" / "usb" / "devices" / "1-1"
    port_link.unlink()
    port_link.symlink_to(tree.usb_dir("1-2"))  # names 1-1, is 1-2
    assert finder.disks_below("1-1") == []
    elsewhere = tmp_path / "elsewhere" / "1-1"  # a full-looking chain outside /sys
    elsewhere.parent.mkdir()
    os.rename(tree.usb_dir("1-1"), elsewhere)
    port_link.unlink()
    port_link.symlink_to(elsewhere)
    assert finder.disks_below("1-1") == []
    assert finder.port_of_dev("8:16") is None
    assert [d.name for d in finder.disks_below("1-2")] == ["sdd"]


def test_a_dev_link_disagreeing_with_the_dev_attribute_is_refused(tree: FakeSysfs) -> None:
    finder = finder_for(bench_like(tree))
    link = tree.sys / "dev" / "block" / "8:16"
    link.unlink()  # 8:16 now leads to the stick's block device (whose dev is 8:48)
    link.symlink_to(next(tree.usb_dir("1-2").rglob("block/sdd")))
    assert finder.port_of_dev("8:16") is None


def test_a_dev_link_to_a_lookalike_folder_that_is_not_on_a_chain(tree: FakeSysfs) -> None:
    finder = finder_for(bench_like(tree))
    fake = tree.sys / USB_PCI / "usb1" / "1-1" / "block" / "sdz"
    fake.mkdir(parents=True)
    (fake / "dev").write_text("8:400\n")
    (tree.sys / "dev" / "block" / "8:400").symlink_to(fake)
    assert finder.port_of_dev("8:400") is None


def test_loops_and_dangling_links_do_not_crash(tree: FakeSysfs) -> None:
    tree.usb_device("1-1")
    intf = tree.usb_dir("1-1") / "1-1:1.0"
    intf.mkdir()
    (intf / "host0").symlink_to("host0")  # a loop
    (intf / "host1").symlink_to("nowhere")
    loop = tree.sys / "dev" / "block" / "8:0"
    loop.symlink_to("8:0")
    finder = finder_for(tree)
    assert finder.disks_below("1-1") == []
    assert finder.port_of_dev("8:0") is None


@pytest.mark.parametrize("dev", ["", "8", "8:", ":8", "../8:16", "8:16/..", "x:y",
                                 "99999999999:1", "8:16\n"])
def test_port_of_dev_with_garbage_is_none(tree: FakeSysfs, dev: str) -> None:
    assert finder_for(bench_like(tree)).port_of_dev(dev) is None


def test_owner_port_of_files_and_missing_paths_is_none(tree: FakeSysfs) -> None:
    finder = finder_for(bench_like(tree))
    assert finder.owner_port(tree.dev / "sdb") is None  # a regular file, not a device
    assert finder.owner_port(tree.dev / "nope") is None
    assert finder.owner_port(Path("/dev/null")) is None  # a character device

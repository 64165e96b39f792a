"""safety.open_for_writing on REAL block devices: loop devices over files in tmp, placed in
a sysfs-like tree (tests/flash/fake_sysfs.py) below USB ports.  The kernel answers the
exclusive open, BLKGETSIZE64, BLKSSZGET and BLKROGET, and real mounts appear in
/proc/self/mountinfo.  Needs root (losetup, mount), as CI runs; skipped otherwise."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_sysfs import FakeSysfs

from rpiboot.flash.disks import Disk, LinuxDiskFinder
from rpiboot.flash.safety import WriteRefused, open_for_writing
from rpiboot.record import replace

SIZE = 4 << 20
MOUNTINFO = Path("/proc/self/mountinfo")


class Loop:
    def __init__(self, node: Path, backing: Path) -> None:
        self.node, self.backing = node, backing
        info = os.stat(node)
        self.dev = f"{os.major(info.st_rdev)}:{os.minor(info.st_rdev)}"

    def digest(self) -> str:
        return hashlib.sha256(self.backing.read_bytes()).hexdigest()


class Loops:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.made: list[Loop] = []
        self.mounts: list[Path] = []

    def __call__(self, name: str, *, read_only: bool = False) -> Loop:
        backing = self.folder / f"{name}.img"
        backing.write_bytes(hashlib.shake_256(name.encode()).digest(SIZE))
        argv = ["losetup", "--find", "--show", *(["--read-only"] if read_only else []),
                str(backing)]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            if os.environ.get("CI"):
                pytest.fail(f"losetup failed: {done.stderr}")
            pytest.skip(f"no loop devices here: {done.stderr.strip()}")
        loop = Loop(Path(done.stdout.strip()), backing)
        self.made.append(loop)
        return loop

    def mount_ext4(self, loop: Loop) -> Path:
        subprocess.run(["mkfs.ext4", "-q", "-F", str(loop.node)], capture_output=True,
                       check=True)
        point = self.folder / f"mnt-{loop.node.name}"
        point.mkdir()
        # read-only: the file system itself writes nothing while the tests compare bytes
        subprocess.run(["mount", "-o", "ro", str(loop.node), str(point)], capture_output=True,
                       check=True)
        self.mounts.append(point)
        return point

    def close(self) -> None:
        for point in self.mounts:
            subprocess.run(["umount", str(point)], capture_output=True, check=False)
        for loop in self.made:
            subprocess.run(["losetup", "-d", str(loop.node)], capture_output=True, check=False)


@pytest.fixture
def loops(tmp_path: Path) -> Iterator[Loops]:
    if os.geteuid() != 0:
        pytest.skip("loop devices and mounts need root (CI runs as root)")
    if shutil.which("losetup") is None or shutil.which("mkfs.ext4") is None:
        pytest.fail("losetup and mkfs.ext4 are needed (util-linux, e2fsprogs)")
    made = Loops(tmp_path)
    try:
        yield made
    finally:
        made.close()


def _board(tree: FakeSysfs, loops: Loops, *, ro: bool = False, sectors: int = SIZE // 512,
           read_only_loop: bool = False) -> dict[str, Loop]:
    """The board at 1-1 (sdb), a stick at 1-2 (sdd), the host's disk (sda), each a loop."""
    found = {"sdb": loops("emmc", read_only=read_only_loop), "sdd": loops("stick"),
             "sda": loops("host")}
    tree.host_disk("sda", dev=found["sda"].dev, node=found["sda"].node)
    tree.usb_device("1-1")
    tree.gadget_disk("1-1", 0, "sdb", dev=found["sdb"].dev, node=found["sdb"].node, ro=ro,
                     sectors=sectors)
    tree.usb_device("1-2", serial="STICK")
    tree.gadget_disk("1-2", 0, "sdd", dev=found["sdd"].dev, node=found["sdd"].node)
    return found


def _refused(disk: Disk, finder: LinuxDiskFinder, reason: str, real: dict[str, Loop],
             **kwargs: object) -> WriteRefused:
    before = {name: loop.digest() for name, loop in real.items()}
    with pytest.raises(WriteRefused) as caught:
        open_for_writing(disk, finder=finder, port_path="1-1",
                         **{"image_size": None, "unmount": False, **kwargs})  # type: ignore[arg-type]
    assert caught.value.reason == reason, caught.value
    assert {name: loop.digest() for name, loop in real.items()} == before
    return caught.value


def test_the_boards_disk_is_written_and_nothing_else(tmp_path: Path, loops: Loops) -> None:
    tree = FakeSysfs(tmp_path / "t")
    real = _board(tree, loops)
    finder = LinuxDiskFinder(tree.sys, tree.dev, MOUNTINFO)
    (disk,) = finder.disks_below("1-1")
    assert (disk.dev, disk.mounted, disk.size) == (real["sdb"].dev, (), SIZE)
    assert finder.owner_port(disk.path) == "1-1"
    assert finder.owner_port(real["sdb"].node) == "1-1"
    assert finder.owner_port(tree.dev / "sdd") == "1-2"
    assert finder.owner_port(tree.dev / "sda") is None
    others = {"sda": real["sda"].digest(), "sdd": real["sdd"].digest()}
    with open_for_writing(disk, finder=finder, port_path="1-1", image_size=SIZE,
                          unmount=False) as target:
        assert (target.size, target.logical_sector) == (SIZE, 512)  # from the kernel
        os.pwrite(target.fd, b"written by rpiboot", 4096)
        os.fsync(target.fd)
    assert real["sdb"].backing.read_bytes()[4096:4114] == b"written by rpiboot"
    assert {"sda": real["sda"].digest(), "sdd": real["sdd"].digest()} == others


def test_other_disks_are_refused_even_with_a_forged_record(tmp_path: Path, loops: Loops
                                                            ) -> None:
    tree = FakeSysfs(tmp_path / "t")
    real = _board(tree, loops)
    finder = LinuxDiskFinder(tree.sys, tree.dev, MOUNTINFO)
    (own,) = finder.disks_below("1-1")
    (stick,) = finder.disks_below("1-2")
    host = replace(own, path=tree.dev / "sda", name="sda", dev=real["sda"].dev)
    assert "not below any board's USB port" in str(_refused(host, finder, "other-port", real))
    assert "below USB port 1-2" in str(_refused(replace(stick, port_path="1-1"), finder,
                                                "other-port", real))
    direct = replace(own, path=real["sda"].node)  # the host's real node under our record
    _refused(direct, finder, "other-port", real)


def test_a_name_that_now_leads_to_another_device_is_refused(tmp_path: Path, loops: Loops
                                                            ) -> None:
    tree = FakeSysfs(tmp_path / "t")
    real = _board(tree, loops)
    finder = LinuxDiskFinder(tree.sys, tree.dev, MOUNTINFO)
    (own,) = finder.disks_below("1-1")
    (tree.dev / "sdb").unlink()
    (tree.dev / "sdb").symlink_to(real["sdd"].node)  # /dev/sdb re-used by the stick
    _refused(own, finder, "other-port", real)
    (tree.dev / "sdb").unlink()
    (tree.dev / "sdb").symlink_to(real["sda"].node)  # ... or by the host's disk
    _refused(own, finder, "other-port", real)


def test_the_kernels_read_only_flag_is_obeyed(tmp_path: Path, loops: Loops) -> None:
    tree = FakeSysfs(tmp_path / "t")
    real = _board(tree, loops, read_only_loop=True)  # sysfs (fake) says ro=0
    finder = LinuxDiskFinder(tree.sys, tree.dev, MOUNTINFO)
    (own,) = finder.disks_below("1-1")
    assert not own.read_only
    error = _refused(own, finder, "read-only", real)
    assert "the kernel says the disk is read-only" in str(error)


def test_the_kernels_size_wins_over_sysfs(tmp_path: Path, loops: Loops) -> None:
    tree = FakeSysfs(tmp_path / "t")
    real = _board(tree, loops, sectors=2 * SIZE // 512)  # sysfs (fake) says 8 MiB
    finder = LinuxDiskFinder(tree.sys, tree.dev, MOUNTINFO)
    (own,) = finder.disks_below("1-1")
    assert own.size == 2 * SIZE
    _refused(own, finder, "too-small", real, image_size=SIZE + 512)


def test_a_mounted_disk_is_refused_then_unmounted_on_request(tmp_path: Path, loops: Loops
                                                             ) -> None:
    tree = FakeSysfs(tmp_path / "t")
    real = _board(tree, loops)
    point = loops.mount_ext4(real["sdb"])
    finder = LinuxDiskFinder(tree.sys, tree.dev, MOUNTINFO)
    (own,) = finder.disks_below("1-1")
    assert own.mounted == (str(point),)
    error = _refused(own, finder, "mounted", real)
    assert f"it is mounted at {point}" in str(error)
    with open_for_writing(own, finder=finder, port_path="1-1", image_size=None,
                          unmount=True) as target:
        assert target.disk.mounted == ()
    assert not os.path.ismount(point)


def test_the_exclusive_open_catches_what_the_mount_table_did_not_show(
        tmp_path: Path, loops: Loops) -> None:
    tree = FakeSysfs(tmp_path / "t")
    real = _board(tree, loops)
    loops.mount_ext4(real["sdb"])
    blind = LinuxDiskFinder(tree.sys, tree.dev, tree.mountinfo)  # an empty mount table
    (own,) = blind.disks_below("1-1")
    assert own.mounted == ()
    error = _refused(own, blind, "busy", real)
    assert "in use" in str(error)


def test_another_exclusive_holder_makes_it_busy(tmp_path: Path, loops: Loops) -> None:
    tree = FakeSysfs(tmp_path / "t")
    real = _board(tree, loops)
    finder = LinuxDiskFinder(tree.sys, tree.dev, MOUNTINFO)
    (own,) = finder.disks_below("1-1")
    holder = os.open(real["sdb"].node, os.O_RDONLY | os.O_EXCL)
    try:
        _refused(own, finder, "busy", real)
    finally:
        os.close(holder)

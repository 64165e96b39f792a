"""safety.open_for_writing with regular files standing in for disks (tests/flash/
file_disks.py): every refusal is a WriteRefused naming the disk and what to do, and the
disk's bytes are unchanged after it; what is accepted opens for writing only."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from file_disks import FileDiskFinder

from rpiboot.errors import ExitCode
from rpiboot.flash import blockdev
from rpiboot.flash.disks import Disk
from rpiboot.flash.hostcmd import CommandResult
from rpiboot.flash.safety import WriteRefused, open_for_writing
from rpiboot.record import replace

SIZE = 1 << 20


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture
def disks(tmp_path: Path) -> Iterator[tuple[FileDiskFinder, Disk, Disk]]:
    """Board at 1-1 with its eMMC; a stick at 1-2; both 1 MiB of known bytes."""
    finder = FileDiskFinder()
    emmc, stick = tmp_path / "emmc.img", tmp_path / "stick.img"
    emmc.write_bytes(hashlib.shake_256(b"emmc").digest(SIZE))
    stick.write_bytes(hashlib.shake_256(b"stick").digest(SIZE))
    before = _open_fds()
    yield finder, finder.add("1-1", emmc), finder.add("1-2", stick, model="Cruzer")
    assert _open_fds() == before, "a descriptor leaked"


def refused(disk: Disk, reason: str, **kwargs: object) -> WriteRefused:
    """open_for_writing must refuse with ``reason`` and leave the bytes alone."""
    before = _digest(disk.path)
    with pytest.raises(WriteRefused) as caught:
        open_for_writing(disk, **kwargs)  # type: ignore[arg-type]
    assert caught.value.reason == reason, caught.value
    assert _digest(disk.path) == before
    assert str(disk.path) in str(caught.value) and caught.value.hint
    assert caught.value.exit_code == ExitCode.FAILED
    return caught.value


def test_the_boards_own_disk_opens_for_writing(disks: tuple[FileDiskFinder, Disk, Disk]
                                               ) -> None:
    finder, emmc, _ = disks
    with open_for_writing(emmc, finder=finder, port_path="1-1", image_size=SIZE,
                          unmount=False) as target:
        assert (target.size, target.logical_sector, target.path) == (SIZE, 512, emmc.path)
        assert os.pwrite(target.fd, b"hello", 0) == 5
        with pytest.raises(OSError):
            os.read(target.fileno(), 1)  # write-only
    assert target.closed
    target.close()  # twice: harmless
    assert emmc.path.read_bytes()[:5] == b"hello"
    assert emmc.path.stat().st_size == SIZE  # not truncated


def test_a_disk_of_another_port_is_refused_whatever_its_record_says(
        disks: tuple[FileDiskFinder, Disk, Disk]) -> None:
    finder, _, stick = disks
    error = refused(stick, "other-port", finder=finder, port_path="1-1", image_size=None,
                    unmount=False)
    assert "below USB port 1-2, not below the board at 1-1" in str(error)
    forged = replace(stick, port_path="1-1")  # the record lies; the finder does not
    error = refused(forged, "other-port", finder=finder, port_path="1-1", image_size=None,
                    unmount=False)
    assert "below USB port 1-2" in str(error)


def test_a_host_disk_below_no_port_is_refused(disks: tuple[FileDiskFinder, Disk, Disk]
                                              ) -> None:
    finder, emmc, _ = disks
    finder.owner[emmc.path] = None  # the finder says: not a USB disk at all
    error = refused(emmc, "other-port", finder=finder, port_path="1-1", image_size=None,
                    unmount=False)
    assert "not below any board's USB port" in str(error)


def test_a_disk_no_longer_listed_is_gone(disks: tuple[FileDiskFinder, Disk, Disk]) -> None:
    finder, emmc, _ = disks
    finder.ports["1-1"] = []
    error = refused(emmc, "gone", finder=finder, port_path="1-1", image_size=None,
                    unmount=False)
    assert "not (or no longer) one of the whole disks below port 1-1 (there: none)" \
        in str(error)


def test_read_only_is_refused(disks: tuple[FileDiskFinder, Disk, Disk]) -> None:
    finder, emmc, _ = disks
    emmc = finder.update(emmc, read_only=True)
    refused(emmc, "read-only", finder=finder, port_path="1-1", image_size=None, unmount=True)


def test_too_big_an_image_is_refused_before_and_after_the_open(
        disks: tuple[FileDiskFinder, Disk, Disk]) -> None:
    finder, emmc, _ = disks
    error = refused(emmc, "too-small", finder=finder, port_path="1-1", image_size=SIZE + 1,
                    unmount=False)
    assert "the image (1 MiB) is larger than the disk (1 MiB)" in str(error)
    emmc = finder.update(emmc, size=2 * SIZE)  # the finder's size is wrong: the file's wins
    refused(emmc, "too-small", finder=finder, port_path="1-1", image_size=SIZE + 1,
            unmount=False)
    with open_for_writing(emmc, finder=finder, port_path="1-1", image_size=SIZE,
                          unmount=False) as target:
        assert target.size == SIZE


def test_an_unknown_image_size_is_left_to_the_writer(disks: tuple[FileDiskFinder, Disk, Disk]
                                                     ) -> None:
    finder, emmc, _ = disks
    with open_for_writing(emmc, finder=finder, port_path="1-1", image_size=None,
                          unmount=False) as target:
        assert target.size == SIZE
    with pytest.raises(ValueError):
        open_for_writing(emmc, finder=finder, port_path="1-1", image_size=-1, unmount=False)


class Umount:
    """The unmount tool: records its calls; "unmounts" by updating the finder."""

    def __init__(self, finder: FileDiskFinder, disk: Disk, *, status: int = 0,
                 really: bool = True) -> None:
        self.finder, self.disk, self.status, self.really = finder, disk, status, really
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str]) -> CommandResult:
        self.calls.append(tuple(argv))
        if self.status:
            return CommandResult(self.status, "", f"umount: {argv[-1]}: target is busy.\n")
        if self.really:
            left = tuple(m for m in self.disk.mounted if m != argv[-1])
            self.disk = self.finder.update(self.disk, mounted=left)
        return CommandResult(0, "")


def test_mounted_is_refused_unless_unmount_is_asked(disks: tuple[FileDiskFinder, Disk, Disk]
                                                    ) -> None:
    finder, emmc, _ = disks
    emmc = finder.update(emmc, mounted=("/media/pi/bootfs", "/media/pi/rootfs"))
    umount = Umount(finder, emmc)
    error = refused(emmc, "mounted", finder=finder, port_path="1-1", image_size=None,
                    unmount=False, run=umount)
    assert "it is mounted at /media/pi/bootfs, /media/pi/rootfs" in str(error)
    assert "--unmount" in (error.hint or "")
    assert umount.calls == []
    with open_for_writing(emmc, finder=finder, port_path="1-1", image_size=None,
                          unmount=True, run=umount) as target:
        assert target.disk.mounted == ()
    assert umount.calls == [("umount", "/media/pi/bootfs"), ("umount", "/media/pi/rootfs")]


def test_a_failing_or_ineffective_unmount_is_refused(disks: tuple[FileDiskFinder, Disk, Disk]
                                                     ) -> None:
    finder, emmc, _ = disks
    emmc = finder.update(emmc, mounted=("/media/pi/bootfs",))
    error = refused(emmc, "mounted", finder=finder, port_path="1-1", image_size=None,
                    unmount=True, run=Umount(finder, emmc, status=32))
    assert "cannot unmount /media/pi/bootfs: umount: /media/pi/bootfs: target is busy." \
        in str(error)
    error = refused(emmc, "mounted", finder=finder, port_path="1-1", image_size=None,
                    unmount=True, run=Umount(finder, emmc, really=False))
    assert "it is still mounted at /media/pi/bootfs" in str(error)


def test_an_unmount_is_never_run_for_a_disk_of_another_port(
        disks: tuple[FileDiskFinder, Disk, Disk]) -> None:
    finder, _, stick = disks
    stick = finder.update(stick, mounted=("/media/stick",))
    umount = Umount(finder, stick)
    refused(stick, "other-port", finder=finder, port_path="1-1", image_size=None,
            unmount=True, run=umount)
    assert umount.calls == []


def test_not_a_disk_nor_a_file(disks: tuple[FileDiskFinder, Disk, Disk], tmp_path: Path
                               ) -> None:
    finder, emmc, _ = disks
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "x").write_bytes(b"")
    fake = finder.add("1-3", folder)
    with pytest.raises(WriteRefused, match="neither a disk device nor a file"):
        open_for_writing(fake, finder=finder, port_path="1-3", image_size=None, unmount=False)
    # a record with a device number whose path is a regular file: not that device
    numbered = finder.update(emmc, dev="8:16")
    error = refused(numbered, "not-a-disk", finder=finder, port_path="1-1", image_size=None,
                    unmount=False)
    assert "a regular file, not the device 8:16" in str(error)


def test_a_node_swapped_between_the_checks_and_the_open_is_refused(
        disks: tuple[FileDiskFinder, Disk, Disk], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    finder, emmc, _ = disks
    other = tmp_path / "other.img"
    other.write_bytes(bytes(SIZE))
    flags = blockdev.open_flags

    def swapping(node: blockdev.Node) -> int:
        os.replace(other, emmc.path)  # another file takes the checked name
        return flags(node)

    monkeypatch.setattr(blockdev, "open_flags", swapping)
    before = _open_fds()
    with pytest.raises(WriteRefused) as caught:
        open_for_writing(emmc, finder=finder, port_path="1-1", image_size=None, unmount=False)
    assert caught.value.reason == "changed"
    assert emmc.path.read_bytes() == bytes(SIZE)  # the swapped-in file: untouched too
    assert _open_fds() == before


def test_a_vanished_file_is_refused(disks: tuple[FileDiskFinder, Disk, Disk]) -> None:
    finder, emmc, _ = disks
    emmc.path.unlink()
    with pytest.raises(WriteRefused) as caught:  # the finder still lists it
        open_for_writing(emmc, finder=finder, port_path="1-1", image_size=None, unmount=False)
    assert caught.value.reason == "not-a-disk"
    finder.owner[emmc.path] = None  # ... or not: it went away
    with pytest.raises(WriteRefused, match="it went away") as caught:
        open_for_writing(emmc, finder=finder, port_path="1-1", image_size=None, unmount=False)
    assert caught.value.reason == "gone"
    assert not emmc.path.exists()  # never created


def test_an_empty_stand_in_has_no_capacity(disks: tuple[FileDiskFinder, Disk, Disk]) -> None:
    finder, emmc, _ = disks
    emmc.path.write_bytes(b"")
    error = refused(emmc, "gone", finder=finder, port_path="1-1", image_size=None,
                    unmount=False)
    assert "no capacity" in str(error)

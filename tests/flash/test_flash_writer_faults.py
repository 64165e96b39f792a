"""Target failures, from real file descriptors that really fail: a full tmpfs (short write
then ENOSPC), /proc/self/mem at an unmapped address (EIO on write and on read), a target
truncated between write and verify, and the errno -> project error mapping (ENXIO/ENODEV
from real calls -> DeviceGone)."""

from __future__ import annotations

import errno
import mmap
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flash_imagekit import MIB, make_image

from rpiboot.errors import DeviceGone
from rpiboot.flash.image import open_image
from rpiboot.flash.transfer import TargetError, node_vanished, target_error
from rpiboot.flash.writer import verify_image, write_image


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    path = tmp_path_factory.mktemp("faults") / "os.img"
    return path, make_image(path, 6 * MIB, seed=5)


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs: a 6 MiB image cannot fit.  Needs root (CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    folder = tmp_path / "small"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_target_that_fills_up_fails_naming_it_and_the_offset(image: tuple[Path, bytes],
                                                               small_tmpfs: Path) -> None:
    disk = small_tmpfs / "disk"
    fd = os.open(disk, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with open_image(image[0]) as source, pytest.raises(TargetError) as caught:
            write_image(source, fd, target_size=64 * MIB, target_name="/dev/sdz")
    finally:
        os.close(fd)
    error = caught.value
    assert "no space left writing /dev/sdz at offset" in str(error)
    assert error.target == "/dev/sdz" and 2 * MIB < (error.offset or 0) <= 3 * MIB
    assert disk.stat().st_size == error.offset  # the short write, then ENOSPC at its end
    helpers = [t.name for t in threading.enumerate() if t.name.startswith("rpiboot-flash")]
    assert helpers == []  # the reading and hashing threads ended with the failure


def test_eio_on_write_is_a_target_error_at_its_offset(image: tuple[Path, bytes]) -> None:
    # /proc/self/mem at offset 0 is this process's page 0, never mapped: EIO, nothing written
    fd = os.open("/proc/self/mem", os.O_WRONLY)
    try:
        with open_image(image[0]) as source, pytest.raises(TargetError) as caught:
            write_image(source, fd, target_size=64 * MIB)
    finally:
        os.close(fd)
    assert str(caught.value).startswith("I/O error writing /proc/")
    assert caught.value.offset == 0


def test_eio_on_read_back_is_a_target_error_at_its_offset(image: tuple[Path, bytes],
                                                          tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.write_bytes(bytes(8 * MIB))
    fd = os.open(disk, os.O_WRONLY)
    with open_image(image[0]) as source:
        written = write_image(source, fd, target_size=8 * MIB)
    os.close(fd)
    with pytest.raises(TargetError) as caught:
        verify_image("/proc/self/mem", written, target_name="the disk")
    assert str(caught.value) == "I/O error reading back the disk at offset 0"


def test_a_target_truncated_between_write_and_verify(image: tuple[Path, bytes],
                                                     tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.write_bytes(bytes(8 * MIB))
    fd = os.open(disk, os.O_WRONLY)
    with open_image(image[0]) as source:
        written = write_image(source, fd, target_size=8 * MIB, target_name="disk")
    os.truncate(disk, 5 * MIB + 100)
    with pytest.raises(TargetError, match=r"disk ends at offset 5242980, but 6291456 bytes"):
        verify_image(disk, written)
    os.close(fd)


def real_oserror(code: int, tmp_path: Path) -> OSError:
    """An OSError with ``code`` from a real system call."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    try:
        if code == errno.ENXIO:  # opening a FIFO for writing, non-blocking, without a reader
            os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        elif code == errno.ENODEV:  # mapping a FIFO into memory
            fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            try:
                mmap.mmap(fd, 4096, prot=mmap.PROT_READ)
            finally:
                os.close(fd)
        with open("/proc/self/mem", "rb", buffering=0) as mem:  # EIO: page 0
            mem.read(1)
    except OSError as exc:
        assert exc.errno == code
        return exc
    raise AssertionError("no error")


@pytest.mark.parametrize("code", [errno.ENXIO, errno.ENODEV])
def test_a_vanished_device_is_device_gone(code: int, tmp_path: Path) -> None:
    error = target_error(real_oserror(code, tmp_path), target="/dev/sdz", offset=4096,
                         doing="writing")
    assert isinstance(error, DeviceGone)
    assert str(error) == "/dev/sdz disappeared while writing it (offset 4096)"


def test_eio_is_device_gone_only_once_the_node_is_gone(tmp_path: Path) -> None:
    eio = real_oserror(errno.EIO, tmp_path)
    node = tmp_path / "sdz"
    node.write_bytes(b"x")
    fd = os.open(node, os.O_RDONLY)
    try:
        kept = target_error(eio, target="/dev/sdz", offset=0, doing="writing", fd=fd)
        assert type(kept) is TargetError and not node_vanished(fd)
        node.unlink()  # what udev does to /dev/sdX when the disk is unplugged
        assert node_vanished(fd)
        gone = target_error(eio, target="/dev/sdz", offset=0, doing="writing", fd=fd)
        assert isinstance(gone, DeviceGone)
    finally:
        os.close(fd)

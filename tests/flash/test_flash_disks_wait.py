"""Waiting for a gadget's disks (a simulated clock drives the tree's changes, so nothing
sleeps), select_target, and property tests of the sysfs readers on arbitrary contents."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_sysfs import FakeSysfs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rpiboot.errors import UsageError
from rpiboot.flash.disks import Disk, LinuxDiskFinder, human_size, select_target


class Timeline:
    """A simulated clock: each pause advances it and applies the tree changes due."""

    def __init__(self, events: list[tuple[float, Callable[[], None]]]) -> None:
        self.now = 0.0
        self.events = sorted(events, key=lambda e: e[0])
        self.pauses: list[float] = []

    def clock(self) -> float:
        return self.now

    def pause(self, seconds: float, stop: threading.Event | None) -> None:
        self.pauses.append(seconds)
        self.now += seconds
        while self.events and self.events[0][0] <= self.now:
            self.events.pop(0)[1]()


def _gadget_events(tree: FakeSysfs) -> list[tuple[float, Callable[[], None]]]:
    """The bench's order: USB device, then 1 s later LUN 0 (bare, then its attributes one
    after the other), and LUN 1 a little later."""
    return [
        (0.3, lambda: tree.usb_device("1-1")),
        (1.3, lambda: tree.gadget_disk("1-1", 0, "sdb", publish=False)),
        (1.32, lambda: tree.publish("sdb", ("dev", "ro", "removable"))),
        (1.36, lambda: tree.publish("sdb", ("size",))),
        (1.6, lambda: tree.gadget_disk("1-1", 1, "sdc", model="NVMe")),
    ]


def test_waits_until_every_lun_is_there_and_stable(tmp_path: Path) -> None:
    tree = FakeSysfs(tmp_path)
    time_line = Timeline(_gadget_events(tree))
    finder = LinuxDiskFinder(tree.sys, tree.dev, tree.mountinfo, clock=time_line.clock,
                             pause=time_line.pause)
    disks = finder.wait_for_disks("1-1", deadline=10.0, settle=0.5)
    assert [d.name for d in disks] == ["sdb", "sdc"]
    assert 2.1 <= time_line.now <= 2.2  # LUN 1 at 1.6, stable for 0.5 s
    assert max(time_line.pauses) <= 0.05 + 1e-9  # polls every 50 ms


def test_the_deadline_gives_nothing_not_a_partial_set(tmp_path: Path) -> None:
    tree = FakeSysfs(tmp_path)
    time_line = Timeline(_gadget_events(tree))
    finder = LinuxDiskFinder(tree.sys, tree.dev, tree.mountinfo, clock=time_line.clock,
                             pause=time_line.pause)
    assert finder.wait_for_disks("1-1", deadline=1.7, settle=0.5) == []
    assert time_line.now == pytest.approx(1.7)


def test_a_set_stop_event_ends_the_wait_at_once(tmp_path: Path) -> None:
    tree = FakeSysfs(tmp_path)
    stop = threading.Event()
    stop.set()
    time_line = Timeline(_gadget_events(tree))
    finder = LinuxDiskFinder(tree.sys, tree.dev, tree.mountinfo, clock=time_line.clock,
                             pause=time_line.pause)
    assert finder.wait_for_disks("1-1", deadline=10.0, stop=stop) == []
    assert time_line.now == 0.0


def test_settle_zero_returns_the_first_complete_view(tmp_path: Path) -> None:
    tree = FakeSysfs(tmp_path)
    tree.usb_device("1-1")
    tree.gadget_disk("1-1", 0, "sdb")
    finder = LinuxDiskFinder(tree.sys, tree.dev, tree.mountinfo)
    start = time.monotonic()
    assert [d.name for d in finder.wait_for_disks("1-1", deadline=start + 10, settle=0)] \
        == ["sdb"]


def test_with_the_real_clock_a_disk_published_by_another_thread_is_found(
        tmp_path: Path) -> None:
    tree = FakeSysfs(tmp_path)
    tree.usb_device("1-1")
    polled = threading.Event()

    class Watching(LinuxDiskFinder):
        def disks_below(self, port_path: str) -> list[Disk]:
            polled.set()
            return super().disks_below(port_path)

    def publisher() -> None:
        polled.wait(10)  # the finder has looked (and found nothing) first
        tree.gadget_disk("1-1", 0, "sdb")

    thread = threading.Thread(target=publisher)
    thread.start()
    finder = Watching(tree.sys, tree.dev, tree.mountinfo, poll_interval=0.01)
    disks = finder.wait_for_disks("1-1", deadline=time.monotonic() + 20, settle=0.1)
    thread.join()
    assert [d.name for d in disks] == ["sdb"]


def test_waiting_on_a_malformed_port_path_is_a_usage_error(tmp_path: Path) -> None:
    finder = LinuxDiskFinder(tmp_path, tmp_path, tmp_path / "none")
    with pytest.raises(UsageError):
        finder.wait_for_disks("1-1/..", deadline=time.monotonic() + 1)


# ------------------------------------------------------------------ select_target
def _disk(lun: int, model: str, name: str) -> Disk:
    return Disk(path=Path("/dev") / name, size=64 << 20, logical_sector=512, read_only=False,
                removable=True, vendor="Linux", model=model, lun=lun, port_path="1-1",
                name=name)


TWO = [_disk(0, "File-Stor Gadget", "sdb"), _disk(1, "NVMe Gadget", "sdc")]


def test_select_by_lun_or_model() -> None:
    assert select_target(TWO, 1).name == "sdc"
    assert select_target(TWO, 0).name == "sdb"
    assert select_target(TWO, "nvme").name == "sdc"
    assert select_target(TWO, " FILE-stor ").name == "sdb"


@pytest.mark.parametrize(("target", "message"), [
    (2, "no disk with LUN 2 below port 1-1; there is: /dev/sdb (LUN 0, Linux File-Stor "
        "Gadget, 64 MiB); /dev/sdc (LUN 1, Linux NVMe Gadget, 64 MiB)"),
    ("emmc", "no disk with a model matching 'emmc'"),
    ("", "no disk with a model matching ''"),
    ("gadget", "2 disks have a model matching 'gadget' below port 1-1: /dev/sdb"),
])
def test_no_or_several_matches_list_the_disks(target: int | str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        select_target(TWO, target)
    assert str(caught.value).startswith(message)
    assert caught.value.hint


def test_select_from_nothing_and_wrong_types() -> None:
    with pytest.raises(UsageError, match="there is: none"):
        select_target([], 0)
    with pytest.raises(UsageError, match="LUN number or a model"):
        select_target(TWO, True)


@pytest.mark.parametrize(("size", "text"), [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"),
                                            (64 << 20, "64 MiB"), (3 << 40, "3 TiB"),
                                            (5000 << 40, "5000 TiB")])
def test_human_sizes(size: int, text: str) -> None:
    assert human_size(size) == text


# ------------------------------------------------------------------ arbitrary contents
_ATTR = st.one_of(st.binary(max_size=40), st.sampled_from([b"0\n", b"1\n", b"8:16\n",
                                                           b"131072\n", b"\xff\xfe", b""]))


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=_ATTR, ro=_ATTR, removable=_ATTR, dev=_ATTR, vendor=_ATTR, model=_ATTR,
       serial=_ATTR)
def test_arbitrary_attribute_bytes_never_crash_the_finder(
        tmp_path_factory: pytest.TempPathFactory, size: bytes, ro: bytes, removable: bytes,
        dev: bytes, vendor: bytes, model: bytes, serial: bytes) -> None:
    tree = FakeSysfs(tmp_path_factory.mktemp("t"))
    tree.usb_device("1-1")
    block = tree.gadget_disk("1-1", 0, "sdb")
    scsi = block.parent.parent
    for path, data in ((block / "size", size), (block / "ro", ro),
                       (block / "removable", removable), (block / "dev", dev),
                       (scsi / "vendor", vendor), (scsi / "model", model),
                       (tree.usb_dir("1-1") / "serial", serial)):
        path.write_bytes(data)
    finder = LinuxDiskFinder(tree.sys, tree.dev, tree.mountinfo)
    found = finder.disks_below("1-1")
    text = {name: None if b"\0" in data else data.decode("utf-8", "replace").strip()
            for name, data in (("size", size), ("ro", ro), ("removable", removable),
                               ("dev", dev))}
    valid = (re.fullmatch(r"[0-9]{1,20}", text["size"] or "") and int(text["size"] or 0) > 0
             and text["ro"] in ("0", "1") and text["removable"] in ("0", "1")
             and re.fullmatch(r"[0-9]{1,9}:[0-9]{1,9}", text["dev"] or ""))
    assert len(found) == (1 if valid else 0)
    for disk in found:
        assert disk.size == int(text["size"] or 0) * 512 and disk.port_path == "1-1"
        assert disk.dev == text["dev"] and disk.read_only == (text["ro"] == "1")
    assert finder.port_of_dev(dev.decode("latin-1")) in (None, "1-1")

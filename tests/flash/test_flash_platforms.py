"""macOS and Windows: port path -> disks from recorded tool outputs (tests/flash/recorded/,
written from Apple's and Microsoft's documented formats; not captured on hardware), and
the parsers on arbitrary input (never a crash, never a disk of another port)."""

from __future__ import annotations

import json
import plistlib
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot.errors import UsageError
from rpiboot.flash.disks import Disk
from rpiboot.flash.hostcmd import CommandResult
from rpiboot.flash.platform_macos import (
    DISKUTIL_LIST,
    IOREG,
    MacDiskFinder,
    location_of_port_path,
    parse_diskutil_list,
    parse_ioreg,
    port_path_of_location,
)
from rpiboot.flash.platform_windows import POWERSHELL, WindowsDiskFinder, parse_windows_disks

RECORDED = Path(__file__).parent / "recorded"


class Tools:
    """The host's tools, answering with recorded outputs (argv -> (status, text))."""

    def __init__(self, answers: dict[tuple[str, ...], tuple[int, str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str]) -> CommandResult:
        self.calls.append(tuple(argv))
        status, text = self.answers.get(tuple(argv), (127, ""))
        return CommandResult(status, text, "" if status == 0 else "failed")


def _text(name: str) -> str:
    return (RECORDED / name).read_text(encoding="utf-8")


# ------------------------------------------------------------------ macOS
@pytest.mark.parametrize(("port", "location"), [
    ("20-1.3", 0x14130000), ("20-2", 0x14200000), ("0-1", 0x00100000), ("1-1.4.2", 0x01142000),
    ("255-15.15.15.15.15.15", 0xFFFFFFFF), ("20-16", None), ("256-1", None), ("20-0", None),
    ("20-1.1.1.1.1.1.1", None), ("x", None), ("20-1/..", None)])
def test_port_paths_as_location_ids(port: str, location: int | None) -> None:
    assert location_of_port_path(port) == location
    if location is not None:
        assert port_path_of_location(location) == port


@given(st.integers(0, 255), st.lists(st.integers(1, 15), min_size=1, max_size=6))
def test_location_ids_round_trip(bus: int, ports: list[int]) -> None:
    path = f"{bus}-{'.'.join(map(str, ports))}"
    location = location_of_port_path(path)
    assert location is not None and port_path_of_location(location) == path


def _mac(**overrides: tuple[int, str]) -> Tools:
    answers = {IOREG: (0, _text("ioreg-usb-msd.plist")),
               DISKUTIL_LIST: (0, _text("diskutil-list.plist"))}
    answers.update({tuple(k.split()): v for k, v in overrides.items()})
    return Tools(answers)


def test_macos_the_gadgets_two_luns_behind_a_hub() -> None:
    finder = MacDiskFinder(_mac())
    assert finder.disks_below("20-1.3") == [
        Disk(path=Path("/dev/disk4"), size=64 << 20, logical_sector=512, read_only=False,
             removable=True, vendor="Linux", model="File-Stor Gadget", lun=0,
             port_path="20-1.3", name="disk4", serial="b29d2da0",
             mounted=("/Volumes/bootfs",), dev="1:12"),
        Disk(path=Path("/dev/disk5"), size=32 << 20, logical_sector=512, read_only=False,
             removable=True, vendor="Linux", model="NVMe Gadget", lun=1, port_path="20-1.3",
             name="disk5", serial="b29d2da0", mounted=(), dev="1:15")]
    assert [(d.name, d.mounted) for d in finder.disks_below("20-2")] == [
        ("disk6", ("/Volumes/STICK",))]
    assert finder.disks_below("20-1") == []  # the hub itself has no disk
    assert finder.disks_below("20-1.4") == []  # the ROM of another board
    assert finder.disks_below("1-1") == []
    assert finder.disks_below("20-16") == []  # a valid port path, but no location ID
    with pytest.raises(UsageError):
        finder.disks_below("20-1/../2")


def test_macos_owner_ports_of_nodes() -> None:
    finder = MacDiskFinder(_mac())
    assert finder.owner_port(Path("/dev/disk4")) == "20-1.3"
    assert finder.owner_port(Path("/dev/rdisk5")) == "20-1.3"
    assert finder.owner_port(Path("/dev/disk4s2")) == "20-1.3"
    assert finder.owner_port(Path("/dev/disk6")) == "20-2"
    assert finder.owner_port(Path("/dev/disk0")) is None  # the internal SSD
    assert finder.owner_port(Path("/dev/disk40")) is None
    assert finder.owner_port(Path("/etc/passwd")) is None


def test_macos_a_failing_tool_gives_no_disks() -> None:
    assert MacDiskFinder(_mac(**{" ".join(IOREG): (1, "")})).disks_below("20-1.3") == []
    no_list = MacDiskFinder(_mac(**{" ".join(DISKUTIL_LIST): (1, "")}))
    assert no_list.disks_below("20-1.3") == []  # mounts unknown: not ready
    garbage = MacDiskFinder(_mac(**{" ".join(DISKUTIL_LIST): (0, "<plist>oops")}))
    assert garbage.disks_below("20-1.3") == []


def test_macos_wait_polls_until_stable() -> None:
    now = [0.0]
    finder = MacDiskFinder(_mac(), clock=lambda: now[0],
                           pause=lambda s, _stop: now.__setitem__(0, now[0] + s))
    disks = finder.wait_for_disks("20-1.3", deadline=10.0, settle=1.0)
    assert [d.name for d in disks] == ["disk4", "disk5"] and now[0] == 1.0


def _walk_plist() -> st.SearchStrategy[object]:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
                       st.text(max_size=12), st.sampled_from(["disk4", "disk9s1"]),
                       st.binary(max_size=8))
    keys = st.sampled_from(["BSD Name", "Whole", "Size", "locationID", "idVendor",
                            "IORegistryEntryChildren", "SCSI Logical Unit Number",
                            "Device Characteristics", "Preferred Block Size", "BSD Major",
                            "BSD Minor", "USB Serial Number", "Writable", "AllDisksAndPartitions",
                            "DeviceIdentifier", "MountPoint", "Partitions", "other"])
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=6)), max_leaves=40)


@settings(max_examples=300, deadline=None)
@given(_walk_plist())
def test_macos_parsers_take_any_plist(tree: object) -> None:
    try:
        data = plistlib.dumps(tree)  # type: ignore[arg-type]
    except (TypeError, OverflowError, ValueError):
        return  # not representable as a plist (None, huge ints)
    for media in parse_ioreg(data):  # only whole disks below a USB device, with a size
        assert media.size > 0 and media.bsd_name.startswith("disk") and media.block_size >= 512
        assert isinstance(media.location, int)
    mounts = parse_diskutil_list(data)
    assert mounts is None or all(p.startswith("/") for points in mounts.values()
                                 for p in points)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_macos_parsers_take_any_bytes(data: bytes) -> None:
    assert isinstance(parse_ioreg(data), list)
    parse_diskutil_list(data)
    parse_ioreg(b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><plist>" + data)


# ------------------------------------------------------------------ Windows
def _windows(text: str | None = None, status: int = 0) -> Tools:
    return Tools({POWERSHELL: (status, _text("windows-disks.json") if text is None else text)})


def test_windows_the_gadgets_luns_and_the_stick_behind_a_hub() -> None:
    finder = WindowsDiskFinder(_windows())
    assert finder.disks_below("1-3") == [
        Disk(path=Path("\\\\.\\PhysicalDrive2"), size=64 << 20, logical_sector=512,
             read_only=False, removable=True, vendor="Linux", model="File-Stor Gadget", lun=0,
             port_path="1-3", name="PhysicalDrive2", serial="b29d2da0", mounted=("E:\\",)),
        Disk(path=Path("\\\\.\\PhysicalDrive3"), size=32 << 20, logical_sector=4096,
             read_only=True, removable=True, vendor="Linux", model="NVMe Gadget", lun=1,
             port_path="1-3", name="PhysicalDrive3", serial="b29d2da0", mounted=())]
    assert [(d.name, d.model, d.mounted) for d in finder.disks_below("1-4.2")] == [
        ("PhysicalDrive4", "Cruzer Blade", ("C:\\mnt\\stick\\",))]
    assert finder.disks_below("1-4") == []  # the hub
    assert finder.disks_below("1-1") == []
    with pytest.raises(UsageError):
        finder.wait_for_disks("1-3\n", deadline=0.0)


def test_windows_owner_port_needs_a_bus_bound_by_disks_below() -> None:
    finder = WindowsDiskFinder(_windows())
    drive2 = Path("\\\\.\\PhysicalDrive2")
    assert finder.owner_port(drive2) is None  # libusb's bus number is not known yet
    finder.disks_below("1-3")
    assert finder.owner_port(drive2) == "1-3"
    assert finder.owner_port(Path("\\\\.\\physicaldrive4")) == "1-4.2"  # same controller
    assert finder.owner_port(Path("\\\\.\\PhysicalDrive0")) is None  # internal NVMe
    assert finder.owner_port(Path("C:\\disk.img")) is None
    assert finder.disks_below("2-3") == []  # that controller is bus 1


def test_windows_the_same_chain_on_two_controllers_is_ambiguous() -> None:
    doc = json.loads(_text("windows-disks.json").lstrip("\ufeff"))
    guid = "{53f56307-b6bf-11d0-94f2-00a0c91efb8b}"
    doc["disks"].append({"Number": 5, "Size": 1 << 30, "LogicalSectorSize": 512,
                         "Path": f"\\\\?\\usbstor#disk&ven_x&prod_y&rev_1#s1&0#{guid}"})
    doc["devices"] += [
        {"InstanceId": "USB\\VID_1234&PID_5678\\S1", "Parent": "USB\\ROOT_HUB30\\5&8E9F",
         "LocationPaths": ["PCIROOT(0)#PCI(0D00)#USBROOT(0)#USB(3)"]},
        {"InstanceId": "USBSTOR\\DISK&VEN_X&PROD_Y&REV_1\\S1&0",
         "Parent": "USB\\VID_1234&PID_5678\\S1"}]
    finder = WindowsDiskFinder(_windows(json.dumps(doc)))
    assert finder.disks_below("1-3") == []  # which controller is libusb's bus 1? unknown
    assert finder.owner_port(Path("\\\\.\\PhysicalDrive2")) is None


def test_windows_single_objects_nulls_and_failures() -> None:
    guid = "{53f56307-b6bf-11d0-94f2-00a0c91efb8b}"
    one = {"disks": {"Number": 7, "Size": 1024, "Path":
                     f"\\\\?\\usbstor#disk&ven_a&prod_b&rev_1#s9&0#{guid}"},
           "partitions": None,
           "devices": [{"InstanceId": "USBSTOR\\DISK&VEN_A&PROD_B&REV_1\\S9&0",
                        "Parent": "USB\\VID_0525&PID_A4A5&MI_00\\7&1&0&0000"},
                       {"InstanceId": "USB\\VID_0525&PID_A4A5&MI_00\\7&1&0&0000",
                        "Parent": "USB\\VID_0525&PID_A4A5\\S9"},
                       {"InstanceId": "USB\\VID_0525&PID_A4A5\\S9",
                        "LocationPaths": "PCIROOT(0)#PCI(1400)#USBROOT(1)#USB(2)#USB(1)"}]}
    (disk,) = parse_windows_disks(json.dumps(one)) or []
    assert (disk.number, disk.ports, disk.lun, disk.serial, disk.mounted) == \
        (7, (2, 1), 0, "S9", ())
    assert parse_windows_disks("") is None and parse_windows_disks("[]") is None
    assert WindowsDiskFinder(_windows(status=1)).disks_below("1-3") == []


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                              st.text(max_size=30), st.sampled_from([
                                  "\\\\?\\usbstor#disk&ven_a&prod_b&rev_1#s&0#{x}",
                                  "USBSTOR\\DISK&VEN_A\\S&0", "USB\\VID_0525&PID_A4A5\\S",
                                  "PCIROOT(0)#USBROOT(0)#USB(3)"])),
                    lambda inner: st.one_of(
                        st.lists(inner, max_size=4),
                        st.dictionaries(st.sampled_from([
                            "disks", "partitions", "devices", "Number", "Size", "Path",
                            "InstanceId", "Parent", "LocationPaths", "DiskNumber",
                            "DriveLetter", "AccessPaths", "FriendlyName", "SerialNumber",
                            "LogicalSectorSize", "IsReadOnly"]), inner, max_size=6)),
                    max_leaves=40))
def test_windows_parser_takes_any_json(doc: object) -> None:
    found = parse_windows_disks(json.dumps(doc))
    for disk in found or []:
        assert disk.size > 0 and disk.ports and 512 <= disk.logical_sector <= 65536


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_windows_parser_takes_any_text(text: str) -> None:
    parse_windows_disks(text)

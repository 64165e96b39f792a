"""Windows: Get-PnpDevice and pnputil outputs (recorded), the driver each boot device has, and
the whole doctor on "win32" with the simulator as libusb and the recorded tools."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot.doctor import diagnose
from rpiboot.doctor.host import UserInfo
from rpiboot.doctor.report import Device
from rpiboot.doctor.windows import (
    POWERSHELL,
    PnpEntry,
    PnpOutputError,
    driver_name,
    driver_problem,
    parse_pnp_json,
    parse_pnputil,
    query_pnp,
    vendor_entry,
)
from rpiboot.sim import simulate

RECORDED = Path(__file__).parent / "recorded"
ALICE = UserInfo("alice", None, (), False)


def _text(name: str) -> str:
    return (RECORDED / name).read_text(encoding="utf-8")


def _device(pid: int, stage_index: int = 3) -> Device:
    return Device(port_path="1-2", vid=0x0A5C, pid=pid, serial_index=stage_index)


def test_get_pnpdevice_list() -> None:
    entries = parse_pnp_json(_text("get-pnpdevice.json"))
    assert [(e.ids, e.service, e.problem) for e in entries] == [
        ((0x0A5C, 0x2711, None), "WinUSB", 0), ((0x0A5C, 0x2712, None), None, 28),
        ((0x0A5C, 0x2764, None), "usbccgp", 0), ((0x0A5C, 0x2764, 0), "USBSTOR", 0),
        ((0x0A5C, 0x2764, 1), "WinUSB", 0), ((0x0525, 0xA4A5, None), "USBSTOR", 0)]
    assert entries[0].serial == "AF04B2DA" and entries[1].serial is None  # 6&2A9D...: made up
    assert entries[1].status == "Error" and entries[1].name == "BCM2712D0 Boot"


def test_get_pnpdevice_single_object_and_nothing() -> None:
    (entry,) = parse_pnp_json("\ufeff" + _text("get-pnpdevice-single.json"))
    assert (entry.service, entry.class_name) == ("libusbK", "libusbK USB Devices")
    assert parse_pnp_json("") == [] and parse_pnp_json("  \r\n") == []


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"FriendlyName": "x"}', "[[]]",
                                  '{"InstanceId": 5}', "[" * 5000])
def test_get_pnpdevice_garbage_is_a_clear_error(text: str) -> None:
    with pytest.raises(PnpOutputError, match="Get-PnpDevice output"):
        parse_pnp_json(text)


def test_pnputil_blocks() -> None:
    entries = parse_pnputil(_text("pnputil-enum-devices.txt"))
    assert [(e.ids, e.status, e.problem, e.driver_inf, e.class_name) for e in entries] == [
        ((0x0A5C, 0x2711, None), "Started", None, "oem42.inf", "USBDevice"),
        ((0x0A5C, 0x2712, None), "Problem", 28, None, None),
        ((0x046D, 0xC31C, None), "Started", None, "usb.inf", "USB")]
    assert all(e.source == "pnputil" and e.service is None for e in entries)


def test_pnputil_in_another_language_is_a_clear_error() -> None:
    with pytest.raises(PnpOutputError, match="no 'Instance ID:' line"):
        parse_pnputil(_text("pnputil-enum-devices-de.txt"))
    assert parse_pnputil("Microsoft PnP Utility\n\nNo devices were found on the system.\n") == []


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_tool_output_gives_entries_or_a_clear_error(text: str) -> None:
    for parse in (parse_pnp_json, parse_pnputil):
        try:
            entries = parse(text)
        except PnpOutputError as exc:
            assert exc.message
        else:
            assert all(isinstance(e, PnpEntry) for e in entries)


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.sampled_from(["InstanceId", "Service", "Problem",
                                                        "Status", "FriendlyName", "x"]),
                                       inner, max_size=5), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_any_json_shape_gives_entries_or_a_clear_error(data: object) -> None:
    try:
        entries = parse_pnp_json(json.dumps(data))
    except PnpOutputError as exc:
        assert exc.message.startswith("Get-PnpDevice output")
    else:
        assert all(entry.instance_id for entry in entries)


def test_the_vendor_interface_decides_for_a_composite_device() -> None:
    entries = parse_pnp_json(_text("get-pnpdevice.json"))
    assert vendor_entry(entries, 0x0A5C, 0x2764).instance_id.split("\\")[1].endswith("MI_01")
    assert driver_name(vendor_entry(entries, 0x0A5C, 0x2764)) == "WinUSB"
    assert driver_problem(_device(0x2764, 0), vendor_entry(entries, 0x0A5C, 0x2764)) is None
    assert vendor_entry(entries, 0x0A5C, 0x2763) is None


def test_driver_problems_say_to_bind_winusb() -> None:
    entries = parse_pnp_json(_text("get-pnpdevice.json"))
    assert driver_problem(_device(0x2711), vendor_entry(entries, 0x0A5C, 0x2711)) is None
    missing = driver_problem(_device(0x2712), vendor_entry(entries, 0x0A5C, 0x2712))
    assert missing is not None and (missing.id, missing.severity) == ("winusb-missing", "error")
    assert "problem code 28" in missing.what and "BCM2712D0 Boot" in missing.fix
    assert "Zadig" in missing.fix and "WinUSB" in missing.fix and "0A5C 2712" in missing.fix
    usbstor = PnpEntry("USB\\VID_0A5C&PID_2711\\X", "BCM2711 Boot", "OK", "USBSTOR", 0)
    wrong = driver_problem(_device(0x2711), usbstor)
    assert wrong is not None and wrong.id == "wrong-driver" and "USBSTOR" in wrong.what
    (libusbk,) = parse_pnp_json(_text("get-pnpdevice-single.json"))
    info = driver_problem(_device(0x2711), libusbk)
    assert info is not None and (info.id, info.severity) == ("libusbk-driver", "info")
    gadget = Device(port_path="1-1", vid=0x0525, pid=0xA4A5)
    assert driver_problem(gadget, vendor_entry(entries, 0x0525, 0xA4A5)) is None
    pnputil = parse_pnputil(_text("pnputil-enum-devices.txt"))
    assert driver_problem(_device(0x2711), pnputil[0]) is None  # an INF is installed
    assert driver_problem(_device(0x2712), pnputil[1]).id == "winusb-missing"  # type: ignore[union-attr]


class RecordedWindows:
    """``run`` for the doctor: answers PowerShell or pnputil with a recorded output."""

    def __init__(self, powershell: str | None, pnputil: str | None) -> None:
        self.answers = {"powershell.exe": powershell, "pnputil.exe": pnputil}
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str]) -> tuple[int, str]:
        self.calls.append(tuple(argv))
        name = self.answers[argv[0]]
        if name is None:
            raise FileNotFoundError(2, "not found", argv[0])
        return 0, _text(name)


def test_query_falls_back_to_pnputil_then_reports_both_failures() -> None:
    run = RecordedWindows(None, "pnputil-enum-devices.txt")
    query = query_pnp(run)
    assert query.source == "pnputil" and len(query.entries) == 3
    assert run.calls[0] == POWERSHELL and run.calls[1][0] == "pnputil.exe"
    failed = query_pnp(RecordedWindows(None, "pnputil-enum-devices-de.txt"))
    assert failed.entries == () and failed.source is None
    assert "powershell.exe" in (failed.error or "") and "Instance ID" in (failed.error or "")


BOARDS = {"devices": [
    {"id": "cm4", "port": "1-1", "rom": {"pid": "2711", "serial_index": 3, "serial": "af04b2da"},
     "second_stage": {"steps": [{"op": "done"}]}},
    {"id": "cm5", "port": "1-2", "rom": {"pid": "2712", "serial_index": 3, "serial": "5a5a5a5a"},
     "second_stage": {"steps": [{"op": "done"}]}},
]}


def test_doctor_on_windows_names_the_board_without_winusb(tmp_path: Path) -> None:
    run = RecordedWindows("get-pnpdevice.json", None)
    with simulate(BOARDS, workdir=tmp_path) as sim:
        report = diagnose(platform="win32", backend=sim.backend, run=run, user=ALICE)
        events = {event["ev"] for event in sim.transcript.snapshot()}
    data = report.to_json()
    assert data["permissions"] is None and data["host"]["os"] == "win32"
    assert "WinUSB" in data["host"]["usb_driver"]
    assert [(d["port_path"], d["stage"], d["chip"], d["driver"], d["serial"], d["speed"])
            for d in data["devices"]] == [
        ("1-1", "rom", "BCM2711", "WinUSB", "AF04B2DA", 480),
        ("1-2", "rom", "BCM2712", None, None, 480)]
    (missing,) = [p for p in report.problems if p.id == "winusb-missing"]
    assert missing.device == "1-2" and "Zadig" in missing.fix
    assert report.worst == "error" and data["host"]["pnp"]["source"] == "powershell"
    assert events == {"attach"}  # nothing was opened, claimed or sent to the boards

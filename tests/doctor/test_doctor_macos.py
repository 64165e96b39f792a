"""macOS: system_profiler outputs (both formats, recorded), location IDs as port paths, and
the whole doctor on "darwin" with the simulator as libusb."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot.doctor import diagnose
from rpiboot.doctor.host import UserInfo
from rpiboot.doctor.macos import (
    ProfilerOutputError,
    parse_system_profiler,
    port_path_from_location,
    query_system_profiler,
)
from rpiboot.sim import simulate

RECORDED = Path(__file__).parent / "recorded"


def _text(name: str) -> str:
    return (RECORDED / name).read_text(encoding="utf-8")


def test_the_older_format_with_a_hub() -> None:
    found = parse_system_profiler(_text("system_profiler-SPUSBDataType.json"))
    assert [(d.name, d.vid, d.pid, d.serial, d.port_path, d.speed) for d in found] == [
        ("USB2.0 Hub", 0x05E3, 0x0608, None, "20-1", 480),
        ("BCM2711 Boot", 0x0A5C, 0x2711, "af04b2da", "20-1.2", 480),
        ("Bluetooth USB Host Controller", 0x05AC, 0x8290, None, "20-3", None)]
    assert found[1].parents == (("USB2.0 Hub", 0x05E3, 0x0608, 0x14100000),)


def test_the_newer_format() -> None:
    found = parse_system_profiler(_text("system_profiler-SPUSBHostDataType.json"))
    assert [(d.name, d.pid, d.serial, d.port_path, d.speed, d.parents) for d in found] == [
        ("BCM2712D0 Boot", 0x2712, "5a5a5a5a", "1-1", 480, ()),
        ("BCM2711 Boot", 0x2711, "f0f0f0f0", "1-2", 12, ())]


@pytest.mark.parametrize(("location", "path"), [
    (0x14100000, "20-1"), (0x14320000, "20-3.2"), (0x01142000, "1-1.4.2"),
    (0x00100000, "0-1"), (0x01000000, None), (None, None), (0x01FFFFFF, "1-15.15.15.15.15.15")])
def test_location_ids_as_port_paths(location: int | None, path: str | None) -> None:
    assert port_path_from_location(location) == path


@pytest.mark.parametrize("text", ["", "[]", '{"SPUSBDataType": {}}', '{"other": []}', "{"])
def test_not_a_usb_tree_is_a_clear_error(text: str) -> None:
    with pytest.raises(ProfilerOutputError, match="system_profiler output"):
        parse_system_profiler(text)


_TREE = st.recursive(
    st.none() | st.integers() | st.text(max_size=12)
    | st.sampled_from(["0x0a5c", "0x2711 ", "apple_vendor_id", "480 Mb/s", "high_speed"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["_items", "_name", "vendor_id", "product_id", "location_id",
                         "USBDeviceKeyVendorID", "USBDeviceKeyProductID", "USBKeyLocationID",
                         "device_speed", "USBDeviceKeyLinkSpeed", "serial_num"]),
        inner, max_size=6), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(_TREE, st.sampled_from(["SPUSBDataType", "SPUSBHostDataType"]))
def test_any_json_gives_devices_or_a_clear_error(tree: object, key: str) -> None:
    for text in (json.dumps({key: tree}), json.dumps(tree)):
        try:
            parse_system_profiler(text)
        except ProfilerOutputError as exc:
            assert exc.message


class RecordedMac:
    def __init__(self, answers: dict[str, str | None]) -> None:
        self.answers = answers

    def __call__(self, argv: Sequence[str]) -> tuple[int, str]:
        assert argv[:2] == ("system_profiler", "-json")
        name = self.answers.get(argv[2])
        return (0, _text(name)) if name else (0, "{}")


def test_the_data_type_that_lists_devices_is_used() -> None:
    old = RecordedMac({"SPUSBDataType": "system_profiler-SPUSBDataType.json"})
    devices, error = query_system_profiler(old)
    assert error is None and [d.pid for d in devices] == [0x0608, 0x2711, 0x8290]
    devices, error = query_system_profiler(RecordedMac({}))
    assert devices == [] and error is not None and "SPUSBHostDataType" in error


def test_doctor_on_macos_adds_serials_and_hubs_and_needs_no_driver(tmp_path: Path) -> None:
    board = {"devices": [{"id": "cm4", "port": "1-1", "rom": {"pid": "2711", "serial_index": 3,
                                                              "serial": "af04b2da"},
                          "second_stage": {"steps": [{"op": "done"}]}}]}
    run = RecordedMac({"SPUSBDataType": "system_profiler-SPUSBDataType.json"})
    with simulate(board, workdir=tmp_path) as sim:
        report = diagnose(platform="darwin", backend=sim.backend, run=run,
                          user=UserInfo("bob", 501, ("staff",), False))
        events = {event["ev"] for event in sim.transcript.snapshot()}
    data = report.to_json()
    assert "macOS lets any user open" in data["host"]["usb_driver"]
    (device,) = data["devices"]
    assert (device["port_path"], device["stage"], device["serial"], device["product"]) == (
        "1-1", "rom", "af04b2da", "BCM2711 Boot")
    assert [hub["vid_pid"] for hub in device["hubs"]] == ["05e3:0608"]
    assert not [p for p in report.problems if p.severity == "error"]
    assert events == {"attach"}

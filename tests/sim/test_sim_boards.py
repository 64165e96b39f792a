"""Every preset board boots end to end through pyusb with an independent tiny host."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import simhost
import usb.core
from simhost import FAST

from rpiboot.sim import PRESETS, Scenario, preset


def files_of(scenario: Scenario) -> dict[str, bytes]:
    """What a correct host serves: directory files, then 2712/ archive members."""
    served = {k[5:]: v for k, v in scenario.content.items() if k.startswith("file:")}
    for key, data in scenario.content.items():
        if key.startswith("tar:"):
            served.setdefault(key.split("/", 1)[1], data)
    return served


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_boots_end_to_end(name: str, tmp_path: Path) -> None:
    scenario = Scenario.load(preset(name), tmp_path, time_scale=FAST)
    bus = scenario.bus
    bus.start()
    files = files_of(scenario)
    board = bus.boards[0]
    rom = simhost.find(bus, stage="rom")
    bootcode = files[{0x2712: "bootcode5.bin", 0x2711: "bootcode4.bin"}.get(
        board.pid, "bootcode.bin")]
    assert simhost.rom_stage(rom, bootcode) == 0
    fs = simhost.find(bus, stage="fs")
    seen = simhost.file_server(fs, files)
    assert seen[-1][0] == 2
    assert board.finished.wait(5)
    assert bus.problems() == []
    assert board.completed()
    bus.close()


def test_reenumeration_keeps_port_and_changes_address(bus) -> None:
    board = bus.add_board({"id": "b", "port": "1-2", "rom": {"pid": "2711", "serial": "cafe0001"},
                           "second_stage": {"serial": "cafe0001", "steps": [{"op": "done"}]}})
    bus.start()
    rom = simhost.find(bus, stage="rom")
    rom_address, rom_ports = rom.address, rom.port_numbers
    assert (rom.iSerialNumber, rom.serial_number) == (3, "cafe0001")
    assert simhost.rom_stage(rom, b"x" * 100) == 0
    fs = simhost.find(bus, stage="fs")
    assert fs.port_numbers == rom_ports == (2,)
    assert fs.address != rom_address
    assert fs.iSerialNumber == 4
    simhost.file_server(fs, {})
    assert board.finished.wait(5)
    assert board.final_state == "gone (boots next stage)"


def test_two_interface_rom_uses_interface_1_endpoint_3(bus) -> None:
    bus.add_board({"id": "cm3", "rom": {"pid": "2764", "two_interfaces": True},
                   "second_stage": {"serial_index": 1, "serial": "Broadcom", "steps": []}})
    bus.start()
    rom = simhost.find(bus, stage="rom")
    assert rom.get_active_configuration().bNumInterfaces == 2
    assert rom.iSerialNumber == 0
    assert simhost.rom_stage(rom, b"\x01" * 5000) == 0
    events = bus.transcript.events("claim_interface")
    assert [e["iface"] for e in events] == [1]


def test_mass_storage_interface_has_a_kernel_driver(bus) -> None:
    bus.add_board({"id": "cm3", "rom": {"pid": "2764", "two_interfaces": True}})
    bus.start()
    rom = simhost.find(bus, stage="rom")
    assert rom.is_kernel_driver_active(0)
    assert not rom.is_kernel_driver_active(1)
    with pytest.raises(usb.core.USBError) as err:
        usb.util.claim_interface(rom, 0)
    assert err.value.errno == 16  # EBUSY
    rom.detach_kernel_driver(0)
    usb.util.claim_interface(rom, 0)
    usb.util.dispose_resources(rom)


def test_bootcode_content_checked(bus, tmp_path: Path) -> None:
    good = b"good bootcode" * 100
    bus.add_board({"id": "b", "rom": {"pid": "2711", "expect_bootcode": "file:bootcode4.bin"}},
                  {"file:bootcode4.bin": good})
    bus.start()
    rom = simhost.find(bus, stage="rom")
    simhost.rom_stage(rom, good[:-1] + b"!")
    event = bus.transcript.wait_event("bootcode")
    assert not event["ok"]
    assert event["sha256"] == hashlib.sha256(good[:-1] + b"!").hexdigest()
    assert any("bootcode" in p for p in bus.problems())


def test_bystander_is_left_alone_and_access_is_recorded(bus) -> None:
    bus.add_hub("1-3")
    bus.add_board({"id": "other", "port": "1-3.2", "role": "bystander", "rom": {"pid": "2711"}})
    bus.start()
    dev = simhost.find(bus, port="1-3.2")
    assert dev.port_numbers == (3, 2)
    assert bus.problems() == []
    with pytest.raises(usb.core.USBError):
        simhost.rom_stage(dev, b"x")
    assert bus.transcript.events("unexpected_access", dev="other")


def test_access_denied_maps_to_eacces(bus) -> None:
    bus.add_board({"id": "b", "rom": {"pid": "2711", "access_denied": True}})
    bus.start()
    dev = simhost.find(bus)
    with pytest.raises(usb.core.USBError) as err:
        usb.util.claim_interface(dev, 0)
    assert err.value.errno == 13


def test_board_reappears_as_gadget_after_done(bus) -> None:
    board = bus.add_board({"id": "cm5", "rom": {"pid": "2712"}, "second_stage": {
        "steps": [{"op": "done"}],
        "after": {"action": "reappear", "delay": 0.1, "gap": 0.1, "vid": "0525", "pid": "a4a5"}}})
    bus.start()
    simhost.rom_stage(simhost.find(bus, stage="rom"), b"b" * 10)
    simhost.file_server(simhost.find(bus, stage="fs"), {})
    assert board.finished.wait(5)
    gadget = simhost.find(bus, vid=0x0525)
    assert (gadget.idProduct, gadget.port_numbers) == (0xA4A5, (1,))
    assert board.final_state == "re-appeared as 0525:a4a5"


def test_late_attach_is_scaled(bus) -> None:
    bus.add_board({"id": "late", "attach_at": 1.0, "rom": {"pid": "2711"}})
    bus.start()
    assert bus.attachments() == []
    attach = bus.transcript.wait_event("attach", timeout=5)
    assert attach["t"] < 1.0  # 1 s of board time at scale 0.01

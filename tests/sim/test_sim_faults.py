"""Faults and protocol-error detection of the simulated boards."""

from __future__ import annotations

import errno
import struct

import pytest
import simhost
import usb.core

from rpiboot.sim import VirtualBus


def fs_board(bus: VirtualBus, steps: list[dict], content: dict[str, bytes] | None = None,
             rom: dict | None = None):
    board = bus.add_board({"id": "b", "rom": {"pid": "2711", **(rom or {})},
                           "second_stage": {"steps": steps}}, content or {})
    bus.start()
    if rom and rom.get("status"):
        return board, simhost.find(bus, stage="rom")
    simhost.rom_stage(simhost.find(bus, stage="rom"), b"boot" * 10)
    fs = simhost.find(bus, stage="fs")
    usb.util.claim_interface(fs, 0)
    return board, fs


def test_status_naks_until_ready_then_answers(bus) -> None:
    bus.add_board({"id": "b", "rom": {"pid": "2712", "status_delay": 30.0}})  # 0.3 s scaled
    bus.start()
    rom = simhost.find(bus)
    usb.util.claim_interface(rom, 0)
    simhost.write(rom, struct.pack("<I", 8) + bytes(20), 0x01)
    simhost.write(rom, b"12345678", 0x01)
    with pytest.raises(usb.core.USBTimeoutError) as err:
        simhost.read(rom, 4, timeout=20)
    assert err.value.errno == errno.ETIMEDOUT
    assert simhost.read(rom, 4, timeout=5000) == b"\0\0\0\0"


def test_unresponsive_rom_times_out_the_control_write(bus) -> None:
    bus.add_board({"id": "b", "rom": {"pid": "2711", "unresponsive": True}})
    bus.start()
    rom = simhost.find(bus)
    with pytest.raises(usb.core.USBTimeoutError):
        rom.ctrl_transfer(0x40, 0, 24, 0, None, 50)


@pytest.mark.parametrize("after_reject", ["stay", "disappear"])
def test_rejected_bootcode(bus, after_reject: str) -> None:
    board = bus.add_board({"id": "b", "rom": {"pid": "2711", "status": -5,
                                              "after_reject": after_reject}})
    bus.start()
    rom = simhost.find(bus)
    assert simhost.rom_stage(rom, b"signed?" * 3) == -5
    assert board.finished.wait(5)
    assert "status -5" in (board.final_state or "")
    if after_reject == "disappear":
        bus.transcript.wait_event("detach", dev="b")
    else:
        again = simhost.find(bus, stage="rom")
        assert simhost.rom_stage(again, b"retry") == -5
        assert len(bus.transcript.events("boot_message")) == 2


def test_disconnect_mid_transfer(bus) -> None:
    data = bytes(range(256)) * 400  # 102400 bytes
    board, fs = fs_board(bus, [{"op": "fetch", "name": "big.bin", "expect": "file:big.bin",
                                "disconnect_after_bytes": 40000}], {"file:big.bin": data})
    msg = simhost.read(fs, 260)
    assert msg[4:11] == b"big.bin"
    fs.ctrl_transfer(0x40, 0, len(data) & 0xFFFF, len(data) >> 16, None, 1000)
    simhost.read(fs, 260)  # ReadFile
    with pytest.raises(usb.core.USBError) as err:
        simhost.write(fs, data, 0x01)
    assert err.value.errno == errno.ENODEV
    partial = bus.transcript.wait_event("reply_file_partial")
    assert (partial["received"], partial["announced"], partial["ok"]) == (40000, len(data), True)
    assert board.finished.wait(5)
    assert simhost.find.__name__  # the device is gone from the bus:
    assert all(a.device.stage != "fs" for a in bus.attachments())


def test_disconnect_step_fails_the_next_read(bus) -> None:
    board, fs = fs_board(bus, [{"op": "disconnect"}])
    with pytest.raises(usb.core.USBError) as err:
        simhost.read(fs, 260)
    assert err.value.errno == errno.ENODEV
    assert board.finished.wait(5)


def test_delay_step_naks_then_continues(bus) -> None:
    _, fs = fs_board(bus, [{"op": "delay", "seconds": 20.0}, {"op": "done"}])
    with pytest.raises(usb.core.USBTimeoutError):
        simhost.read(fs, 260, timeout=10)
    assert struct.unpack_from("<i", simhost.read(fs, 260, timeout=5000))[0] == 2


def test_exhausted_script_naks_forever(bus) -> None:
    _, fs = fs_board(bus, [])
    with pytest.raises(usb.core.USBTimeoutError):
        simhost.read(fs, 260, timeout=30)


def test_reading_on_without_answering_is_a_protocol_error(bus) -> None:
    _, fs = fs_board(bus, [{"op": "get_file_size", "name": "a.txt", "expect": "absent"},
                           {"op": "done"}])
    simhost.read(fs, 260)
    simhost.read(fs, 260)
    errors = bus.transcript.protocol_errors()
    assert len(errors) == 1 and "without answering" in errors[0]["why"]


def test_bulk_beyond_announced_length_is_a_protocol_error(bus) -> None:
    _, fs = fs_board(bus, [{"op": "read_file", "name": "a", "expect": {"size": 4}}])
    simhost.read(fs, 260)
    fs.ctrl_transfer(0x40, 0, 4, 0, None, 1000)
    fs.write(0x01, b"12345678", 1000)
    assert "8 bulk bytes, 4 announced" in bus.transcript.protocol_errors()[0]["why"]


def test_oversized_bulk_chunk_is_a_protocol_error(bus) -> None:
    data = b"z" * 40000
    _, fs = fs_board(bus, [{"op": "read_file", "name": "a", "expect": {"size": len(data)}}])
    simhost.read(fs, 260)
    simhost.write(fs, data, 0x01, chunk=len(data))
    assert any("more than 16384" in e["why"] for e in bus.transcript.protocol_errors())


def test_wrong_endpoint_at_backend_level(bus) -> None:
    _, fs = fs_board(bus, [{"op": "read_file", "name": "a", "expect": {"size": 4}}])
    simhost.read(fs, 260)
    fs.ctrl_transfer(0x40, 0, 4, 0, None, 1000)
    handle = fs._ctx.handle
    with pytest.raises(usb.core.USBError) as err:
        bus.backend.bulk_write(handle, 0x03, 0, b"1234", 1000)
    assert err.value.errno == errno.EPIPE
    assert "endpoint 0x03" in bus.transcript.protocol_errors()[0]["why"]


def test_hostile_names_and_raw_messages_reach_the_host(bus) -> None:
    _, fs = fs_board(bus, [
        {"op": "get_file_size", "name_hex": "2e2e2f7365637265740a", "expect": "absent"},
        {"op": "raw", "command": 7, "name": "junk", "length": 12},
    ])
    msg = simhost.read(fs, 260)
    assert msg[4:14] == b"../secret\n"
    fs.ctrl_transfer(0x40, 0, 0, 0, None, 1000)
    raw = simhost.read(fs, 260)
    assert len(raw) == 12 and struct.unpack_from("<i", raw)[0] == 7
    message = bus.transcript.events("message")[0]
    assert message["name_hex"] == "2e2e2f7365637265740a"


def test_metadata_record_expects_size_zero(bus) -> None:
    board, fs = fs_board(bus, [{"op": "meta", "record": "MAC_ADDR*d8:3a:dd:00:00:01"}])
    msg = simhost.read(fs, 260)
    assert msg[4:].split(b"\0")[0] == b"*MAC_ADDR*d8:3a:dd:00:00:01"
    fs.ctrl_transfer(0x40, 0, 5, 0, None, 1000)  # wrong: non-zero answer
    assert any("size answer 5" in p for p in board.problems())

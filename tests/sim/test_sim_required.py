"""Required files: a board whose needed file is answered "size 0" fails like a real one."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import pytest
import simhost
import usb.core
from simhost import FAST

from rpiboot.sim import PRESETS, Scenario, VirtualBus, preset
from rpiboot.sim.requirements import RequiredFiles


def board_spec(steps: list[dict[str, Any]], on_failure: Any = None) -> dict[str, Any]:
    second: dict[str, Any] = {"serial": "5e5e5e5e", "steps": steps}
    if on_failure is not None:
        second["on_failure"] = on_failure
    return {"id": "b", "port": "1-1", "rom": {"pid": "2711", "serial": "5e5e5e5e"},
            "second_stage": second}


def need(name: str, **extra: Any) -> dict[str, Any]:
    return {"op": "fetch", "name": name, "expect": "any", "required": True, **extra}


def to_file_server(bus: VirtualBus) -> usb.core.Device:
    bus.start()
    assert simhost.rom_stage(simhost.find(bus, stage="rom"), b"b" * 64) == 0
    return simhost.find(bus, stage="fs")


def test_missing_required_file_fails_the_board_and_it_leaves(bus: VirtualBus) -> None:
    board = bus.add_board(board_spec([need("start4.elf", why="the firmware cannot start"),
                                      {"op": "fetch", "name": "fixup4.dat", "expect": "absent"},
                                      {"op": "done"}]))
    fs = to_file_server(bus)
    with pytest.raises(usb.core.USBError) as err:
        simhost.file_server(fs, {})  # the board stops asking, then drops off the bus
    assert err.value.errno == errno.ENODEV
    event = bus.transcript.wait_event("board_failed", dev="b")
    assert (event["needs"], event["action"], event["step"]) == (["start4.elf"], "disappear", 0)
    assert board.finished.wait(5)
    assert board.final_state is not None and board.final_state.startswith("failed")
    assert "start4.elf not found: the firmware cannot start" in board.final_state
    assert bus.problems() == ["b: board failed: start4.elf not found: the firmware cannot start"]
    assert not board.completed()
    assert [e["ev"] for e in bus.transcript.semantic("b")].count("board_failed") == 1


def test_the_file_present_means_no_failure(bus: VirtualBus) -> None:
    board = bus.add_board(board_spec([need("start4.elf"), {"op": "done"}]))
    seen = simhost.file_server(to_file_server(bus), {"start4.elf": b"elf" * 100})
    assert seen[-1][0] == 2
    assert board.finished.wait(5)
    assert bus.problems() == [] and board.failures() == [] and board.completed()


def test_stay_keeps_the_board_attached_and_silent(bus: VirtualBus) -> None:
    board = bus.add_board(board_spec([need("boot.sig"), {"op": "done"}], on_failure="stay"))
    fs = to_file_server(bus)
    with pytest.raises(usb.core.USBTimeoutError):
        simhost.file_server(fs, {}, timeout=200)
    assert board.finished.wait(5)
    assert board.final_state is not None and "stays attached" in board.final_state
    assert simhost.find(bus, stage="fs") is not None  # still on the bus
    assert bus.transcript.events("message", dev="b")[-1]["name"] == "boot.sig"


def test_continue_records_the_failure_and_finishes_the_script(bus: VirtualBus) -> None:
    board = bus.add_board(board_spec(
        [need("pieeprom.bin", why="nothing to flash"), {"op": "fetch", "name": "recover4.elf",
                                                        "expect": "absent"}, {"op": "done"}],
        on_failure={"action": "continue"}))
    seen = simhost.file_server(to_file_server(bus), {})
    assert [name for _, name in seen] == ["pieeprom.bin", "recover4.elf", ""]
    assert board.finished.wait(5)
    assert board.final_state is not None
    assert board.final_state.startswith("failed (pieeprom.bin not found: nothing to flash)")
    assert board.final_state.endswith("then gone (boots next stage)")
    assert bus.problems() == ["b: board failed: pieeprom.bin not found: nothing to flash"]


@pytest.mark.parametrize(("served", "failed"), [
    ({"pieeprom.upd": b"u" * 10}, False),
    ({"pieeprom.bin": b"b" * 10}, False),
    ({}, True),
])
def test_a_group_needs_any_one_of_its_files(bus: VirtualBus, served: dict[str, bytes],
                                            failed: bool) -> None:
    group = {"required": "image", "expect": "any"}
    board = bus.add_board(board_spec(
        [{"op": "fetch", "name": "pieeprom.upd", **group},
         {"op": "fetch", "name": "pieeprom.bin", **group, "why": "nothing to flash"},
         {"op": "done"}], on_failure="continue"))
    simhost.file_server(to_file_server(bus), served)
    assert board.finished.wait(5)
    if failed:
        (failure,) = board.failures()
        assert failure.needs == ("pieeprom.upd", "pieeprom.bin")
        assert failure.reason == "neither pieeprom.upd nor pieeprom.bin found: nothing to flash"
        assert failure.step == 1
    else:
        assert board.failures() == [] and bus.problems() == []


def test_read_file_step_is_judged_on_the_file_it_got(bus: VirtualBus) -> None:
    board = bus.add_board(board_spec([{"op": "read_file", "name": "boot.img", "expect": "any",
                                       "required": True}, {"op": "done"}]))
    with pytest.raises(usb.core.USBError):
        simhost.file_server(to_file_server(bus), {})
    assert board.finished.wait(5)
    assert [f.needs for f in board.failures()] == [("boot.img",)]


def test_requiredness_survives_a_users_own_directory(tmp_path: Path) -> None:
    """With -d DIR the content expectations relax to "any", the required files stay."""
    own = tmp_path / "own"
    own.mkdir()
    scenario = Scenario.load(preset("cm4"), tmp_path / "w", time_scale=FAST, boot_dir=own)
    steps = scenario.spec["devices"][0]["second_stage"]["steps"]
    assert {s.get("expect") for s in steps if s["op"] == "fetch"} == {"any"}
    bus = scenario.bus
    try:
        fs = to_file_server(bus)
        with pytest.raises(usb.core.USBError):
            simhost.file_server(fs, {"config.txt": b"x"})  # no start4.elf
        assert bus.boards[0].finished.wait(5)
        assert [f.needs for f in bus.boards[0].failures()] == [("start4.elf",)]
    finally:
        bus.close()


def test_unknown_failure_action_is_refused(bus: VirtualBus) -> None:
    with pytest.raises(ValueError, match="on_failure"):
        bus.add_board(board_spec([need("x")], on_failure="explode"))


def test_requirements_ignore_steps_that_cannot_carry_a_file() -> None:
    required = RequiredFiles([{"op": "meta", "record": "A*1", "required": True},
                              {"op": "fetch", "name": "a", "required": False},
                              {"op": "done", "required": True}])
    assert not required
    assert required.answered(0, 0) is None


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_stay_plain_bench_json(name: str) -> None:
    """The new keys are JSON values the bench ignores; every preset names what it needs."""
    spec = json.loads(json.dumps(PRESETS[name]))
    steps = spec["devices"][0]["second_stage"]["steps"]
    required = [s for s in steps if s.get("required")]
    assert required, f"{name}: no required file"
    assert all(s["op"] == "fetch" and s.get("why") for s in required)
    assert spec["devices"][0]["second_stage"]["on_failure"]["action"] in (
        "disappear", "continue")

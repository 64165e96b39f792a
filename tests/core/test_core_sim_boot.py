"""The engine against simulated boards: every chip family, lookup rule, filter, metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from core_simkit import scenario_for

from rpiboot.errors import ExitCode
from rpiboot.firmware import FIRMWARE_ENV


@pytest.mark.parametrize("preset", ["cm4", "cm5", "cm3", "pi-zero", "recovery"])
def test_every_chip_family_boots(boot, preset: str) -> None:
    run = boot(scenario_for(preset))
    assert run.error is None, run.error
    assert run.result.exit_code == ExitCode.OK
    assert run.scenario.bus.wait_boards_finished(5)
    assert run.problems() == []
    board = run.scenario.bus.boards[0]
    assert board.unexecuted_steps() == []
    assert [b.port_path for b in run.result.finished] == ["1-1"]
    sent = run.kinds("bootcode")
    assert len(sent) == 1 and sent[0].status == 0


def test_two_interface_rom_uses_interface_1_endpoint_3(boot) -> None:
    run = boot(scenario_for("cm3"))
    assert run.result.exit_code == ExitCode.OK
    claims = run.transcript.events("claim_interface", dev="cm3")
    assert claims and claims[0]["iface"] == 1
    assert run.problems() == []


def test_every_bulk_write_is_at_most_16k_and_files_are_exact(boot) -> None:
    run = boot(scenario_for("cm4"))
    assert run.result.exit_code == ExitCode.OK
    served = [e for e in run.kinds("file") if e.size]
    assert {(e.name, e.command) for e in served} == {("start4.elf", "GetFileSize"),
                                                     ("start4.elf", "ReadFile")}
    assert served[-1].size == 2 * 1024 * 1024
    assert run.problems() == []  # the device flags > 16 KiB bulk writes and content mismatch


def _single_board(steps, *, pid="2711", bootdir=None, **rom):
    rom_spec = {"pid": pid, "serial_index": 3, "serial": "af04b2da", **rom}
    return {
        "name": "custom",
        "bootdir": bootdir or {"bootcode4.bin": {"random": 4096}},
        "devices": [{"id": "b", "port": "1-1", "rom": rom_spec,
                     "second_stage": {"serial_index": 4, "serial": "b29d2da0",
                                      "steps": steps,
                                      "after": {"action": "disappear", "delay": 0.1}}}],
    }


def test_lookup_rules_through_the_wire(boot) -> None:
    bootdir = {
        "bootcode4.bin": {"random": 4096},
        "2711/": {"dir": True},
        "2711/start4.elf": {"text": "prefixed"},
        "start4.elf": {"text": "top-level"},
        "config.txt": {"text": "cfg"},
        "overlays/": {"dir": True},
        "overlays/x.dtbo": {"random": 3000},
        "empty.txt": {"text": ""},
    }
    steps = [
        {"op": "fetch", "name": "start4.elf", "expect": "file:2711/start4.elf"},
        {"op": "fetch", "name": "config.txt", "expect": "present"},
        {"op": "fetch", "name": "overlays/x.dtbo", "expect": "present"},
        {"op": "fetch", "name": "empty.txt", "expect": "absent"},
        {"op": "read_file", "name": "missing.bin", "expect": "absent"},
        {"op": "done", "command": 0},
    ]
    run = boot(_single_board(steps, bootdir=bootdir))
    assert run.result.exit_code == ExitCode.OK
    assert run.problems() == []
    assert run.scenario.bus.boards[0].unexecuted_steps() == []


def test_bootfiles_archive_and_overlay(boot) -> None:
    bootdir = {
        "bootfiles.bin": {"tar": {"2712/": {"dir": True},
                                  "2712/bootcode5.bin": {"random": 5000},
                                  "2712/mcb.bin": {"random": 700},
                                  "2712/bootmain": {"random": 900}}},
        "2712/": {"dir": True},
        "2712/bootmain": {"text": "disk wins"},
        "1-1/": {"dir": True},
        "1-1/config.txt": {"text": "overlay config"},
        "config.txt": {"text": "common config"},
    }
    steps = [
        {"op": "fetch", "name": "mcb.bin", "expect": "tar:2712/mcb.bin"},
        {"op": "fetch", "name": "bootmain", "expect": "file:2712/bootmain"},
        {"op": "fetch", "name": "config.txt", "expect": "file:1-1/config.txt"},
        {"op": "done"},
    ]
    spec = _single_board(steps, pid="2712", bootdir=bootdir,
                         expect_bootcode="tar:2712/bootcode5.bin")
    run = boot(spec, overlay=True)
    assert run.result.exit_code == ExitCode.OK, run.kinds("error")
    assert run.problems() == []


def test_default_firmware_from_the_shared_usbboot_tree(boot, firmware_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    usbboot = firmware_dir / "usbboot"
    monkeypatch.setenv(FIRMWARE_ENV, str(usbboot))
    steps = [{"op": "fetch", "name": "mcb.bin", "expect": {"size": 11696}},
             {"op": "fetch", "name": "config.txt", "expect": "any"},
             {"op": "fetch", "name": "start4.elf", "expect": "absent"},
             {"op": "done"}]
    run = boot(_single_board(steps), boot_dir=None)
    assert run.result.exit_code == ExitCode.OK, run.kinds("error")
    bootcode = run.kinds("bootcode")[0]
    assert bootcode.source.endswith("bootfiles.bin:2711/bootcode4.bin")
    sources = {e.name: e.source for e in run.kinds("file") if e.source}
    assert sources["config.txt"] == str(usbboot / "mass-storage-gadget64" / "config.txt")


def test_metadata_written_escaped_and_decoded(boot, tmp_path: Path) -> None:
    steps = [
        {"op": "meta", "record": "MAC_ADDR*d8:3a:dd:01:02:03"},
        {"op": "meta", "record": 'USER_SERIAL_NUM*he said "hi"\\'},
        {"op": "meta", "record": "FACTORY_UUID*19a519a6_19ab520e_1ac0212b"},
        {"op": "done"},
    ]
    spec = _single_board(steps)
    spec["devices"][0]["second_stage"]["serial"] = "../../evil"
    out = tmp_path / "meta"
    out.mkdir()
    run = boot(spec, metadata=True, metadata_dir=out)
    assert run.result.exit_code == ExitCode.OK
    written = list(out.iterdir())
    assert len(written) == 1 and written[0].parent == out
    data = json.loads(written[0].read_text(encoding="utf-8"))
    assert list(data) == ["MAC_ADDR", "USER_SERIAL_NUM", "FACTORY_UUID"]
    assert data["USER_SERIAL_NUM"] == 'he said "hi"\\'
    assert data["FACTORY_UUID"] == "001000911006186073"
    event = run.kinds("metadata")[0]
    assert event.data == data and event.path == str(written[0])
    assert run.problems() == []


def test_metadata_without_dir_only_reports_event(boot, tmp_path: Path) -> None:
    run = boot(_single_board([{"op": "meta", "record": "BOOT_ROM*0x1"}, {"op": "done"}]),
               metadata=True)
    assert run.kinds("metadata")[0].data == {"BOOT_ROM": "0x1"}
    assert run.kinds("metadata")[0].path is None


def _two_boards(port_a="1-1", port_b="1-2", serial_b="ffff0001", hub=None):
    spec = scenario_for("cm4")
    board = spec["devices"][0]
    board["port"] = port_a
    other = json.loads(json.dumps(board))
    other.update(id="other", port=port_b)
    other["rom"]["serial"] = serial_b
    spec["devices"].append(other)
    if hub:
        spec["hubs"] = [{"id": "hub", "port": hub, "ports": 4}]
    return spec


def test_port_path_filter_exact_and_glob(boot) -> None:
    run = boot(_two_boards(port_a="1-3.1", port_b="1-2", hub="1-3"), port_path="1-3.*")
    assert [b.port_path for b in run.result.finished] == ["1-3.1"]
    assert run.transcript.events("claim_interface", dev="other") == []
    run = boot(_two_boards(), port_path="1-2")
    assert [b.port_path for b in run.result.finished] == ["1-2"]
    assert run.transcript.events("claim_interface", dev="cm4") == []


def test_port_number_filter(boot) -> None:
    run = boot(_two_boards(port_a="1-3.1", port_b="1-3.2", hub="1-3"), port_number=2)
    assert [b.port_path for b in run.result.finished] == ["1-3.2"]
    assert run.transcript.events("claim_interface", dev="cm4") == []


def test_serial_filter_never_claims_other_boards(boot) -> None:
    spec = _two_boards(serial_b="ffff0001")
    spec["devices"][0]["role"] = "bystander"  # the simulator flags any claim or transfer
    run = boot(spec, serial="ffff0001")
    assert [b.port_path for b in run.result.finished] == ["1-2"]
    assert run.transcript.events("claim_interface", dev="cm4") == []
    assert run.problems() == []


def test_serial_filter_reports_permission_problems(boot) -> None:
    spec = _two_boards(serial_b="ffff0001")
    spec["devices"][1]["rom"]["access_denied"] = True
    run = boot(spec, serial="ffff0001", port_path="1-2")
    assert run.result.exit_code == ExitCode.PERMISSION


def test_no_board_times_out(boot) -> None:
    spec = scenario_for("cm4")
    spec["devices"][0]["port"] = "1-4"
    run = boot(spec, port_path="1-1", wait_timeout=0.2)
    assert run.error is not None and run.error.exit_code == ExitCode.TIMEOUT


def test_loop_mode_returns_after_idling_for_wait_timeout(boot) -> None:
    run = boot(scenario_for("cm4"), loop=True, wait_timeout=0.3)
    assert run.error is None and not run.stop.is_set()
    assert [b.port_path for b in run.result.finished] == ["1-1"]


def test_metadata_dir_gets_one_object_even_without_records(boot, tmp_path: Path) -> None:
    out = tmp_path / "meta-empty"
    out.mkdir()
    run = boot(scenario_for("cm4"), metadata=True, metadata_dir=out)
    assert run.result.exit_code == ExitCode.OK
    assert json.loads((out / "b29d2da0.json").read_text(encoding="utf-8")) == {}


def test_no_metadata_event_without_j(boot) -> None:
    run = boot(_single_board([{"op": "meta", "record": "BOOT_ROM*0x1"}, {"op": "done"}]))
    assert run.result.exit_code == ExitCode.OK and run.kinds("metadata") == []

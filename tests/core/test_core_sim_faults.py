"""The engine against faulty or hostile simulated boards, and loop-mode concurrency."""

from __future__ import annotations

import json

from core_simkit import scenario_for

from rpiboot.errors import ExitCode, PermissionDenied
from rpiboot.protocol.rom import RomRejected


def _board(steps, *, board_id="b", port="1-1", bootdir=None, second=None, **rom):
    rom_spec = {"pid": "2711", "serial_index": 3, "serial": "af04b2da", **rom}
    device = {"id": board_id, "port": port, "rom": rom_spec}
    if steps is not None:
        device["second_stage"] = {"serial_index": 4, "serial": "b29d2da0", "steps": steps,
                                  "after": {"action": "disappear", "delay": 0.1},
                                  **(second or {})}
    return {"name": "fault", "devices": [device],
            "bootdir": bootdir or {"bootcode4.bin": {"random": 4096}}}


DONE = [{"op": "done"}]


def test_rejected_bootcode_fails_once_with_causes(boot) -> None:
    run = boot(_board(DONE, status=-1, after_reject="stay"))
    assert run.result.exit_code == ExitCode.FAILED
    (_board_ref, error), = run.result.failed
    assert isinstance(error, RomRejected) and error.status == -1
    assert "status -1" in str(error) and "signed" in (error.hint or "")
    assert len(run.transcript.events("boot_message", dev="b")) == 1  # not retried
    assert run.kinds("error")[0].exit_code == 1


def test_loop_mode_ignores_a_rejecting_board_and_serves_others(boot) -> None:
    spec = _board(DONE, status=7, after_reject="stay")
    good = _board(DONE, board_id="good", port="1-2")["devices"][0]
    spec["devices"].append(good)
    run = boot(spec, loop=True, stop_after=2)
    assert run.error is None
    assert [b.port_path for b in run.result.finished] == ["1-2"]
    assert [b.port_path for b, _ in run.result.failed] == ["1-1"]
    assert len(run.transcript.events("boot_message", dev="b")) == 1


def test_disconnect_mid_transfer_fails_the_board(boot) -> None:
    bootdir = {"bootcode4.bin": {"random": 4096}, "start4.elf": {"random": 300_000}}
    steps = [{"op": "fetch", "name": "start4.elf", "expect": "present",
              "disconnect_after_bytes": 65536}]
    run = boot(_board(steps, bootdir=bootdir))
    assert run.result.exit_code == ExitCode.FAILED
    assert "disconnected" in str(run.result.failed[0][1])


def test_disconnect_while_waiting_for_a_request_is_the_next_stage(boot) -> None:
    run = boot(_board([{"op": "fetch", "name": "config.txt", "expect": "absent"},
                       {"op": "disconnect"}]))
    assert run.result.exit_code == ExitCode.OK
    assert run.problems() == []


def test_naks_shorter_than_the_stage_timeout_are_waited_out(boot) -> None:
    steps = [{"op": "delay", "seconds": 15}, {"op": "fetch", "name": "x", "expect": "absent"},
             {"op": "done"}]
    run = boot(_board(steps, status_delay=15), stage_timeout=2.0)
    assert run.result.exit_code == ExitCode.OK
    assert run.problems() == []


def test_a_board_that_stops_asking_times_out(boot) -> None:
    run = boot(_board([{"op": "delay", "seconds": 500}, {"op": "done"}]), stage_timeout=0.3)
    assert run.result.exit_code == ExitCode.TIMEOUT
    assert "no file request" in str(run.result.failed[0][1])


def test_unresponsive_rom_reports_cable_hint(boot) -> None:
    run = boot(_board(DONE, unresponsive=True))
    assert run.result.exit_code == ExitCode.TIMEOUT
    error = run.result.failed[0][1]
    assert "boot message" in str(error) and "cable" in (error.hint or "")


def test_a_silent_rom_status_fails_within_the_stage_timeout(boot) -> None:
    """The ROM took the bootcode but never answers its status: the status read is cut to
    what is left of the stage (not libusb's 20 s default)."""
    run = boot(_board(None, status_delay=5000), stage_timeout=0.5)
    assert run.result.exit_code == ExitCode.TIMEOUT
    error = str(run.result.failed[0][1])
    assert "read 4 bytes" in error
    waited = float(error.rsplit("after ", 1)[1].split(" s")[0])
    assert waited <= 0.5


def test_board_that_never_reenumerates_times_out(boot) -> None:
    run = boot(_board(None), stage_timeout=0.3)
    assert run.result.exit_code == ExitCode.TIMEOUT
    assert "re-appear" in str(run.result.failed[0][1])


def test_unknown_command_is_a_protocol_error(boot) -> None:
    run = boot(_board([{"op": "raw", "command": 7, "name": "config.txt"}, {"op": "done"}]))
    assert run.result.exit_code == ExitCode.FAILED
    assert "unknown file-server command 7" in str(run.result.failed[0][1])
    assert run.kinds("error")


def test_short_message_is_read_as_zero_padded(boot) -> None:
    # 10 bytes: the command and "config" -- answered like GetFileSize "config" (missing).
    run = boot(_board([{"op": "raw", "command": 0, "name": "config.txt", "length": 10},
                       {"op": "done"}]))
    assert run.result.exit_code == ExitCode.OK
    served = [(e.name, e.size) for e in run.kinds("file")]
    assert served == [("config", None)]


def test_empty_name_ends_the_stage_whatever_the_command(boot) -> None:
    # As in the reference: the empty-name check comes before the command check.
    run = boot(_board([{"op": "raw", "command": 9, "name": ""},
                       {"op": "fetch", "name": "never.txt", "expect": "absent"}]))
    assert run.result.exit_code == ExitCode.OK
    assert run.kinds("file") == []


def test_hostile_names_are_answered_missing(boot) -> None:
    bootdir = {"bootcode4.bin": {"random": 4096}, "../secret.txt": {"text": "secret"},
               "config.txt": {"text": "ok"}}
    hostile = ["../secret.txt", "/etc/passwd", "C:/secret.txt", "..\\secret.txt"]
    steps = [{"op": "fetch", "name": n, "expect": "absent", "force_read": True}
             for n in hostile]
    steps += [{"op": "fetch", "name_hex": "0173656372", "expect": "absent"},
              {"op": "fetch", "name": "config.txt", "expect": "present"}, {"op": "done"}]
    run = boot(_board(steps, bootdir=bootdir))
    assert run.result.exit_code == ExitCode.OK
    assert run.problems() == []
    refused = [e.name for e in run.kinds("refused")]
    assert set(hostile) <= set(refused) and len(refused) == 2 * len(hostile) + 1


def test_permission_denied_gives_the_udev_rule(boot) -> None:
    run = boot(_board(DONE, access_denied=True))
    assert run.result.exit_code == ExitCode.PERMISSION
    error = run.result.failed[0][1]
    assert isinstance(error, PermissionDenied)
    assert 'ATTR{idVendor}=="0a5c"' in (error.hint or "")


def test_signed_boot_sends_bootsig(boot) -> None:
    spec = scenario_for("cm3")
    spec["bootdir"]["bootsig.bin"] = {"hex": "ab" * 20}
    spec["devices"][0]["rom"]["expect_signature"] = "ab" * 20
    run = boot(spec, signed=True)
    assert run.result.exit_code == ExitCode.OK
    assert run.problems() == []


def test_signed_boot_prefers_bootcode_sig_like_the_reference(boot) -> None:
    # The reference checks bootsig.bin exists but sends bootcode.sig's first 20 bytes.
    spec = scenario_for("cm3")
    spec["bootdir"]["bootsig.bin"] = {"hex": "ab" * 20}
    spec["bootdir"]["bootcode.sig"] = {"hex": "cd" * 24}
    spec["devices"][0]["rom"]["expect_signature"] = "cd" * 20
    run = boot(spec, signed=True)
    assert run.result.exit_code == ExitCode.OK
    assert run.problems() == []


def test_signed_boot_without_signature_file_fails_clearly(boot) -> None:
    spec = scenario_for("cm3")
    run = boot(spec, signed=True)
    assert run.result.exit_code == ExitCode.FAILED
    assert "bootcode.sig" in str(run.result.failed[0][1])


def test_several_boards_are_served_concurrently(boot) -> None:
    spec = {"name": "many", "bootdir": {"bootcode4.bin": {"random": 4096}}, "devices": []}
    ports = ["1-1", "1-2", "1-3", "1-4"]
    for i, port in enumerate(ports):
        board = _board([{"op": "delay", "seconds": 20}, {"op": "done"}], board_id=f"b{i}",
                       port=port)["devices"][0]
        board["rom"]["serial"] = f"0000000{i}"
        spec["devices"].append(board)
    run = boot(spec, loop=True, stop_after=len(ports))
    assert sorted(b.port_path for b in run.result.finished) == ports
    starts = [run.when("stage", p, stage="fileserver") for p in ports]
    ends = [run.when("finished", p) for p in ports]
    assert max(starts) < min(ends)  # every file-server stage overlapped the others
    assert run.problems() == []
    labels = {e.board.serial for e in run.kinds("finished")}
    assert len(labels) == 1  # same second-stage serial string: port paths tell them apart
    assert json.dumps([e.to_json() for e in run.kinds("finished")])


def test_file_too_large_for_the_protocol_fails_cleanly(boot, tmp_path) -> None:
    spec = _board([{"op": "fetch", "name": "huge.img", "expect": "any"}, {"op": "done"}])
    run = boot(spec, boot_dir=_huge_bootdir(tmp_path))
    assert run.result.exit_code == ExitCode.FAILED
    assert "4 GiB" in str(run.result.failed[0][1])


def _huge_bootdir(tmp_path):
    boot = tmp_path / "huge"
    boot.mkdir()
    (boot / "bootcode4.bin").write_bytes(b"\0" * 4096)
    with open(boot / "huge.img", "wb") as handle:
        handle.truncate(1 << 32)  # sparse: costs no disk
    return boot


def test_progress_events_are_rate_limited(boot) -> None:
    run = boot(scenario_for("cm4"))
    progress = [e for e in run.kinds("progress") if e.name == "start4.elf"]
    assert progress[0].done == 0 and progress[-1].done == progress[-1].total == 2 * 1024 * 1024
    assert len(progress) < 10  # 128 bulk chunks, far fewer events

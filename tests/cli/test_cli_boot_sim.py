"""The boot command in-process against the simulator: exit codes and what the user sees."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from rpiboot.cli.boot_flags import build_options, parse_args
from rpiboot.cli.render import HumanRenderer, JsonRenderer
from rpiboot.cli.serving import run_boot
from rpiboot.cli.simulate_cmd import main as simulate_main
from rpiboot.errors import ExitCode
from rpiboot.sim import Scenario, preset

FAST = 0.02


def boot(scenario: Scenario, argv: list[str], capsys: pytest.CaptureFixture[str]
         ) -> tuple[int, str, str]:
    """Run the boot command on the scenario's bus; (exit status, stdout, stderr)."""
    args = parse_args([*scenario.tool_args, *argv])
    scenario.bus.start()
    try:
        code = run_boot(build_options(args), scenario.bus.backend, args)
    finally:
        scenario.bus.close()
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cm4_boots_with_prefixed_human_lines(tmp_path: Path, capsys) -> None:
    scenario = Scenario.load(preset("cm4"), tmp_path, time_scale=FAST)
    code, out, err = boot(scenario, ["--timeout", "10"], capsys)
    assert code == ExitCode.OK
    assert scenario.bus.problems() == []
    assert "1-1 [b29d2da0]: sent start4.elf" in err
    assert "1-1 [b29d2da0]: config.txt: not found" in err
    assert out == ""


def test_json_mode_prints_only_schema_events(tmp_path: Path, capsys) -> None:
    scenario = Scenario.load(preset("cm5"), tmp_path, time_scale=FAST)
    code, out, _ = boot(scenario, ["--json", "--timeout", "10"], capsys)
    assert code == ExitCode.OK
    events = [json.loads(line) for line in out.splitlines()]
    assert all(e["v"] == 1 for e in events)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "waiting" and kinds[-1] == "finished"
    assert "progress" not in kinds
    served = {e["name"]: e["size"] for e in events
              if e["event"] == "file" and e["command"] == "ReadFile"}
    assert served["boot.img"] == len(scenario.content["file:boot.img"])
    assert served["bootmain"] == len(scenario.content["tar:2712/bootmain"])


def test_metadata_without_dir_goes_to_stdout(tmp_path: Path, capsys) -> None:
    scenario = Scenario.load(preset("recovery"), tmp_path, time_scale=FAST)
    code, out, _ = boot(scenario, ["-j", "--quiet"], capsys)
    assert code == ExitCode.OK
    record = json.loads(out)
    assert list(record)[:2] == ["MAC_ADDR", "USER_BOARDREV"]
    assert record["FACTORY_UUID"] == "001000911006186073"


def test_metadata_dir_gets_serial_json(tmp_path: Path, capsys) -> None:
    scenario = Scenario.load(preset("recovery"), tmp_path / "w", time_scale=FAST)
    meta = tmp_path / "meta"
    code, _, _ = boot(scenario, ["-j", str(meta)], capsys)
    assert code == ExitCode.OK
    written = json.loads((meta / "dc626c31.json").read_text())
    assert written["USER_SERIAL_NUM"] == "dc626c31"


def fault_board(rom: dict | None = None, steps: list | None = None) -> dict:
    return {"name": "fault", "bootdir": {"bootcode4.bin": {"random": 1000},
                                         "start4.elf": {"random": 300000}},
            "devices": [{"id": "b", "port": "1-1",
                         "rom": {"pid": "2711", "serial": "f0f0f0f0", **(rom or {})},
                         "second_stage": {"steps": steps or [{"op": "done"}]}}]}


@pytest.mark.parametrize("spec", [
    fault_board(rom={"status": -1}),
    fault_board(rom={"status": 3, "after_reject": "disappear"}),
    fault_board(steps=[{"op": "fetch", "name": "start4.elf", "disconnect_after_bytes": 50000}]),
], ids=["rejected-stays", "rejected-gone", "disconnect-mid-file"])
def test_failed_boots_exit_1_with_a_message(spec: dict, tmp_path: Path, capsys) -> None:
    scenario = Scenario.load(spec, tmp_path, time_scale=FAST)
    code, _, err = boot(scenario, ["--timeout", "10"], capsys)
    assert code == ExitCode.FAILED
    assert "1-1" in err and "error:" in err


def test_vanishing_between_requests_means_next_stage(tmp_path: Path, capsys) -> None:
    """Spec 4: a message read failing with "no device" ends the stage: the board rebooted."""
    scenario = Scenario.load(fault_board(steps=[{"op": "disconnect"}]), tmp_path,
                             time_scale=FAST)
    code, _, _ = boot(scenario, ["--timeout", "10"], capsys)
    assert code == ExitCode.OK


def test_permission_denied_exits_5(tmp_path: Path, capsys) -> None:
    scenario = Scenario.load(fault_board(rom={"access_denied": True}), tmp_path, time_scale=FAST)
    code, _, err = boot(scenario, ["--timeout", "10"], capsys)
    assert code == ExitCode.PERMISSION
    assert "udev" in err or "permission" in err.lower()


def test_filters_leave_the_bystander_alone(tmp_path: Path, capsys) -> None:
    spec = preset("cm4")
    spec["devices"].append({"id": "other", "port": "1-2", "role": "bystander",
                            "rom": {"pid": "2711", "serial": "99999999"}})
    scenario = Scenario.load(spec, tmp_path, time_scale=FAST)
    code, _, _ = boot(scenario, ["-1", "--timeout", "10"], capsys)
    assert code == ExitCode.OK
    assert scenario.bus.problems() == []
    assert scenario.bus.transcript.events("claim_interface", dev="other") == []


def test_renderers_are_thread_safe_under_loop_mode(tmp_path: Path, capsys) -> None:
    spec = preset("cm4")
    spec["devices"] = [dict(spec["devices"][0], id=f"b{i}", port=f"1-{i}") for i in (1, 2, 3)]
    scenario = Scenario.load(spec, tmp_path, time_scale=FAST)
    code, _, err = boot(scenario, ["-l", "--timeout", "1"], capsys)
    assert code == ExitCode.OK
    assert all(b.completed() for b in scenario.bus.boards)
    assert {line.split(" ", 1)[0] for line in err.splitlines() if "done in" in line} == {
        "1-1", "1-2", "1-3"}


def test_simulate_subcommand_demo(capsys) -> None:
    code = simulate_main(["cm3", "--speed", "50"])
    err = capsys.readouterr().err
    assert code == ExitCode.OK
    assert "every answer as expected" in err
    assert "0a5c:2764" in err


def test_simulate_rejects_unknown_boards() -> None:
    from rpiboot.errors import UsageError

    with pytest.raises(UsageError):
        simulate_main(["cm9"])


def test_renderer_classes_are_used_per_mode() -> None:
    from rpiboot.cli.render import make_renderer

    assert isinstance(make_renderer(json_mode=True, quiet=False, verbose=0), JsonRenderer)
    plain = make_renderer(json_mode=False, quiet=False, verbose=0, err=io.StringIO())
    assert isinstance(plain, HumanRenderer) and plain._progress is None

"""The event stream of a failed run ends with one error event carrying the run's exit code."""

from __future__ import annotations

from pathlib import Path

from core_simkit import FAST_OPTIONS, TIME_SCALE

from rpiboot import BootOptions, ExitCode, Server
from rpiboot.events import BoardFailed, ServeFailed
from rpiboot.sim import Scenario


def _rejecting(board_id: str, port: str, **rom: object) -> dict[str, object]:
    return {"id": board_id, "port": port,
            "rom": {"pid": "2711", "serial_index": 3, "serial": f"{board_id}0000", **rom},
            "second_stage": {"serial_index": 4, "serial": board_id, "steps": [{"op": "done"}],
                             "after": {"action": "disappear", "delay": 0.1}}}


def test_several_failed_boards_end_with_the_runs_code(tmp_path: Path) -> None:
    """One board rejected (exit 1), one never re-appears (exit 4): the run exits 1, so a
    summary error event with exit_code 1 closes the stream."""
    spec = {"bootdir": {"bootcode4.bin": {"random": 2048}},
            "devices": [_rejecting("aa", "1-1", status=5, after_reject="stay"),
                        {"id": "bb", "port": "1-2", "rom": {"pid": "2711", "serial_index": 3,
                                                           "serial": "bb0000"}}]}
    scenario = Scenario.load(spec, tmp_path, time_scale=TIME_SCALE)
    events: list[object] = []
    scenario.bus.start()
    try:
        options = BootOptions(boot_dir=scenario.bootdir, loop=True,
                              **{**FAST_OPTIONS, "stage_timeout": 0.5, "wait_timeout": 1.5})
        result = Server(options, backend=scenario.bus.backend, on_event=events.append).run()
    finally:
        scenario.bus.close()
    board_codes = sorted(e.exit_code for e in events if isinstance(e, BoardFailed))
    assert board_codes == [ExitCode.FAILED, ExitCode.TIMEOUT]
    assert result.exit_code == ExitCode.FAILED
    last = events[-1]
    assert isinstance(last, ServeFailed) and last.exit_code == result.exit_code
    assert "2 of 2 board(s) failed" in last.error

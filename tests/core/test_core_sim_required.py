"""The public API against the new and stricter simulated boards (recovery5, required files)."""

from __future__ import annotations

from pathlib import Path

import pytest
from core_simkit import scenario_for

import rpiboot
from rpiboot.errors import ExitCode
from rpiboot.firmware import find_msd_dir
from rpiboot.sim import build_bootdir, preset, simulate


def test_recovery5_through_boot_one_returns_its_metadata(tmp_path: Path) -> None:
    with simulate("recovery5", workdir=tmp_path) as sim:
        board = rpiboot.boot_one(sim.boot_dir, backend=sim.backend, timeout=10)
        assert sim.wait_finished(5)
    assert board.ok and board.board.serial == "9a3f1c07"
    assert board.metadata["MAC_ADDR"] == "2c:cf:67:00:11:22"
    assert board.metadata["USER_SERIAL_NUM"] == "9a3f1c07"
    assert list(board.metadata)[-1] == "EEPROM_UPDATE"
    assert sim.problems() == []
    served = sim.transcript.events("reply_file", dev="pi5")
    assert {e["name"] for e in served} == {"config.txt", "pieeprom.sig", "pieeprom.bin"}


@pytest.mark.parametrize("board", ["recovery5", "cm4-secure"])
def test_new_presets_boot_through_the_engine(boot, board: str) -> None:
    run = boot(scenario_for(board))
    assert run.result.exit_code == ExitCode.OK
    assert run.scenario.bus.wait_boards_finished(5)
    assert run.problems() == []
    assert run.scenario.bus.boards[0].completed()


def test_a_board_that_gives_up_is_a_board_side_problem(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The host cannot see the failure (the board just leaves); the simulator reports it."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("RPIBOOT_FIRMWARE_DIR", raising=False)
    if find_msd_dir() is not None:
        pytest.skip("an installed msd/ folder would serve start4.elf, as the reference does")
    build_bootdir(preset("cm4"), tmp_path / "own")
    own = tmp_path / "own" / "boot"
    (own / "start4.elf").unlink()
    with simulate("cm4", workdir=tmp_path / "w", boot_dir=own) as sim:
        board = rpiboot.boot_one(own, backend=sim.backend, timeout=10)
        assert sim.wait_finished(5)
        state = sim.bus.boards[0].final_state
    assert board.ok  # to the host the board re-enumerated away, as after a good boot
    assert sim.problems() == ["cm4: board failed: start4.elf not found: the firmware cannot "
                              "start"]
    assert state is not None and state.endswith("left the bus")

"""``rpiboot simulate`` fails where a real board would: a boot directory without a file the
second stage needs exits non-zero, naming the file and where to put it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rpiboot.cli.simulate_cmd import main as simulate_main
from rpiboot.errors import ExitCode
from rpiboot.firmware import SYSTEM_DIR, find_msd_dir
from rpiboot.sim import PRESETS, build_bootdir, preset

RPIBOOT = str(Path(sys.executable).with_name("rpiboot"))

# (board, file missing from the directory, what the board needs instead)
MISSING = [
    ("cm4", "start4.elf", "start4.elf"),
    ("pi-zero", "start.elf", "start.elf"),
    ("cm3", "start.elf", "start.elf"),
    ("cm5", "boot.img", "boot.img"),
    ("cm5", "config.txt", "config.txt"),
    ("recovery", "pieeprom.bin", "pieeprom.upd or pieeprom.bin"),
    ("recovery", "pieeprom.sig", "pieeprom.sig"),
    ("recovery5", "pieeprom.bin", "pieeprom.upd or pieeprom.bin"),
    ("recovery5", "pieeprom.sig", "pieeprom.sig"),
    ("cm4-secure", "boot.sig", "boot.sig"),
    ("cm4-secure", "boot.img", "boot.img"),
]


def run(*argv: str, home: Path) -> subprocess.CompletedProcess[str]:
    """The installed command, with no installed firmware to fall back on."""
    env = dict(os.environ, XDG_DATA_HOME=str(home), HOME=str(home))
    env.pop("RPIBOOT_FIRMWARE_DIR", None)
    return subprocess.run([RPIBOOT, *argv], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, env=env)


def own_directory(board: str, tmp_path: Path, *, without: str | None = None) -> Path:
    """The preset's boot files as a user's own directory, optionally lacking one file."""
    build_bootdir(preset(board), tmp_path / "own")
    directory = tmp_path / "own" / "boot"
    if without is not None:
        (directory / without).unlink()
    return directory


@pytest.mark.parametrize(("board", "missing", "needs"), MISSING,
                         ids=[f"{b}-without-{m}" for b, m, _ in MISSING])
def test_a_missing_needed_file_exits_1_naming_it(board: str, missing: str, needs: str,
                                                 tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    for name in ("XDG_DATA_HOME", "HOME"):
        monkeypatch.setenv(name, str(home))
    monkeypatch.delenv("RPIBOOT_FIRMWARE_DIR", raising=False)
    if missing.startswith("start") and find_msd_dir() is not None:
        pytest.skip(f"{SYSTEM_DIR} serves {missing} when DIR lacks it, as the reference does")
    directory = own_directory(board, tmp_path, without=missing)
    result = run("simulate", board, "-d", str(directory), "--speed", "50", home=home)
    assert result.returncode == ExitCode.FAILED, result.stderr
    assert f"board failed: {missing} not found" in result.stderr or (
        f"neither {needs.replace(' or ', ' nor ')} found" in result.stderr)
    assert f"needs {needs}: put it in {directory}" in result.stderr
    assert "every answer as expected" not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_complete_own_directory_still_boots(tmp_path: Path) -> None:
    directory = own_directory("cm4-secure", tmp_path)
    result = run("simulate", "cm4-secure", "-d", str(directory), "--speed", "50",
                 home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert "every answer as expected" in result.stderr


def test_recovery5_boots_and_shows_its_metadata(tmp_path: Path) -> None:
    listed = run("simulate", "--list", home=tmp_path)
    assert "recovery5" in {line.split()[0] for line in listed.stdout.splitlines()}
    result = run("simulate", "recovery5", "-j", home=tmp_path)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["USER_BOARDREV"] == "0xd04180"  # board type 0x18: CM5
    assert record["FACTORY_UUID"] == "002000712400531862"
    assert "0a5c:2712" in result.stderr and "sent pieeprom.bin" in result.stderr
    assert "every answer as expected" in result.stderr


@pytest.mark.parametrize("board", sorted(PRESETS))
def test_every_preset_passes_with_its_generated_directory(board: str, capsys) -> None:
    code = simulate_main([board, "--speed", "50", "--timeout", "10"])
    err = capsys.readouterr().err
    assert code == ExitCode.OK, err
    assert "every answer as expected" in err and "needs" not in err


def test_json_mode_still_explains_a_board_failure(tmp_path: Path, capsys) -> None:
    directory = own_directory("cm5", tmp_path, without="boot.img")
    code = simulate_main(["cm5", "-d", str(directory), "--speed", "50", "--json"])
    captured = capsys.readouterr()
    assert code == ExitCode.FAILED
    assert all(json.loads(line)["v"] == 1 for line in captured.out.splitlines())
    assert f"needs boot.img: put it in {directory}" in captured.err

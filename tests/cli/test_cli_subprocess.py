"""The installed command as a user runs it: exit statuses, stdout/stderr split, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rpiboot import __version__
from rpiboot.events import SCHEMA_VERSION

RPIBOOT = str(Path(sys.executable).with_name("rpiboot"))
EVENT_KINDS = {"waiting", "attached", "stage", "bootcode", "file", "refused", "metadata",
               "finished", "error"}


def run(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("RPIBOOT_FIRMWARE_DIR", None)
    return subprocess.run([RPIBOOT, *argv], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=env)


def test_version_both_ways() -> None:
    assert run("-V").stdout.strip() == f"rpiboot {__version__}"
    module = subprocess.run([sys.executable, "-m", "rpiboot", "--version"],
                            capture_output=True, text=True, timeout=60)
    assert module.returncode == 0 and module.stdout.strip() == f"rpiboot {__version__}"


def test_help_lists_reference_flags() -> None:
    result = run("-h")
    assert result.returncode == 0
    for flag in ("-d DIR", "-l", "-o", "-m MICROSECONDS", "-j [DIR]", "--timeout", "--json"):
        assert flag in result.stdout


@pytest.mark.parametrize("argv", [["--bogus"], ["-99"], ["-o"], ["--timeout", "-3"]])
def test_usage_errors_exit_2(argv: list[str]) -> None:
    result = run(*argv)
    assert result.returncode == 2
    assert "rpiboot: error:" in result.stderr


def test_timeout_without_a_board_exits_4(tmp_path: Path) -> None:
    result = run("-d", str(tmp_path), "--timeout", "0.5")
    assert result.returncode == 4
    assert "no matching board" in result.stderr


def test_missing_boot_directory_is_reported(tmp_path: Path) -> None:
    result = run("-d", str(tmp_path / "nope"), "--timeout", "0.5")
    assert result.returncode == 1
    assert "nope" in result.stderr


def test_ctrl_c_exits_130_cleanly(tmp_path: Path) -> None:
    proc = subprocess.Popen([RPIBOOT, "-d", str(tmp_path), "--timeout", "60"],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    assert proc.stderr is not None
    line = proc.stderr.readline()  # wait until it is really waiting for a board
    assert "Waiting" in line
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err


def test_sigterm_exits_130_not_negative(tmp_path: Path) -> None:
    proc = subprocess.Popen([RPIBOOT, "-d", str(tmp_path), "-l"], stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    assert proc.stderr is not None
    assert "Waiting" in proc.stderr.readline()
    proc.terminate()
    proc.communicate(timeout=30)
    assert proc.returncode == 130


def test_json_lines_follow_the_schema() -> None:
    result = run("simulate", "cm4", "--speed", "20", "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events, "no JSON events"
    for event in events:
        assert event["v"] == SCHEMA_VERSION
        assert event["event"] in EVENT_KINDS
        assert "board" in event
    assert [e["event"] for e in events][-1] == "finished"
    bootcode = next(e for e in events if e["event"] == "bootcode")
    assert (bootcode["name"], bootcode["status"]) == ("bootcode4.bin", 0)


def test_metadata_json_on_stdout_and_logs_on_stderr() -> None:
    result = run("--simulate", "recovery", "-j")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["FACTORY_UUID"] == "001000911006186073"
    assert "sent pieeprom.bin" in result.stderr


def test_simulate_list() -> None:
    result = run("simulate", "--list")
    names = {line.split()[0] for line in result.stdout.splitlines()}
    assert {"cm4", "cm5", "cm3", "pi-zero", "recovery"} <= names

"""``--json``: every failed run ends with one ``error`` event whose ``exit_code`` is the
process's exit status, whether a board failed or not (bad flags, nothing to serve, no board
in time, Ctrl-C)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from rpiboot import ExitCode

RPIBOOT = str(Path(sys.executable).with_name("rpiboot"))


def _run(*argv: str) -> tuple[int, list[dict[str, object]]]:
    env = {k: v for k, v in os.environ.items() if k != "RPIBOOT_FIRMWARE_DIR"}
    proc = subprocess.run([RPIBOOT, *argv], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, env=env)
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()]


def _assert_ends_with_error(code: int, events: list[dict[str, object]]) -> dict[str, object]:
    assert events, "no events on stdout"
    last = events[-1]
    assert last["event"] == "error" and last["exit_code"] == code
    return last


def test_a_missing_boot_directory(tmp_path: Path) -> None:
    code, events = _run("--json", "-d", str(tmp_path / "nope"))
    assert code == ExitCode.FAILED
    last = _assert_ends_with_error(code, events)
    assert last["board"] is None and "nope" in str(last["error"])


def test_no_board_within_the_timeout(tmp_path: Path) -> None:
    code, events = _run("--json", "-d", str(tmp_path), "--timeout", "0.2")
    assert code == ExitCode.TIMEOUT
    assert events[0]["event"] == "waiting"
    assert "no matching board" in str(_assert_ends_with_error(code, events)["error"])


def test_bad_flags() -> None:
    code, events = _run("--json", "--timeout", "-3")
    assert code == ExitCode.USAGE
    assert "--timeout" in str(_assert_ends_with_error(code, events)["error"])


def test_ctrl_c_ends_with_an_interrupted_event(tmp_path: Path) -> None:
    proc = subprocess.Popen([RPIBOOT, "--json", "-d", str(tmp_path), "-l"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline())["event"] == "waiting"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.INTERRUPTED
    last = _assert_ends_with_error(proc.returncode, [json.loads(x) for x in out.splitlines()])
    assert "interrupted" in str(last["error"])


def test_an_unknown_simulated_board() -> None:
    code, events = _run("simulate", "cm9", "--json")
    assert code == ExitCode.USAGE
    assert "cm9" in str(_assert_ends_with_error(code, events)["error"])

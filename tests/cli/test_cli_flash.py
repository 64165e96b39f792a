"""``rpiboot flash`` as a user runs it: the simulated demo, --json events, usage errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

RPIBOOT = str(Path(sys.executable).with_name("rpiboot"))


def run(*argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "RPIBOOT_FIRMWARE_DIR"}
    return subprocess.run([RPIBOOT, "flash", *argv], capture_output=True, timeout=120,
                          input=stdin, env=env)


def test_the_simulated_demo_writes_and_verifies(tmp_path: Path) -> None:
    image = tmp_path / "os.img"
    image.write_bytes(os.urandom(3 << 20))
    result = run(str(image), "--simulate", "cm5", "--speed", "20")
    err = result.stderr.decode()
    assert result.returncode == 0, err
    assert "mass-storage gadget with LUN 0" in err and "read back and verified" in err
    assert result.stdout == b""  # no metadata printed unless -j


def test_json_events_of_a_flash(tmp_path: Path) -> None:
    image = tmp_path / "os.img"
    image.write_bytes(os.urandom(1 << 20))
    result = run(str(image), "--simulate", "cm5", "--speed", "20", "--json")
    assert result.returncode == 0, result.stderr.decode()
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds.index("finished") < kinds.index("gadget") < kinds.index("flashed")
    assert "flash_progress" not in kinds
    flashed = events[kinds.index("flashed")]
    assert flashed["bytes"] == 1 << 20 and flashed["verified"] is True


def test_an_image_from_standard_input(tmp_path: Path) -> None:
    data = os.urandom(1 << 20)
    result = run("-", "--simulate", "cm5", "--speed", "20", "--json", stdin=data)
    assert result.returncode == 0, result.stderr.decode()
    assert any(json.loads(line)["event"] == "flashed" for line in result.stdout.splitlines())


def test_usage_errors_before_any_board(tmp_path: Path) -> None:
    missing = run(str(tmp_path / "nope.img"), "--simulate", "cm5")
    assert missing.returncode == 2 and b"nope.img" in missing.stderr
    image = tmp_path / "os.img"
    image.write_bytes(b"x")
    stdin_loop = run("-", "-l", "--simulate", "cm5")
    assert stdin_loop.returncode == 2 and b"one board only" in stdin_loop.stderr
    no_disks = run(str(image), "--simulate", "cm4")
    assert no_disks.returncode == 2 and b"cm5" in no_disks.stderr

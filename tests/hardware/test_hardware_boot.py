"""Opt-in: the installed ``rpiboot`` boots a REAL board attached in USB boot mode.

    .venv/bin/python -m pytest tests/hardware --run-hardware
        [RPIBOOT_HW_DIR=DIR]        boot directory (default: the installed default firmware,
                                    i.e. --firmware-dir / $RPIBOOT_FIRMWARE_DIR / ...)
        [RPIBOOT_HW_ARGS='-p 1-3']  extra rpiboot flags (filters)

Put the board in RPIBOOT mode (nRPIBOOT jumper / button) before running.  The test waits up
to 60 s for it.  These tests are deselected unless --run-hardware is given.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.hardware


def _rpiboot() -> str:
    installed = Path(sys.executable).with_name("rpiboot")
    return str(installed) if installed.exists() else (shutil.which("rpiboot") or "rpiboot")


def test_real_board_boots_through_its_file_server(tmp_path: Path) -> None:
    argv = [_rpiboot(), "--json", "--timeout", "60", "-j", str(tmp_path)]
    if os.environ.get("RPIBOOT_HW_DIR"):
        argv += ["-d", os.environ["RPIBOOT_HW_DIR"]]
    argv += shlex.split(os.environ.get("RPIBOOT_HW_ARGS", ""))
    run = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, f"rpiboot exited {run.returncode}\n{run.stderr}"
    events = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    kinds = [e["event"] for e in events]
    assert "bootcode" in kinds and kinds[-1] == "finished", kinds
    bootcode = next(e for e in events if e["event"] == "bootcode")
    assert bootcode["status"] == 0 and bootcode["size"] > 0
    # The board asked for files, and every answer went to a real board on a real port path.
    assert any(e["event"] == "file" for e in events)
    assert all(e["board"] is None or e["board"]["port_path"] for e in events)

"""End to end: the INSTALLED ``rpiboot`` WITHOUT -d, under umockdev with real libusb, serving
the bench's boards from a set that ``rpiboot firmware fetch`` installed from the loopback
upstream (../shared/firmware's real files; XDG_DATA_HOME points at it).

Needs what tests/e2e/test_e2e_bench.py needs (skipped without it, failing under CI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from benchkit import run_scenario

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fwstore"))
from fwsite import TEST_COMMIT, TEST_REF, Site, serve

pytestmark = pytest.mark.e2e
SCENARIO = Path(__file__).resolve().parent / "scenarios" / "fetched" / "default-firmware.json"


def test_boards_of_three_families_boot_without_d_from_the_fetched_set(
        bench: dict[str, str], firmware_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    xdg = tmp_path / "xdg"
    env = dict(os.environ, XDG_DATA_HOME=str(xdg))
    for upstream in serve(Site.from_shared(firmware_dir)):
        fetch = subprocess.run([bench["tool"], "firmware", "fetch", "--ref", TEST_REF,
                                "--api", upstream.api, "--mirror", upstream.raw],
                               env=env, capture_output=True, text=True, timeout=120)
        assert fetch.returncode == 0, fetch.stderr
    assert (xdg / "rpiboot" / "current").read_text().strip() == TEST_COMMIT
    monkeypatch.setenv("XDG_DATA_HOME", str(xdg))
    verdict = run_scenario(bench, str(SCENARIO), tmp_path / "out")
    assert verdict["pass"] and verdict["protocol_errors"] == []
    stderr = (tmp_path / "out" / "stderr.txt").read_text(errors="replace")
    assert str(xdg / "rpiboot" / "sets" / TEST_COMMIT) in stderr.replace("{workdir}", "")

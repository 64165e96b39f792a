"""End to end: the INSTALLED ``rpiboot`` through the real system libusb against the umockdev
bench (../shared/bench).  Each scenario runs in its own process (``run-scenario``).

Needs umockdev-wrapper and a udev-enabled system libusb (Debian's libusb-1.0-0); without
them the tests are skipped — except when ``CI`` is set, where they fail.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from benchkit import run_scenario

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
OWN_SCENARIOS = sorted(HERE.glob("scenarios/*.json"))
VISIBLE = ["cm4-msd", "cm5-msg64", "cm3-two-iface"]


@pytest.mark.parametrize("name", VISIBLE)
def test_visible_scenario_matches_the_reference(bench: dict[str, str], name: str,
                                                tmp_path: Path) -> None:
    verdict = run_scenario(bench, name, tmp_path / name)
    result = json.loads((tmp_path / name / "result.json").read_text())
    assert result["rc"] == 0
    assert verdict["protocol_errors"] == []
    golden = Path(bench["dir"]) / "golden" / "reference" / name
    compare = subprocess.run([f"{bench['dir']}/compare", str(golden), str(tmp_path / name)],
                             capture_output=True, text=True, timeout=60)
    assert compare.returncode == 0, compare.stdout[-4000:]
    assert "RESULT: PASS" in compare.stdout


@pytest.mark.parametrize("scenario", OWN_SCENARIOS, ids=lambda p: p.stem)
def test_release_style_scenario(bench: dict[str, str], scenario: Path, tmp_path: Path) -> None:
    spec = json.loads(scenario.read_text())
    verdict = run_scenario(bench, str(scenario), tmp_path / scenario.stem)
    result = verdict["tool"]
    assert result["rc"] >= 0, f"tool died by signal {-result['rc']}"
    if spec.get("expect", {}).get("tool_exit") == "nonzero":
        assert result["rc"] not in (0, None)
        assert result.get("killed_by") is None, "the tool hung until the runner stopped it"
    if "expect_rc" in spec:  # our own key (the bench ignores unknown keys)
        assert result["rc"] == spec["expect_rc"]


def test_boards_whose_serials_differ_in_unsafe_characters_get_two_files(
        bench: dict[str, str], tmp_path: Path) -> None:
    """The installed CLI, real libusb, two simulated boards 'a/b' and 'a_b' with -l -j DIR:
    exactly two metadata files, each with its own board's records."""
    import hashlib

    workdir = tmp_path / "work"
    run_scenario(bench, str(HERE / "scenarios" / "meta-unsafe-serials.json"),
                 tmp_path / "out", workdir=workdir)
    hashed = f"a_b~{hashlib.sha256(b'a/b').hexdigest()[:10]}.json"
    files = {p.name: json.loads(p.read_text(encoding="utf-8"))
             for p in (workdir / "meta").iterdir()}
    assert files == {
        hashed: {"MAC_ADDR": "d8:3a:dd:00:00:0a", "USER_SERIAL_NUM": "a/b"},
        "a_b.json": {"MAC_ADDR": "d8:3a:dd:00:00:0b", "USER_SERIAL_NUM": "a_b"},
    }
    stderr = (tmp_path / "out" / "stderr.txt").read_text(errors="replace")
    assert f"metadata written to {{workdir}}/meta/{hashed}" in stderr

"""A tiny run of the seeded mutation fuzzer (benchmarks/fuzz_parsers.py): 200 cases per
parser, no failure; its reproducer interface gives back the very same input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_parsers.py"
PARSERS = ["eeprom", "sig", "fat", "tar", "messages", "metadata"]


def _run(*args: str, shared_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RUNNER), "--shared", str(shared_dir), *args],
                          capture_output=True, text=True, timeout=300)


def test_200_cases_per_parser_without_a_failure(tmp_path: Path, shared_dir: Path) -> None:
    out = tmp_path / "fuzz.json"
    proc = _run("--cases", "200", "--seed", "20240", "--json", str(out),
                shared_dir=shared_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    reports = {r["parser"]: r for r in json.loads(out.read_text())["reports"]}
    assert list(reports) == PARSERS
    for name, report in reports.items():
        assert report["cases"] == 200 and report["failures"] == 0, name
        assert report["valid"] + report["project_errors"] == 200, name
        assert report["valid"] > 0, f"{name}: the mutations never left a valid input"
        if name != "metadata":  # records never raise: an odd one is kept as text
            assert report["project_errors"] > 0, f"{name}: the mutations never broke it"
    assert "parser     cases  valid proj.err other" in proc.stdout


def test_a_case_is_reproducible_from_its_seed(tmp_path: Path, shared_dir: Path) -> None:
    first, second = tmp_path / "a.img", tmp_path / "b.img"
    for dump in (first, second):
        proc = _run("--only", "fat", "--seed", "3", "--case", "17", "--dump", str(dump),
                    shared_dir=shared_dir)
        assert proc.returncode == 0, proc.stderr
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != (shared_dir / "firmware/usbboot/secure-boot-msd/boot.img"
                                  ).read_bytes()


def test_unknown_parser_names_are_a_usage_error(shared_dir: Path) -> None:
    proc = _run("--only", "zip", shared_dir=shared_dir)
    assert proc.returncode == 2 and "unknown parser(s) ['zip']" in proc.stderr

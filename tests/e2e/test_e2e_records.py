"""The installed CLI, real libusb under umockdev (../shared/bench): the board's record lands
in the database named by $RPIBOOT_DB, with the files exactly as the bench served them."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from benchkit import run_scenario

from rpiboot.records.store import RecordFilter, open_store

pytestmark = pytest.mark.e2e


def test_a_bench_boot_is_recorded_with_the_files_served(
        bench: dict[str, str], shared_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    spec: dict[str, Any] = copy.deepcopy(json.loads(
        (shared_dir / "bench" / "scenarios" / "cm4-msd.json").read_text()))
    spec["name"] = "cm4-msd-records"
    spec["tool_args"] += " --station bench-e2e"
    scenario = tmp_path / "cm4-msd-records.json"
    scenario.write_text(json.dumps(spec))
    db = tmp_path / "records.db"
    monkeypatch.setenv("RPIBOOT_DB", str(db))
    run_scenario(bench, str(scenario), tmp_path / "out", workdir=tmp_path / "work")

    store = open_store(str(db))
    try:
        (rec,) = store.query(RecordFilter(station="bench-e2e"))
    finally:
        store.close()
    device = spec["devices"][0]
    assert (rec.result, rec.exit_code, rec.chip) == ("passed", 0, "BCM2711")
    assert rec.rom_serial == device["rom"]["serial"]
    assert rec.usb_serial == rec.serial == device["second_stage"]["serial"]
    assert [p["name"] for p in rec.phases] == ["rom", "fileserver"]
    assert rec.files, "no file recorded"
    for entry in rec.files:  # what was served, read back from the bench's boot folder
        data = Path(entry["source"]).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["size"],
                                                                 entry["sha256"])

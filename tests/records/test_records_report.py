"""Exports (JSON Lines, CSV) and the per-station summary, on records built as a station
writes them."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from records_helpers import at, board

from rpiboot.records.model import FIELDS, BoardRecord
from rpiboot.records.report import (
    ALL_STATIONS,
    CSV_COLUMNS,
    export_csv,
    export_jsonl,
    export_record,
    phase_seconds,
    record_seconds,
    summarize,
)


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def crashed(serial: str, dead_pid: int, **changes: object) -> BoardRecord:
    """A board whose station died mid-write: still "running", its writer gone."""
    rec = board(serial, result="running", pid=dead_pid, **changes)
    rec.ended_at, rec.exit_code, rec.error = None, None, None
    rec.phases[-1]["ended_at"] = None
    return rec


def test_jsonl_is_the_record_with_the_result_a_reader_sees(dead_pid: int) -> None:
    records = [board("s1"), crashed("s2", dead_pid),
               board("s3", result="running", pid=os.getpid())]
    out = io.StringIO()
    assert export_jsonl(records, out) == 3
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["result"] for line in lines] == ["passed", "interrupted", "running"]
    assert set(lines[0]) == {"schema", *FIELDS}
    assert lines[0] == {**records[0].to_json(), "result": "passed"}
    assert BoardRecord.from_json(lines[1]).serial == "s2"


def test_csv_has_one_column_per_field_and_json_in_the_structured_cells(dead_pid: int) -> None:
    failed = board("s1", result="failed", error="verify: mismatch\nat 0x1000, \"sector\" 8")
    records = [failed, crashed("s2", dead_pid, chip=None)]
    out = io.StringIO()
    assert export_csv(records, out) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == CSV_COLUMNS and CSV_COLUMNS[:3] == ("schema", "id", "revision")
    first, second = rows
    assert first["error"] == "verify: mismatch\nat 0x1000, \"sector\" 8"
    assert (first["result"], first["exit_code"], first["schema"]) == ("failed", "1", "1")
    assert json.loads(first["metadata"]) == failed.metadata
    assert json.loads(first["files"]) == failed.files
    assert json.loads(first["phases"]) == failed.phases
    assert (first["firmware"], first["hooks"]) == ("", "[]")
    assert (second["result"], second["chip"], second["ended_at"]) == ("interrupted", "", "")


def test_durations() -> None:
    rec = board("s1", start=10, durations={"rom": 1.5, "write": 30.0})
    assert record_seconds(rec) == 31.5
    assert [phase_seconds(p) for p in rec.phases] == [1.5, 30.0]
    assert phase_seconds({"name": "write", "seconds": 2.25, "started_at": at(0)}) == 2.25
    assert phase_seconds({"name": "write", "started_at": at(0), "ended_at": None}) is None
    assert phase_seconds({"name": "write", "started_at": "garbage", "ended_at": at(1)}) is None
    rec.ended_at = None
    assert record_seconds(rec) is None


def test_summary_per_station_and_overall(dead_pid: int) -> None:
    line1 = [board("a1", start=0, durations={"rom": 1, "write": 30}),
             board("a2", start=600, durations={"rom": 2, "write": 40}),
             board("a3", start=1200, durations={"rom": 9, "write": 50}),
             board("a3", start=1900, durations={"rom": 1, "write": 1}, result="failed")]
    line2 = [board("b1", start=3700, station="line-2", durations={"rom": 1, "write": 99}),
             crashed("b2", dead_pid, start=3800, station="line-2"),
             board("b3", start=3900, station="line-2", result="running", pid=os.getpid())]
    summary = summarize(line2 + line1)
    one, two = summary.stations
    assert (one.station, two.station, summary.total.station) == ("line-1", "line-2",
                                                                ALL_STATIONS)
    assert (one.boards, one.serials, one.passed, one.failed) == (4, 3, 3, 1)
    assert (one.interrupted, one.running, one.pass_rate) == (0, 0, 0.75)
    assert one.phase_median_seconds == {"rom": 2.0, "write": 40.0}  # passed boards only
    assert one.median_seconds == 42.0
    assert (one.first_started_at, one.last_ended_at) == (at(0), at(1902))
    assert one.boards_per_hour == round(4 / (1902 / 3600), 2)
    assert one.hourly == [("2026-12-02T08:00Z", 4)]
    assert (two.passed, two.interrupted, two.running, two.pass_rate) == (1, 1, 1, 0.5)
    assert two.hourly == [("2026-12-02T09:00Z", 3)]
    assert two.boards_per_hour == 36.0  # 1 ended board in the 100 s from 09:01:40
    total = summary.total
    assert (total.boards, total.passed, total.failed, total.interrupted) == (7, 4, 1, 1)
    assert total.pass_rate == round(4 / 6, 4)
    assert total.hourly == [("2026-12-02T08:00Z", 4), ("2026-12-02T09:00Z", 3)]
    assert total.phase_median_seconds == {"rom": 1.5, "write": 45.0}


def test_summary_json_and_the_empty_case() -> None:
    data = json.loads(json.dumps(summarize([board("a1")]).to_json()))
    assert data["schema"] == 1 and data["stations"][0]["station"] == "line-1"
    assert data["total"]["hourly"] == [{"hour": "2026-12-02T08:00Z", "boards": 1}]
    empty = summarize([])
    assert empty.stations == [] and empty.total.boards == 0
    assert (empty.total.pass_rate, empty.total.boards_per_hour,
            empty.total.median_seconds) == (None, None, None)


def test_export_record_does_not_change_the_record(dead_pid: int) -> None:
    rec = crashed("s2", dead_pid)
    assert export_record(rec)["result"] == "interrupted" and rec.result == "running"

"""Records out of the store: JSON Lines and CSV exports, and the per-station summary
(boards per hour, pass rate, median phase durations).  Pure functions on
``list[BoardRecord]``; the schema is documented in docs/records.md.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import statistics
from collections import Counter
from collections.abc import Iterable
from typing import IO, Any

from rpiboot.errors import InputError
from rpiboot.record import record
from rpiboot.records.model import (
    FIELDS,
    RECORD_SCHEMA,
    BoardRecord,
    effective_result,
    format_time,
    parse_time,
)

CSV_COLUMNS = ("schema", *FIELDS)  # one per exported field; lists and objects as JSON text
END_RESULTS = ("passed", "failed", "interrupted")
ALL_STATIONS = "(all)"  # the station name of the summary over every station


def export_record(rec: BoardRecord, now: _dt.datetime | None = None) -> dict[str, Any]:
    """The exported JSON of ``rec``: :meth:`BoardRecord.to_json` with ``result`` as a
    reader should see it (:func:`effective_result`: a dead writer's board is interrupted)."""
    data = rec.to_json()
    data["result"] = effective_result(rec, now)
    return data


def export_jsonl(records: Iterable[BoardRecord], out: IO[str],
                 now: _dt.datetime | None = None) -> int:
    """Write one JSON object per line per record; the number written."""
    count = 0
    for rec in records:
        out.write(json.dumps(export_record(rec, now), ensure_ascii=False) + "\n")
        count += 1
    return count


def csv_row(data: dict[str, Any]) -> list[str]:
    """An exported record as CSV cells (:data:`CSV_COLUMNS`): scalars as text, None as an
    empty cell, lists and objects as JSON."""
    cells = []
    for column in CSV_COLUMNS:
        value = data.get(column)
        if value is None:
            cells.append("")
        elif isinstance(value, (list, dict)):
            cells.append(json.dumps(value, ensure_ascii=False, sort_keys=True))
        else:
            cells.append(str(value))
    return cells


def export_csv(records: Iterable[BoardRecord], out: IO[str],
               now: _dt.datetime | None = None) -> int:
    """Write a header line and one row per record (:data:`CSV_COLUMNS`); the rows written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for rec in records:
        writer.writerow(csv_row(export_record(rec, now)))
        count += 1
    return count


def _time(text: object) -> _dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return parse_time(text).astimezone(_dt.timezone.utc)
    except InputError:
        return None


def _span(start: object, end: object) -> float | None:
    begun, ended = _time(start), _time(end)
    if begun is None or ended is None or ended < begun:
        return None
    return (ended - begun).total_seconds()


def phase_seconds(phase: dict[str, Any]) -> float | None:
    """How long a phase took: its ``seconds`` if given, else ``ended_at - started_at``;
    None while it runs."""
    seconds = phase.get("seconds")
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds >= 0:
        return float(seconds)
    return _span(phase.get("started_at"), phase.get("ended_at"))


def record_seconds(rec: BoardRecord) -> float | None:
    """``ended_at - started_at``; None while the board runs."""
    return _span(rec.started_at, rec.ended_at)


@record(kw_only=True)
class StationSummary:
    """The numbers of one station (or of every station: :data:`ALL_STATIONS`)."""

    station: str
    boards: int  # records: one per board and operation (a board flashed twice counts twice)
    serials: int  # different board serials among them
    passed: int
    failed: int
    interrupted: int
    running: int
    pass_rate: float | None  # passed / (passed + failed + interrupted); None: none ended
    boards_per_hour: float | None  # ended boards / hours from the first start to the last end
    hourly: list[tuple[str, int]]  # (UTC clock hour "2026-12-02T08:00Z", boards started)
    median_seconds: float | None  # of passed boards, start to end
    phase_median_seconds: dict[str, float]  # phase name -> median, of passed boards
    first_started_at: str | None
    last_ended_at: str | None

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON types (``hourly`` as ``[{"hour", "boards"}]``)."""
        data = {name: getattr(self, name) for name in _SUMMARY_FIELDS}
        data["hourly"] = [{"hour": hour, "boards": count} for hour, count in self.hourly]
        return data


_SUMMARY_FIELDS = ("station", "boards", "serials", "passed", "failed", "interrupted",
                   "running", "pass_rate", "boards_per_hour", "hourly", "median_seconds",
                   "phase_median_seconds", "first_started_at", "last_ended_at")


@record(kw_only=True)
class Summary:
    """Per station (by name), and over all of them."""

    stations: list[StationSummary]
    total: StationSummary

    def to_json(self) -> dict[str, Any]:
        """``{"schema", "stations": [...], "total": {...}}``."""
        return {"schema": RECORD_SCHEMA, "stations": [s.to_json() for s in self.stations],
                "total": self.total.to_json()}


def summarize(records: Iterable[BoardRecord], now: _dt.datetime | None = None) -> Summary:
    """The per-station and overall numbers of ``records`` (results as
    :func:`effective_result` sees them)."""
    rows = [(rec, effective_result(rec, now)) for rec in records]
    by_station: dict[str, list[tuple[BoardRecord, str]]] = {}
    for row in rows:
        by_station.setdefault(row[0].station, []).append(row)
    return Summary(stations=[_station(name, by_station[name]) for name in sorted(by_station)],
                   total=_station(ALL_STATIONS, rows))


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _station(name: str, rows: list[tuple[BoardRecord, str]]) -> StationSummary:
    counts = Counter(result for _, result in rows)
    ended = sum(counts[result] for result in END_RESULTS)
    passed = [rec for rec, result in rows if result == "passed"]
    starts = [t for t in (_time(rec.started_at) for rec, _ in rows) if t is not None]
    ends = [t for t in (_time(rec.ended_at) for rec, result in rows if result in END_RESULTS)
            if t is not None]
    first, last = (min(starts) if starts else None), (max(ends) if ends else None)
    hours = (last - first).total_seconds() / 3600 if first and last else 0.0
    phases: dict[str, list[float]] = {}
    for rec in passed:
        for phase in rec.phases:
            seconds = phase_seconds(phase)
            if seconds is not None and isinstance(phase.get("name"), str):
                phases.setdefault(phase["name"], []).append(seconds)
    return StationSummary(
        station=name, boards=len(rows),
        serials=len({rec.serial for rec, _ in rows if rec.serial}),
        passed=counts["passed"], failed=counts["failed"],
        interrupted=counts["interrupted"], running=counts["running"],
        pass_rate=round(counts["passed"] / ended, 4) if ended else None,
        boards_per_hour=round(len(ends) / hours, 2) if hours > 0 else None,
        hourly=sorted(Counter(t.strftime("%Y-%m-%dT%H:00Z") for t in starts).items()),
        median_seconds=_median([s for s in map(record_seconds, passed) if s is not None]),
        phase_median_seconds={phase: m for phase, values in phases.items()
                              if (m := _median(values)) is not None},
        first_started_at=_format(first), last_ended_at=_format(last))


def _format(moment: _dt.datetime | None) -> str | None:
    return None if moment is None else format_time(moment)

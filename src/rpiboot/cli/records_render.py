"""Text views of provisioning records for ``rpiboot records``: the list table, one record in
full, and the summary."""

from __future__ import annotations

import json
from typing import Any

from rpiboot.records.model import BoardRecord, effective_result
from rpiboot.records.report import ALL_STATIONS, Summary, phase_seconds, record_seconds

LIST_COLUMNS = ("id", "started (UTC)", "station", "port", "chip", "serial", "operation", "result",
                "exit", "duration", "error")
ERROR_WIDTH = 60  # characters of the error's first line in the table
ID_SHOWN = 8  # first digits of the id in the table (enough for `records show`)
HOURS_SHOWN = 24  # the last N hours with boards, in the text summary (--json: all)


def duration(seconds: float | None) -> str:
    """``12.3s``, ``4m05s``, ``2h03m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def short_time(text: str | None) -> str:
    """A record time as ``2026-12-02 08:00:01`` (UTC); ``-`` when absent."""
    if not text:
        return "-"
    return text.replace("T", " ")[:19]


def first_line(text: str | None, width: int = ERROR_WIDTH) -> str:
    """The first line of ``text``, cut to ``width`` characters (``…`` marks the cut)."""
    line = (text or "").strip().split("\n", 1)[0]
    return line if len(line) <= width else line[:width - 1] + "…"


def table(rows: list[list[str]], header: tuple[str, ...]) -> str:
    """Left-aligned columns, two spaces apart (the last one unpadded)."""
    widths = [max(len(row[i]) for row in [list(header), *rows]) for i in range(len(header))]
    lines = []
    for row in [list(header), *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def list_table(records: list[BoardRecord]) -> str:
    """The ``records list`` table, one line per record."""
    rows = []
    for rec in records:
        rows.append([rec.id[:ID_SHOWN], short_time(rec.started_at), rec.station,
                     rec.port_path or "-", rec.chip or "-", rec.serial or "-",
                     rec.operation, effective_result(rec),
                     "-" if rec.exit_code is None else str(rec.exit_code),
                     duration(record_seconds(rec)), first_line(rec.error)])
    return table(rows, LIST_COLUMNS)


def _pairs(items: list[tuple[str, str]], indent: str = "  ") -> list[str]:
    width = max((len(name) for name, _ in items), default=0)
    out = []
    for name, value in items:
        lines = value.split("\n") or [""]
        out.append(f"{indent}{name.ljust(width)}  {lines[0]}".rstrip())
        out.extend(f"{indent}{' ' * width}  {line}".rstrip() for line in lines[1:])
    return out


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def show_record(rec: BoardRecord) -> str:
    """Every field of one record, readable."""
    result = effective_result(rec)
    exit_text = "" if rec.exit_code is None else f" (exit {rec.exit_code})"
    head = [
        ("station", f"{rec.station} (host {rec.host}, pid {rec.pid}, "
                    f"rpiboot {rec.rpiboot_version or '?'})"),
        ("operation", rec.operation),
        ("result", result + exit_text + ("" if result == rec.result
                                         else f" (recorded as {rec.result})")),
        ("serial", rec.serial or "-"), ("chip", rec.chip or "-"),
        ("port", rec.port_path or "-"), ("rom serial", rec.rom_serial or "-"),
        ("usb serial", rec.usb_serial or "-"),
        ("started", rec.started_at), ("ended", (rec.ended_at or "-")
                                      + f" ({duration(record_seconds(rec))})"),
    ]
    head += [(name, _compact(value)) for name, value in (
        ("firmware", rec.firmware), ("image", rec.image), ("key", rec.key_fingerprint),
        ("diagnosis", rec.diagnosis)) if value is not None]
    if rec.error:
        head.append(("error", rec.error))
    lines = [f"record {rec.id} (revision {rec.revision})", *_pairs(head)]
    lines += _section("phases", [(str(p.get("name", "?")), _phase_text(p))
                                 for p in rec.phases])
    lines += _section("metadata", sorted(rec.metadata.items()))
    lines += _section("files served", [(str(f.get("name", "?")), _file_text(f))
                                       for f in rec.files])
    lines += _section("hooks", [(str(h.get("when", "?")), _hook_text(h)) for h in rec.hooks])
    return "\n".join(lines)


def _section(title: str, items: list[tuple[str, str]]) -> list[str]:
    return [f"{title}:", *(_pairs(items) if items else ["  (none)"])]


def _phase_text(phase: dict[str, Any]) -> str:
    seconds = phase_seconds(phase)
    when = f"{short_time(phase.get('started_at'))[11:]} -> " \
           f"{short_time(phase.get('ended_at'))[11:] or 'running'}"
    extra = {k: v for k, v in phase.items() if k not in ("name", "started_at", "ended_at",
                                                         "seconds", "result")}
    text = f"{duration(seconds) if seconds is not None else 'running':<7}  {when}"
    if phase.get("result") not in (None, "passed", "running"):
        text += f"  {phase['result']}"
    return text + (f"  {_compact(extra)}" if extra else "")


def _file_text(entry: dict[str, Any]) -> str:
    parts = [f"{entry.get('size', '?')} bytes"]
    if entry.get("sha256"):
        parts.append(f"sha256 {entry['sha256']}")
    if entry.get("source"):
        parts.append(f"from {entry['source']}")
    return "  ".join(parts)


def _hook_text(entry: dict[str, Any]) -> str:
    status = ("timed out" if entry.get("timed_out") else
              f"exit {entry['exit_code']}" if entry.get("exit_code") is not None else "not run")
    lines = [f"{entry.get('command', '?')}  ({status}, {duration(entry.get('seconds'))})"]
    if entry.get("error"):
        lines.append(f"error: {entry['error']}")
    for stream in ("stdout", "stderr"):
        text = str(entry.get(stream) or "").rstrip("\n")
        if text:
            lines.append(f"{stream}: " + text.replace("\n", "\n  "))
    return "\n".join(lines)


def summary_text(summary: Summary) -> str:
    """The ``records summary`` report: a table, then phases and hours per station."""
    everyone = [*summary.stations, summary.total] if len(summary.stations) > 1 \
        else summary.stations
    header = ("station", "boards", "passed", "failed", "interrupted", "running", "pass rate",
              "boards/h", "median")
    rows = [[s.station, str(s.boards), str(s.passed), str(s.failed), str(s.interrupted),
             str(s.running), "-" if s.pass_rate is None else f"{s.pass_rate:.1%}",
             "-" if s.boards_per_hour is None else f"{s.boards_per_hour:.1f}",
             duration(s.median_seconds)] for s in everyone]
    lines = [table(rows, header) if rows else "no records"]
    for s in everyone:
        if s.phase_median_seconds:
            lines.append(f"{s.station}: median phase (passed boards): " + ", ".join(
                f"{name} {duration(sec)}" for name, sec in s.phase_median_seconds.items()))
        if s.hourly and s.station != ALL_STATIONS:
            shown = s.hourly[-HOURS_SHOWN:]
            lines.append(f"{s.station}: boards started per hour (UTC): "
                         + ("..., " if len(shown) < len(s.hourly) else "") + ", ".join(
                             f"{hour[:10]} {hour[11:16]} {count}" for hour, count in shown))
    return "\n".join(lines)

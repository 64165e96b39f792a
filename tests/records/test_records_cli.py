"""``rpiboot records list|show|export|summary`` and the hook flags.

The command reads a real SQLite store holding records built as a station writes them, handed
in through ``records_cmd.open_store`` so that the filters it asks for can be checked too.
"""

from __future__ import annotations

import copy
import csv
import datetime as _dt
import io
import json
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from records_helpers import T0, at, board

from rpiboot.cli import records_cmd
from rpiboot.cli.hook_flags import add_hook_flags, hooks_from_args
from rpiboot.cli.main import main
from rpiboot.cli.parsing import ArgumentParser
from rpiboot.errors import UsageError
from rpiboot.records.hooks import Hook
from rpiboot.records.model import BoardRecord
from rpiboot.records.sqlite import SqliteStore
from rpiboot.records.store import RecordFilter


class SpyStore:
    """A real SQLite store holding the test's records, which also notes the filters it
    was asked for and how often the command closed it."""

    def __init__(self, path: Path, records: list[BoardRecord]) -> None:
        self.inner = SqliteStore(path)
        for rec in records:
            self.inner.put(rec)
        self.url = str(path)
        self.filters: list[RecordFilter] = []
        self.closed = 0

    def put(self, rec: BoardRecord) -> None:
        self.inner.put(rec)

    def query(self, flt: RecordFilter) -> list[BoardRecord]:
        self.filters.append(flt)
        return self.inner.query(flt)

    def close(self) -> None:
        self.closed += 1


RECORDS = [
    board("s1", start=0, id="aaaa1111"),
    board("s2", start=60, id="aaaa2222", result="failed", station="line-2"),
    board("s3", start=120, id="bbbb3333", operation="boot",
          durations={"rom": 1.0, "fileserver": 2.0}),
]


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[SpyStore]:
    (tmp_path / "db").mkdir()
    fake = SpyStore(tmp_path / "db" / "cli.db", [copy.deepcopy(r) for r in RECORDS])
    opened: list[str | None] = []

    def open_store(url: str | None) -> SpyStore:
        opened.append(url)
        return fake

    monkeypatch.setattr(records_cmd, "open_store", open_store)
    monkeypatch.setenv("RPIBOOT_DB", fake.url)
    yield fake
    fake.inner.close()


def test_list_prints_a_table_newest_last(store: SpyStore,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["records", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "started", "(UTC)", "station", "port", "chip", "serial",
                                "operation", "result", "exit", "duration", "error"]
    assert lines[1].split()[:9] == ["aaaa1111", "2026-12-02", "08:00:00", "line-1", "1-1.3",
                                    "BCM2711", "s1", "flash", "passed"]
    assert lines[2].split()[8:] == ["failed", "1", "44.0s", "verify:", "mismatch", "at",
                                    "0x1000"]
    assert lines[3].split()[0] == "bbbb3333" and len(lines) == 4
    assert store.closed == 1


def test_list_passes_the_filters_to_the_store(store: SpyStore,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["records", "list", "--station", "line-2", "--result", "failed",
                 "--since", "2026-12-02", "--until", "2026-12-03T00:00:00Z",
                 "--operation", "flash", "--serial", "s2", "--limit", "5"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == [
        "aaaa2222"]
    assert store.filters[-1] == RecordFilter(
        station="line-2", serial="s2", result="failed", operation="flash",
        since="2026-12-02T00:00:00.000000Z", until="2026-12-03T00:00:00.000000Z", limit=6)


def test_list_says_when_it_shows_only_the_newest(store: SpyStore,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["records", "list", "--limit", "2", "--json"]) == 0
    out, err = capsys.readouterr()
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["aaaa2222", "bbbb3333"]
    assert "the newest 2" in err


def test_relative_times() -> None:
    now = T0 + _dt.timedelta(hours=10)
    assert records_cmd.parse_when("8h", flag="--since", now=now) == at(2 * 3600)
    assert records_cmd.parse_when("30m", flag="--since", now=now) == at(9.5 * 3600)
    assert records_cmd.parse_when("1d", flag="--since", now=now) == at(-14 * 3600)
    assert records_cmd.parse_when("2026-12-02T09:00:00+01:00", flag="--since") == at(0)


@pytest.mark.parametrize("argv", [["--since", "yesterday-ish"], ["--until", "8 parsecs"],
                                  ["--since", "2d", "--until", "3d"], ["--limit", "-1"],
                                  ["--result", "maybe"]])
def test_bad_filters_are_usage_errors(store: SpyStore, capsys: pytest.CaptureFixture[str],
                                      argv: list[str]) -> None:
    assert main(["records", "list", *argv]) == 2
    assert "error:" in capsys.readouterr().err
    assert store.filters == []


def test_show_finds_a_record_by_its_first_digits(store: SpyStore,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    first = copy.deepcopy(RECORDS[0])
    first.hooks = [{"command": "python3 label.py", "when": "done", "exit_code": 0,
                    "stdout": "printed\n", "stderr": "", "seconds": 0.25,
                    "timed_out": False, "error": None}]
    first.revision += 1
    store.put(first)
    assert main(["records", "show", "aaaa1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("record aaaa1111 (revision 4)\n")
    for expected in ("result      passed (exit 0)", "rom         1.0s     08:00:00 -> 08:00:01",
                     "write       40.0s    08:00:04 -> 08:00:44", "MAC_ADDR         d8:3a:dd",
                     "bootcode4.bin  4 bytes  sha256 88d4", "python3 label.py  (exit 0, 0.2s)",
                     "stdout: printed"):
        assert expected in out, expected
    assert main(["records", "show", "bbbb3333", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["serial"] == "s3"


def test_show_an_unknown_or_ambiguous_id(store: SpyStore,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["records", "show", "cccc"]) == 1
    assert "no record 'cccc'" in capsys.readouterr().err
    assert main(["records", "show", "aaaa"]) == 2
    err = capsys.readouterr().err
    assert "start of 2 record ids (aaaa1111, aaaa2222)" in err and "more digits" in err


def test_export_csv_to_a_file(store: SpyStore, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "records.csv"
    assert main(["records", "export", "--format", "csv", "-o", str(out),
                 "--station", "line-1"]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [row["id"] for row in rows] == ["aaaa1111", "bbbb3333"]
    assert json.loads(rows[1]["phases"])[1]["name"] == "fileserver"
    assert f"{out}: 2 record(s) (csv)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", "records.csv"]  # no temp left


def test_export_jsonl_to_stdout(store: SpyStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["records", "export"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["id"] for line in lines] == ["aaaa1111", "aaaa2222", "bbbb3333"]
    assert lines[1]["error"].startswith("verify: mismatch") and lines[1]["schema"] == 1


def test_summary(store: SpyStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["records", "summary"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["station", "boards", "passed", "failed", "interrupted",
                                "running", "pass", "rate", "boards/h", "median"]
    assert lines[1].split()[:7] == ["line-1", "2", "2", "0", "0", "0", "100.0%"]
    assert lines[2].split()[:7] == ["line-2", "1", "0", "1", "0", "0", "0.0%"]
    assert lines[3].split()[:7] == ["(all)", "3", "2", "1", "0", "0", "66.7%"]
    assert "line-1: median phase (passed boards): rom 1.0s, fileserver 2.5s, write 40.0s" in \
        lines
    assert main(["records", "summary", "--json", "--station", "line-2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["station"] for s in data["stations"]] == ["line-2"]
    assert data["total"]["failed"] == 1


def test_a_missing_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(url: str | None) -> SpyStore:
        raise AssertionError("a read must not create a database")

    monkeypatch.setattr(records_cmd, "open_store", refuse)
    monkeypatch.delenv("RPIBOOT_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
    assert main(["records", "list"]) == 0
    assert "nothing recorded yet" in capsys.readouterr().err
    missing = tmp_path / "typo.db"
    assert main(["records", "summary", "--db", str(missing)]) == 1
    assert f"no records database at {missing}" in capsys.readouterr().err
    assert main(["records", "export", "--db", f"sqlite://{missing}"]) == 1
    monkeypatch.setenv("RPIBOOT_DB", str(missing))
    assert main(["records", "show", "abc"]) == 1
    assert "Check the $RPIBOOT_DB path" in capsys.readouterr().err
    assert not missing.exists()


# ------------------------------------------------------------------ the hook flags
def _hook_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="rpiboot flash")
    add_hook_flags(parser)
    return parser


def test_hook_flags_keep_the_command_line_order() -> None:
    py = shlex.quote(sys.executable)
    args = _hook_parser().parse_args([
        "--on-board-failed", f"{py} fail.py", "--on-board-done", f"{py} -c pass",
        "--on-board-passed", f"{py} label.py --copies 2", "--hook-timeout", "5"])
    assert hooks_from_args(args) == [
        Hook(f"{py} fail.py", when="failed", timeout=5.0),
        Hook(f"{py} -c pass", when="done", timeout=5.0),
        Hook(f"{py} label.py --copies 2", when="passed", timeout=5.0)]
    assert hooks_from_args(_hook_parser().parse_args([])) == []


def test_hook_flags_are_checked_before_any_board() -> None:
    args = _hook_parser().parse_args(["--on-board-done", "rpiboot-no-such-label-printer"])
    with pytest.raises(UsageError, match="rpiboot-no-such-label-printer"):
        hooks_from_args(args)
    args = _hook_parser().parse_args(["--on-board-done", "anything; at all", "--hook-shell"])
    assert hooks_from_args(args) == [Hook("anything; at all", shell=True)]
    for bad in ("0", "-3", "soon", "inf"):
        with pytest.raises(UsageError, match="--hook-timeout"):
            _hook_parser().parse_args(["--hook-timeout", bad])


def test_a_board_served_by_the_cli_is_in_the_records(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "station.db")
    assert main(["simulate", "recovery", "--speed", "50", "-q", "--db", db,
                 "--station", "t1"]) == 0
    capsys.readouterr()
    assert main(["records", "list", "--json", "--db", db]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    rec = json.loads(line)
    assert (rec["station"], rec["serial"], rec["operation"], rec["result"]) == (
        "t1", "dc626c31", "recovery", "passed")
    assert rec["metadata"]["USER_SERIAL_NUM"] == "dc626c31"


def test_a_db_that_cannot_be_opened_stops_before_any_board(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["simulate", "recovery", "--speed", "50", "--db", str(blocker / "r.db")])
    err = capsys.readouterr().err
    assert code in (1, 5) and str(blocker) in err and "Traceback" not in err
    assert "sent" not in err and "done in" not in err  # no board was served


def test_records_are_read_from_a_postgresql_server(pg_url: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from rpiboot.records.store import open_store as open_url

    writer = open_url(pg_url, outbox=tmp_path / "outbox.db")
    for rec in RECORDS:
        writer.put(copy.deepcopy(rec))
    writer.close()
    assert main(["records", "list", "--json", "--db", pg_url, "--station", "line-2"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["id"] == "aaaa2222"

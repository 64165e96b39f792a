"""What every store does, run against SQLite and a real PostgreSQL server: round trips,
the revision guard, the filters, the effective result."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from records_kit import dead_pid, full_record, make_record

from rpiboot.errors import InputError, UsageError
from rpiboot.records.base import Store
from rpiboot.records.model import BoardRecord
from rpiboot.records.postgres import PostgresStore
from rpiboot.records.sqlite import SqliteStore
from rpiboot.records.store import RecordFilter


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened: Store
    if request.param == "sqlite":
        opened = SqliteStore(tmp_path / "records.db")
    else:
        opened = PostgresStore(request.getfixturevalue("pg_url"))
    try:
        yield opened
    finally:
        opened.close()


def ids(records: list[BoardRecord]) -> list[str]:
    return [rec.id for rec in records]


def test_a_full_record_round_trips(store: Store) -> None:
    rec = full_record()
    store.put(rec)
    assert store.query(RecordFilter(record_id=rec.id)) == [rec]
    assert store.query(RecordFilter()) == [rec]


def test_an_older_revision_never_replaces_a_newer_one(store: Store) -> None:
    rec = make_record(revision=3, result="passed")
    store.put(rec)
    older = BoardRecord.from_json({**rec.to_json(), "revision": 2, "result": "failed"})
    store.put(older)
    assert store.query(RecordFilter()) == [rec]
    same = BoardRecord.from_json({**rec.to_json(), "error": "a repeat of revision 3"})
    store.put(same)  # an equal revision is a repeat: kept as first written
    assert store.query(RecordFilter())[0].error is None
    newer = BoardRecord.from_json({**rec.to_json(), "revision": 4, "result": "failed"})
    store.put(newer)
    assert store.query(RecordFilter()) == [newer]


def _day(day: int, hour: int = 10) -> str:
    return f"2026-01-{day:02d}T{hour:02d}:00:00.000000Z"


@pytest.fixture
def five(store: Store) -> list[BoardRecord]:
    """Five records on five days, stored in a shuffled order."""
    records = [
        make_record(station="a", operation="boot", result="passed", serial="s1",
                    started_at=_day(1)),
        make_record(station="b", operation="flash", result="failed", usb_serial="s1",
                    started_at=_day(2)),
        make_record(station="a", operation="flash", result="passed", rom_serial="s1",
                    started_at=_day(3)),
        make_record(station="b", operation="recovery", result="passed", serial="s2",
                    started_at=_day(4)),
        make_record(station="a", operation="secure-boot", result="failed",
                    started_at=_day(5)),
    ]
    for index in (3, 0, 4, 2, 1):
        store.put(records[index])
    return records


def test_queries_return_the_oldest_first(store: Store, five: list[BoardRecord]) -> None:
    assert ids(store.query(RecordFilter())) == ids(five)


@pytest.mark.parametrize(("flt", "expected"), [
    (RecordFilter(station="a"), [0, 2, 4]),
    (RecordFilter(operation="flash"), [1, 2]),
    (RecordFilter(serial="s1"), [0, 1, 2]),  # serial, USB serial or ROM serial
    (RecordFilter(result="passed"), [0, 2, 3]),
    (RecordFilter(result="failed", station="b"), [1]),
    (RecordFilter(since=_day(2)), [1, 2, 3, 4]),  # since: inclusive
    (RecordFilter(until=_day(2)), [0]),  # until: exclusive
    (RecordFilter(since="2026-01-02", until="2026-01-04"), [1, 2]),  # dates: midnight UTC
    (RecordFilter(since="2026-01-03T11:00:00+01:00"), [2, 3, 4]),  # = 10:00Z
    (RecordFilter(since="2026-01-03T10:00:00.000001Z"), [3, 4]),
    (RecordFilter(limit=2), [3, 4]),  # the newest two, oldest first
    (RecordFilter(limit=0), []),
    (RecordFilter(limit=50), [0, 1, 2, 3, 4]),
    (RecordFilter(station="a", limit=2), [2, 4]),
    (RecordFilter(result="passed", limit=1), [3]),
    (RecordFilter(station="nobody"), []),
])
def test_filters(store: Store, five: list[BoardRecord], flt: RecordFilter,
                 expected: list[int]) -> None:
    assert ids(store.query(flt)) == [five[index].id for index in expected]


def test_a_record_by_a_unique_prefix_of_its_id(store: Store) -> None:
    first = make_record(id="abc123")
    second = make_record(id="abd456")
    third = make_record(id="abc1")  # also a prefix of the first's id
    for rec in (first, second, third):
        store.put(rec)
    assert store.query(RecordFilter(record_id="abd")) == [second]
    assert store.query(RecordFilter(record_id="abc12")) == [first]
    assert store.query(RecordFilter(record_id="abc1")) == [third]  # exact beats prefix
    assert store.query(RecordFilter(record_id="zz")) == []
    assert store.query(RecordFilter(record_id="ab")) == [first, second, third]  # every one
    assert store.query(RecordFilter(record_id="a%")) == []  # no wildcards
    assert store.query(RecordFilter(record_id="ab", station="nobody")) == []


def test_a_running_record_whose_writer_died_reads_interrupted(store: Store) -> None:
    dead = make_record(result="running", pid=dead_pid(), started_at=_day(1))
    silent = make_record(result="running", pid=os.getpid(), started_at=_day(2))  # > a day
    ended = make_record(result="interrupted", started_at=_day(3))
    alive = make_record(result="running", pid=os.getpid())  # started now
    for rec in (dead, silent, ended, alive):
        store.put(rec)
    assert ids(store.query(RecordFilter(result="interrupted"))) == [dead.id, silent.id,
                                                                      ended.id]
    assert ids(store.query(RecordFilter(result="running"))) == [alive.id]
    assert ids(store.query(RecordFilter(result="interrupted", limit=1))) == [ended.id]
    assert store.query(RecordFilter(record_id=dead.id))[0].result == "running"  # as stored


def test_text_a_database_may_refuse_is_kept_exactly(store: Store) -> None:
    rec = make_record(serial="nul\x00in serial", station="st\x00", error="\x00",
                      metadata={"k": "\x00\u2603\U0001f600"})
    store.put(rec)
    assert store.query(RecordFilter()) == [rec]


@pytest.mark.parametrize(("flt", "error", "words"), [
    (RecordFilter(result="passes"), UsageError, "unknown result"),
    (RecordFilter(operation="flashing"), UsageError, "unknown operation"),
    (RecordFilter(limit=-1), UsageError, "limit"),
    (RecordFilter(since="yesterday"), InputError, "since 'yesterday'"),
    (RecordFilter(until="2026-13-01"), InputError, "until"),
])
def test_a_bad_filter_is_the_users_error(store: Store, flt: RecordFilter,
                                         error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        store.query(flt)

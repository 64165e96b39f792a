"""The outbox in front of a real PostgreSQL server: a stopped server never stops the writes,
the queued records are sent when it is back (once each), and what close() could not send is
sent by the next run."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import psycopg
import pytest
from pgserver import PgServer
from records_kit import make_record, wait_until

from rpiboot.records.model import BoardRecord
from rpiboot.records.postgres import PostgresStore
from rpiboot.records.queue import Outbox, QueueingStore
from rpiboot.records.store import RecordFilter, StoreUnavailable, open_store

FAST = (0.05, 0.5)  # the flusher's backoff in these tests


def rows_on_server(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, revision FROM records ORDER BY id").fetchall()
    return [(str(row[0]), int(row[1])) for row in rows]


def revised(rec: BoardRecord, revision: int, result: str = "running") -> BoardRecord:
    return BoardRecord.from_json({**rec.to_json(), "revision": revision, "result": result})


def test_a_stopped_server_queues_then_flushes_each_record_once(
        pg_server: PgServer, pg_url: str, tmp_path: Path) -> None:
    store = QueueingStore(PostgresStore(pg_url), tmp_path / "outbox.db", backoff=FAST)
    before = [make_record(revision=1) for _ in range(5)]
    for rec in before:
        store.put(rec)
    assert store.pending() == 0 and len(rows_on_server(pg_url)) == 5
    pg_server.stop()
    try:
        during = [make_record(revision=1) for _ in range(20)]
        times = []
        for rec in [*during, *(revised(r, 2) for r in during), revised(before[0], 2)]:
            began = time.monotonic()
            store.put(rec)  # never raises for an unreachable server
            times.append(time.monotonic() - began)
        assert max(times) < 3.5  # at worst the connect timeout, once
        assert sorted(times)[-2] < 0.5  # known down: straight to the outbox
        assert store.pending() == 21  # the latest revision of each record
    finally:
        pg_server.start()
    wait_until(lambda: store.pending() == 0, 20, "the outbox to be flushed")
    expected = sorted([(r.id, 2) for r in (*during, before[0])] + [(r.id, 1) for r in before[1:]])
    assert rows_on_server(pg_url) == expected
    later = make_record()
    store.put(later)  # reachable again: written directly
    assert store.pending() == 0 and len(store.query(RecordFilter())) == 26
    store.close()


def test_close_leaves_the_queue_for_the_next_run(pg_server: PgServer, pg_url: str,
                                                 tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    outbox = tmp_path / "outbox.db"
    store = QueueingStore(PostgresStore(pg_url), outbox, backoff=FAST)
    queued = [make_record(result="passed") for _ in range(10)]
    pg_server.stop()
    try:
        for rec in queued:
            store.put(rec)
        with caplog.at_level(logging.WARNING, logger="rpiboot.records.queue"):
            began = time.monotonic()
            store.close(timeout=0.5)
        assert time.monotonic() - began < 5
        assert f"10 records queued in {outbox}; they are sent at the next run" in caplog.text
        with pytest.raises(StoreUnavailable):
            store.query(RecordFilter())  # closed
        left = Outbox(outbox)
        assert left.pending() == 10
        left.close()
    finally:
        pg_server.start()
    again = QueueingStore(PostgresStore(pg_url), outbox, backoff=FAST)
    wait_until(lambda: again.pending() == 0, 20, "the next run to send the queue")
    assert rows_on_server(pg_url) == sorted((r.id, 0) for r in queued)
    again.close()


def test_flush_sends_now_and_reports_an_unreachable_server(
        pg_server: PgServer, pg_url: str, tmp_path: Path) -> None:
    store = QueueingStore(PostgresStore(pg_url), tmp_path / "outbox.db",
                          backoff=(30.0, 30.0), idle_check=30.0)  # the flusher stays idle
    pg_server.stop()
    try:
        store.put(make_record())
        assert store.flush(timeout=0.3) is False
        assert store.pending() == 1
    finally:
        pg_server.start()
    assert store.flush(timeout=10) is True
    assert store.pending() == 0 and len(rows_on_server(pg_url)) == 1
    store.close()


def test_the_outbox_forgets_only_the_revision_it_sent(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    rec = make_record(revision=1)
    outbox.put(rec)
    [sent] = outbox.oldest(10)
    outbox.put(revised(rec, 2))  # arrives while revision 1 is on its way
    assert outbox.remove(sent.id, sent.revision) is False
    assert [(r.id, r.revision) for r in outbox.oldest(10)] == [(rec.id, 2)]
    assert outbox.holds(rec.id) and outbox.remove(rec.id, 2) and not outbox.holds(rec.id)
    assert outbox.pending() == 0
    outbox.close()


def test_open_store_queues_for_a_server_that_is_down_at_start(
        pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.create_database()
    pg_server.stop()
    try:
        store = open_store(url, outbox=tmp_path / "outbox.db")  # starts without the server
        assert isinstance(store, QueueingStore)
        rec = make_record()
        store.put(rec)
        assert store.pending() == 1
    finally:
        pg_server.start()
    assert store.flush(timeout=10)
    assert store.query(RecordFilter()) == [rec]
    store.close()


def test_a_silent_server_costs_one_connect_timeout_then_nothing(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts TCP connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        url = f"postgresql://rpiboot@127.0.0.1:{silent.getsockname()[1]}/records"
        store = QueueingStore(PostgresStore(url, connect_timeout=2), tmp_path / "outbox.db",
                              backoff=(30.0, 30.0))
        start = threading.Barrier(8)
        durations: list[float] = []

        def put() -> None:
            start.wait()
            began = time.monotonic()
            store.put(make_record())
            durations.append(time.monotonic() - began)

        threads = [threading.Thread(target=put) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(durations) == 8 and max(durations) < 2 + 1.5  # not 8 x 2 s
        began = time.monotonic()
        store.put(make_record())  # known down: no connection attempt at all
        assert time.monotonic() - began < 0.5
        assert store.pending() == 9
        store.close(timeout=0.1)

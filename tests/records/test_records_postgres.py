"""The PostgreSQL store on a real server: migrations (also several stations at once), a lost
connection, an unreachable server, passwords kept out of messages."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest
from pgserver import PgServer, free_port
from records_kit import make_record, wait_until

from rpiboot.errors import InputError, UsageError
from rpiboot.records.model import BoardRecord
from rpiboot.records.postgres import MIGRATIONS, SCHEMA_VERSION, PostgresStore
from rpiboot.records.store import RecordFilter, StoreUnavailable


def _version(url: str) -> list[tuple[int]]:
    with psycopg.connect(url) as conn:
        return [(int(row[0]),) for row in conn.execute("SELECT version FROM schema_version")]


def test_stations_starting_together_migrate_once(pg_url: str) -> None:
    stores = [PostgresStore(pg_url) for _ in range(6)]
    start = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def first_write(store: PostgresStore, index: int) -> None:
        start.wait()
        try:
            store.put(make_record(id=f"station-{index}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_write, args=(s, i)) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _version(pg_url) == [(SCHEMA_VERSION,)]
    assert len(stores[0].query(RecordFilter())) == 6
    for store in stores:
        store.close()


def test_a_version_1_database_is_upgraded(pg_url: str) -> None:
    old = make_record(rom_serial="rom-9")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for sql in MIGRATIONS[0]:
            conn.execute(sql)
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (1)")
        conn.execute("INSERT INTO records VALUES (%s, 0, %s, '', NULL, 'boot', 'running', %s,"
                     " NULL, %s)", (old.id, old.station, old.started_at,
                                    json.dumps(old.to_json())))
    store = PostgresStore(pg_url)
    assert [r.id for r in store.query(RecordFilter(serial="rom-9"))] == [old.id]
    assert _version(pg_url) == [(2,)]
    store.close()


def test_a_database_from_a_newer_rpiboot_is_refused(pg_url: str) -> None:
    PostgresStore(pg_url).ping()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = 42")
    store = PostgresStore(pg_url)
    with pytest.raises(InputError, match="made by a newer rpiboot"):
        store.put(make_record())
    store.close()
    assert _version(pg_url) == [(42,)]


def test_a_lost_connection_is_retried_on_a_fresh_one(pg_server: PgServer, pg_url: str
                                                     ) -> None:
    store = PostgresStore(pg_url)
    first = make_record()
    store.put(first)  # the pool now holds a connection...
    pg_server.stop()  # ...that the restart kills
    pg_server.start()
    second = make_record()
    store.put(second)
    assert {r.id for r in store.query(RecordFilter())} == {first.id, second.id}
    store.close()


def _waiting_writers(url: str) -> list[int]:
    """The pids of rpiboot's connections that wait for a lock."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = "
                            "'rpiboot' AND wait_event_type = 'Lock'").fetchall()
    return [int(row[0]) for row in rows]


def test_a_write_whose_connection_dies_is_retried(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    rec = make_record(revision=1)
    store.put(rec)
    newer = BoardRecord.from_json({**rec.to_json(), "revision": 2, "result": "passed"})
    errors: list[BaseException] = []
    with psycopg.connect(pg_url) as blocker:  # holds the row: the write waits for it
        blocker.execute("SELECT * FROM records WHERE id = %s FOR UPDATE", (rec.id,))
        writer = threading.Thread(target=lambda: _put(store, newer, errors))
        writer.start()
        wait_until(lambda: len(_waiting_writers(pg_url)) == 1, 10, "the write to wait")
        [first] = _waiting_writers(pg_url)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        wait_until(lambda: _waiting_writers(pg_url) not in ([], [first]), 10,
                   "the write to be retried on a new connection")
        blocker.rollback()
    writer.join(timeout=30)
    assert errors == []
    assert store.query(RecordFilter()) == [newer]
    store.close()


def _put(store: PostgresStore, rec: BoardRecord, errors: list[BaseException]) -> None:
    try:
        store.put(rec)
    except BaseException as exc:
        errors.append(exc)


def test_a_server_that_refuses_fails_fast_without_the_password() -> None:
    url = f"postgresql://rpiboot:s3cret-pw@127.0.0.1:{free_port()}/records"
    store = PostgresStore(url)
    assert "s3cret" not in store.url and "***" in store.url
    began = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        store.put(make_record())
    assert time.monotonic() - began < 2.5  # refused: no waiting for the connect timeout
    message = f"{caught.value} {caught.value.hint}"
    assert "s3cret" not in message
    assert "cannot reach the records server postgresql://rpiboot:***@127.0.0.1" in message
    with pytest.raises(StoreUnavailable):
        store.query(RecordFilter())
    store.close()


def test_a_wrong_database_name_says_so(pg_server: PgServer) -> None:
    store = PostgresStore(pg_server.url_for("no_such_db"))
    with pytest.raises(StoreUnavailable, match='database "no_such_db" does not exist'):
        store.ping()
    store.close()


def test_a_closed_store_refuses_work(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    store.put(make_record())
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.put(make_record())


def test_a_malformed_url_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="records URL") as caught:
        PostgresStore("postgresql://user:pw@host:notaport/db?sslmode")
    assert "pw@" not in str(caught.value)


def test_without_psycopg_the_hint_says_what_to_install(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setitem(__import__("sys").modules, "psycopg", None)  # as if not installed
    with pytest.raises(UsageError) as caught:
        PostgresStore("postgresql://127.0.0.1/records")
    assert caught.value.hint == "pip install 'rpiboot[postgres]'"


def test_records_are_stored_as_json_text_a_reader_can_use(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    rec = make_record(serial="10000000cafe", result="passed")
    store.put(rec)
    store.close()
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT data::json->>'serial', revision, started_at FROM records"
                           ).fetchone()
    assert row == ("10000000cafe", 0, rec.started_at)
    assert BoardRecord.from_json(rec.to_json()) == rec

"""The SQLite store: WAL with several processes, migrations, and the user's errors on the
file (an unwritable folder, a file that is not a database, a read-only database)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from records_kit import make_record

from rpiboot.errors import InputError, PermissionDenied, RpibootError
from rpiboot.records.model import BoardRecord
from rpiboot.records.sqlite import MIGRATIONS, SCHEMA_VERSION, SqliteStore
from rpiboot.records.store import RecordFilter

SRC = Path(__file__).resolve().parents[2] / "src"

WRITER = """
import sys
from rpiboot.records.model import BoardRecord
from rpiboot.records.sqlite import SqliteStore

path, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()  # "go": both writers start together
store = SqliteStore(path)
for n in range(count):
    rec = BoardRecord(id=f"{tag}-{n}", station=tag)
    for revision, result in ((1, "running"), (2, "running"), (3, "passed")):
        rec.revision, rec.result = revision, result
        store.put(rec)
store.close()
"""


def test_two_processes_write_one_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "new" / "records.db"  # created by whichever writer comes first
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag, "100"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                env=env) for tag in ("p1", "p2")]
    for writer in writers:
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.close()
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    store = SqliteStore(path)
    records = store.query(RecordFilter())
    store.close()
    assert sorted(rec.id for rec in records) == sorted(
        f"{tag}-{n}" for tag in ("p1", "p2") for n in range(100))
    assert {(rec.revision, rec.result) for rec in records} == {(3, "passed")}
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM records").fetchone()[0] == 200


def test_threads_share_one_store(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "records.db")
    written: list[BoardRecord] = [make_record() for _ in range(80)]

    def write(part: list[BoardRecord]) -> None:
        for rec in part:
            store.put(rec)

    threads = [threading.Thread(target=write, args=(written[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.id for r in store.query(RecordFilter())) == sorted(r.id for r in written)
    store.close()


# ------------------------------------------------------------------ migrations
def _version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT max(version) FROM schema_version").fetchone()[0])


def test_a_version_1_file_is_upgraded_and_keeps_its_records(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = make_record(usb_serial="usb-77", started_at="2025-06-01T08:00:00.000000Z")
    with sqlite3.connect(path) as conn:
        for sql in MIGRATIONS[0]:
            conn.execute(sql)
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (1)")
        conn.execute("INSERT INTO records VALUES (?, 0, ?, '', NULL, 'boot', 'running', ?, "
                     "NULL, ?)", (old.id, old.station, old.started_at,
                                  json.dumps(old.to_json())))
    conn.close()
    store = SqliteStore(path)
    assert _version(path) == SCHEMA_VERSION == 2
    assert [r.id for r in store.query(RecordFilter(serial="usb-77"))] == [old.id]
    store.close()


def test_an_empty_file_or_a_foreign_database_gets_the_tables(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
        conn.execute("INSERT INTO notes VALUES ('kept')")
    conn.close()
    for path in (empty, foreign):
        store = SqliteStore(path)
        store.put(make_record())
        store.close()
        assert _version(path) == SCHEMA_VERSION
    with sqlite3.connect(foreign) as conn:
        assert conn.execute("SELECT text FROM notes").fetchall() == [("kept",)]
    conn.close()


def test_a_file_from_a_newer_rpiboot_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    conn.close()
    with pytest.raises(InputError, match=re.escape(f"{path} was made by a newer rpiboot")):
        SqliteStore(path)
    assert _version(path) == 99


# ------------------------------------------------------------------ the user's errors
def test_an_unwritable_folder_is_named(readonly_dir: Path) -> None:
    for path, folder in ((readonly_dir / "records.db", readonly_dir),
                         (readonly_dir / "sub" / "records.db", readonly_dir / "sub")):
        with pytest.raises((InputError, PermissionDenied)) as caught:
            SqliteStore(path)
        assert str(folder) in str(caught.value)
        assert not path.exists()


def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are not the records you are looking for\n" * 100)
    with pytest.raises(InputError, match=re.escape(f"{path} is not an SQLite database")):
        SqliteStore(path)
    folder = tmp_path / "folder.db"
    folder.mkdir()
    with pytest.raises(InputError, match="is a folder"):
        SqliteStore(folder)


@pytest.fixture
def readonly_db(tmp_path: Path) -> Iterator[Path]:
    """A records database nobody may write: on a read-only bind mount when we are root
    (permissions do not stop root), else mode 0444 in a 0555 folder."""
    source = tmp_path / "source"
    store = SqliteStore(source / "records.db")
    store.put(make_record())
    store.close()
    if os.geteuid() != 0:
        (source / "records.db").chmod(0o444)
        source.chmod(0o555)
        yield source / "records.db"
        source.chmod(0o755)
        return
    view = tmp_path / "view"
    view.mkdir()
    subprocess.run(["mount", "--bind", str(source), str(view)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
        yield view / "records.db"
    finally:
        subprocess.run(["umount", str(view)], check=True)


def test_a_read_only_database_is_named(readonly_db: Path) -> None:
    with pytest.raises(RpibootError) as caught:
        store = SqliteStore(readonly_db)
        try:
            store.put(make_record())
        finally:
            store.close()
    assert isinstance(caught.value, (InputError, PermissionDenied))
    assert str(readonly_db) in str(caught.value)
    assert caught.value.hint

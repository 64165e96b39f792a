"""Records in an SQLite file: :class:`SqliteStore` (the default store, and the outbox a
PostgreSQL station queues into).

WAL mode with a busy timeout: several processes on one host may read and write the same
file (each write waits up to :data:`BUSY_TIMEOUT_S` for the others).  One connection per
store, shared by its threads under a lock.  The schema is versioned (table
``schema_version``); :data:`MIGRATIONS` run forward at open, in one transaction, and a file
made by a newer rpiboot is refused.  Every SQLite or OS failure on the file is reported as
the project's error naming it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from rpiboot.errors import InputError, RpibootError
from rpiboot.fspaths import check_output_dir, make_dirs
from rpiboot.records.base import RecordFilter, finish, migrations, row_of, select_sql, upsert_sql
from rpiboot.records.model import BoardRecord

BUSY_TIMEOUT_S = 10.0
WHAT = "records database"

# Forward migrations: MIGRATIONS[n] takes a file from schema version n to n + 1.
MIGRATIONS = migrations("INTEGER", lambda field: f"json_extract(data, '$.{field}')")
SCHEMA_VERSION = len(MIGRATIONS)


def db_error(path: Path, exc: sqlite3.Error, *, what: str = WHAT) -> RpibootError:
    """The project's error for an SQLite failure on the file ``path``."""
    text = str(exc)
    low = text.lower()
    if "not a database" in low or "malformed" in low:
        return InputError(f"the {what} {path} is not an SQLite database (or it is damaged)",
                          hint="Name a records database, or the path of a new one "
                          "(--db / $RPIBOOT_DB); move this file away if it is damaged.")
    if "readonly" in low or "read-only" in low:
        return InputError(f"cannot write the {what} {path}: it is read-only",
                          hint="Make it (and its folder) writable, or choose another file.")
    if "locked" in low or "busy" in low:
        return InputError(f"the {what} {path} stayed locked by another process for "
                          f"{BUSY_TIMEOUT_S:g} s", hint="Check what else uses it (fuser); a "
                          "network file system cannot hold an SQLite database in WAL mode.")
    if "full" in low:
        return InputError(f"cannot write the {what} {path}: no space left on the device",
                          hint="Free some space or choose another folder.")
    if "unable to open" in low and path.exists() and not (
            os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        return InputError(f"cannot open the {what} {path}: it or its folder is read-only "
                          f"(SQLite writes {path.name}-wal and {path.name}-shm beside it)",
                          hint="Make both writable, or copy the file somewhere writable.")
    if "unable to open" in low:
        return InputError(f"cannot open the {what} {path}", hint="It must be a file you can "
                          "read and write, in a folder you can write to.")
    return InputError(f"{what} {path}: {text}", hint="Check the file and the disk.")


def connect(path: Path, *, what: str = WHAT) -> sqlite3.Connection:
    """An autocommit connection to ``path`` in WAL mode (folders and file created)."""
    if path.is_dir():
        raise InputError(f"the {what} {path} is a folder, not a file",
                         hint="Name a file inside it instead.")
    folder = path.parent
    if not path.exists():
        make_dirs(folder, what=f"folder of the {what}")
        check_output_dir(folder, what=f"folder of the {what}", create=False)
    try:
        conn = sqlite3.connect(os.fspath(path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error as exc:
        raise db_error(path, exc, what=what) from None
    try:
        conn.execute("PRAGMA synchronous = NORMAL")
        _use_wal(conn)
    except sqlite3.Error as exc:
        conn.close()
        raise db_error(path, exc, what=what) from None
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (once for good; it stays as it is in a read-only file).
    SQLite answers "locked" at once, without its busy wait, while another process switches
    or opens a new file: retried for up to :data:`BUSY_TIMEOUT_S`."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def schema_version(conn: sqlite3.Connection) -> int:
    """The file's schema version (0: a new or foreign file without rpiboot's tables)."""
    known = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                         "AND name = 'schema_version'").fetchone()
    if known is None:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, path: Path, steps: Sequence[tuple[str, ...]], *,
            what: str = WHAT) -> None:
    """Run the missing ``steps`` in one write transaction (nothing is written, or locked,
    when the file is current); InputError for a file made by a newer rpiboot."""
    if _check_version(schema_version(conn), path, steps, what) == len(steps):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _check_version(schema_version(conn), path, steps, what)  # under the lock
        if version == len(steps):  # another process migrated it meanwhile
            conn.execute("COMMIT")
            return
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        for step in steps[version:]:
            for sql in step:
                conn.execute(sql)
        conn.execute("DELETE FROM schema_version")
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (len(steps),))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _check_version(version: int, path: Path, steps: Sequence[tuple[str, ...]], what: str
                   ) -> int:
    if version > len(steps):
        raise InputError(f"the {what} {path} was made by a newer rpiboot (schema {version}; "
                         f"this one knows up to {len(steps)})",
                         hint="Upgrade rpiboot, or use another database (--db).")
    return version


class SqliteStore:
    """Records in the SQLite file ``path`` (created with its folders when missing)."""

    what = WHAT

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self.url = str(self.path)
        self._lock = threading.Lock()
        self._conn = connect(self.path, what=self.what)
        try:
            migrate(self._conn, self.path, MIGRATIONS, what=self.what)
        except sqlite3.Error as exc:
            self._conn.close()
            raise db_error(self.path, exc, what=self.what) from None
        except BaseException:
            self._conn.close()
            raise

    def put(self, rec: BoardRecord) -> None:
        """Insert or update ``rec`` by id; an older revision never replaces a newer one."""
        self._execute(upsert_sql("?"), row_of(rec))

    def query(self, flt: RecordFilter) -> list[BoardRecord]:
        """The matching records, oldest first."""
        sql, params = select_sql(flt, "?")
        rows = self._fetch(sql, params)
        return finish([(str(r[0]), str(r[1])) for r in rows], flt, str(self.path))

    def ping(self) -> None:
        """Nothing to reach: a local file is always there once open."""

    def close(self) -> None:
        """Close the connection (the file stays consistent: every write is committed)."""
        with self._lock:
            self._conn.close()

    def _execute(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one statement in its own transaction; the number of rows it changed."""
        with self._lock:
            try:
                return self._conn.execute(sql, params).rowcount
            except sqlite3.Error as exc:
                raise db_error(self.path, exc, what=self.what) from None

    def _fetch(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise db_error(self.path, exc, what=self.what) from None

    def __repr__(self) -> str:
        return f"SqliteStore({self.url!r})"

"""Records on a shared PostgreSQL server: :class:`PostgresStore` (psycopg 3 with a small
connection pool).

Nothing connects before the first use, so a station starts even when the server is down.
The first connection runs the schema migrations (:data:`MIGRATIONS`, under an advisory lock:
stations starting together do not race).  An operation that loses its connection is retried
once on a fresh pool; a server that cannot be reached within :data:`CONNECT_TIMEOUT_S` is
reported as :class:`~rpiboot.records.base.StoreUnavailable`, quickly when it refuses
connections.  :class:`~rpiboot.records.queue.QueueingStore` turns that into a local queue.

psycopg is an optional dependency (``pip install 'rpiboot[postgres]'``), imported on first
use.  Passwords never appear in :attr:`PostgresStore.url` or in messages.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from rpiboot.errors import InputError, UsageError
from rpiboot.records.base import (
    RecordFilter,
    StoreUnavailable,
    finish,
    mask_url,
    migrations,
    row_of,
    select_sql,
    upsert_sql,
)
from rpiboot.records.model import BoardRecord

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg_pool import ConnectionPool

T = TypeVar("T")
CONNECT_TIMEOUT_S = 3
POOL_MAX = 4
LOCK_KEY = 0x7270_6962_6F6F_74  # pg_advisory_xact_lock key of the migrations ("rpiboot")

MIGRATIONS = migrations("BIGINT", lambda field: f"data::json->>'{field}'")
SCHEMA_VERSION = len(MIGRATIONS)


def _require_psycopg() -> None:
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        raise UsageError("PostgreSQL records need the psycopg and psycopg-pool packages",
                         hint="pip install 'rpiboot[postgres]'") from None


class PostgresStore:
    """Records in the database at ``url`` (``postgresql://user[:password]@host[:port]/db``)."""

    def __init__(self, url: str, *, connect_timeout: int = CONNECT_TIMEOUT_S,
                 pool_max: int = POOL_MAX) -> None:
        _require_psycopg()
        import psycopg

        self.url = mask_url(url)
        self.connect_timeout = connect_timeout
        self._conninfo = url
        self._secret = ""
        try:
            params = psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise UsageError(f"records URL {self.url!r}: {self._scrub(exc)}",
                             hint="Write postgresql://user[:password]@host[:port]/database."
                             ) from None
        self._secret = str(params.get("password") or "")
        self._kwargs: dict[str, Any] = {"autocommit": True, "application_name": "rpiboot"}
        if "connect_timeout" not in params:
            self._kwargs["connect_timeout"] = connect_timeout
        if "tcp_user_timeout" not in params:
            self._kwargs["tcp_user_timeout"] = 10_000  # ms: a vanished server fails a write
        self._pool_max = pool_max
        self._pool: ConnectionPool[Connection[Any]] | None = None
        self._lock = threading.Lock()
        self._migrated = False
        self._closed = False
        self._failure: tuple[float, StoreUnavailable] | None = None  # the last, and when

    # ------------------------------------------------------------------ the Store API
    def put(self, rec: BoardRecord) -> None:
        """Insert or update ``rec`` by id; an older revision never replaces a newer one."""
        sql, row = upsert_sql("%s"), row_of(rec)
        self._run(lambda conn: conn.execute(sql, row))

    def query(self, flt: RecordFilter) -> list[BoardRecord]:
        """The matching records, oldest first."""
        sql, params = select_sql(flt, "%s")
        rows: list[tuple[Any, ...]] = self._run(
            lambda conn: conn.execute(sql, params).fetchall())
        return finish([(str(r[0]), str(r[1])) for r in rows], flt, self.url)

    def ping(self) -> None:
        """Reach the server (StoreUnavailable when it cannot be reached)."""
        self._run(lambda conn: conn.execute("SELECT 1"))

    def close(self) -> None:
        """Close the pool (further use raises StoreUnavailable)."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close(timeout=1.0)

    def __repr__(self) -> str:
        return f"PostgresStore({self.url!r})"

    # ------------------------------------------------------------------ connections
    def _run(self, work: Callable[[Connection[Any]], T]) -> T:
        """``work`` on a pooled connection; once more on a fresh pool when the connection
        is lost; StoreUnavailable when the server cannot be reached."""
        import psycopg

        for attempt in (1, 2):
            pool = self._get_pool()
            try:
                with pool.connection(timeout=self.connect_timeout) as conn:
                    return work(conn)
            except psycopg.OperationalError as exc:
                self._drop_pool(pool)
                if attempt == 2:
                    raise self._unavailable(exc) from None
            except psycopg.Error as exc:
                raise InputError(f"records server {self.url}: {self._scrub(exc)}",
                                 hint="Check that the database is rpiboot's own.") from None
        raise AssertionError("unreachable")

    def _get_pool(self) -> ConnectionPool[Connection[Any]]:
        """The open pool, made when there is none.  Threads that waited here while an
        attempt failed fail at once too (a silent server costs one connect timeout, not
        one per waiting thread)."""
        arrived = time.monotonic()
        with self._lock:
            if self._closed:
                raise StoreUnavailable(f"the records store {self.url} is closed")
            if self._pool is not None:
                return self._pool
            if self._failure is not None and self._failure[0] >= arrived:
                raise StoreUnavailable(self._failure[1].message, hint=self._failure[1].hint)
            try:
                self._pool = self._new_pool()
            except StoreUnavailable as exc:
                self._failure = (time.monotonic(), exc)
                raise
            return self._pool

    def _new_pool(self) -> ConnectionPool[Connection[Any]]:
        """A direct connection first (it fails fast when refused, and runs the
        migrations), then an open pool."""
        import psycopg
        from psycopg_pool import ConnectionPool

        try:
            with psycopg.connect(self._conninfo, **self._kwargs) as conn:
                if not self._migrated:
                    self._migrate(conn)
                    self._migrated = True
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc) from None
        pool: ConnectionPool[Connection[Any]] = ConnectionPool(
            self._conninfo, kwargs=self._kwargs, min_size=1, max_size=self._pool_max,
            open=False, timeout=self.connect_timeout, name="rpiboot-records")
        try:
            pool.open(wait=True, timeout=self.connect_timeout)
        except psycopg.OperationalError as exc:
            pool.close(timeout=1.0)
            raise self._unavailable(exc) from None
        return pool

    def _drop_pool(self, pool: ConnectionPool[Connection[Any]]) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.close(timeout=1.0)

    def _migrate(self, conn: Connection[Any]) -> None:
        """Bring the schema to :data:`SCHEMA_VERSION` (one transaction, advisory lock)."""
        import psycopg

        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                conn.execute("CREATE TABLE IF NOT EXISTS schema_version "
                             "(version INTEGER NOT NULL)")
                row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
                version = int(row[0] or 0) if row else 0
                if version > SCHEMA_VERSION:
                    raise InputError(f"the records database {self.url} was made by a newer "
                                     f"rpiboot (schema {version}; this one knows up to "
                                     f"{SCHEMA_VERSION})", hint="Upgrade rpiboot on this "
                                     "station, or use another database.")
                _apply(conn, MIGRATIONS[version:])
                if version < SCHEMA_VERSION:
                    conn.execute("DELETE FROM schema_version")
                    conn.execute("INSERT INTO schema_version (version) VALUES (%s)",
                                 (SCHEMA_VERSION,))
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            raise InputError(f"cannot set up the records tables in {self.url}: "
                             f"{self._scrub(exc)}", hint="The user needs the right to "
                             "create tables there (or a database of its own).") from None

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        return StoreUnavailable(f"cannot reach the records server {self.url}: "
                                f"{self._scrub(exc)}", hint="Check that the server runs and "
                                "accepts connections from this host, and the URL.")

    def _scrub(self, exc: BaseException) -> str:
        """The first line of ``exc``'s message, without the password."""
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return text.replace(self._secret, "***") if self._secret else text


def _apply(conn: Connection[Any], steps: Sequence[tuple[str, ...]]) -> None:
    for step in steps:
        for sql in step:
            conn.execute(sql)

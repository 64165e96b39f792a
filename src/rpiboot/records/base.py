"""What every records store shares: the :class:`Store` interface, :class:`RecordFilter`,
:class:`StoreUnavailable`, the folders records live in, and the SQL both databases run
(the row a record is stored as, the filters as a WHERE clause, the upsert with its revision
guard).

:mod:`rpiboot.records.store` re-exports the public names; the stores import them from here
(so that ``store.open_store`` may import the stores without an import cycle).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from rpiboot.errors import InputError, RpibootError, UsageError
from rpiboot.firmware import user_data_dir
from rpiboot.record import record
from rpiboot.records.model import (
    OPERATIONS,
    RESULTS,
    BoardRecord,
    effective_result,
    format_time,
    parse_time,
)

INT64 = (-(1 << 63), (1 << 63) - 1)


class StoreUnavailable(RpibootError):
    """The records server cannot be reached (down, unreachable, refusing connections)."""


@record(kw_only=True)
class RecordFilter:
    """Which records a query returns (every condition must hold; None: any)."""

    station: str | None = None
    serial: str | None = None  # the board's serial (also matched against the USB serials)
    result: str | None = None  # effective result: a dead writer's "running" is "interrupted"
    operation: str | None = None
    since: str | None = None  # started_at >= since (any ISO-8601 time; naive means UTC)
    until: str | None = None  # started_at < until
    record_id: str | None = None  # the record with this id, else those whose id starts so
    limit: int | None = None  # the newest N (after the other conditions)


class Store(Protocol):
    """A place records are written to and read from (safe to share between threads)."""

    url: str  # where it is, for messages (no password)

    def put(self, rec: BoardRecord) -> None:
        """Insert or update ``rec`` by id; an older revision never replaces a newer one."""

    def query(self, flt: RecordFilter) -> list[BoardRecord]:
        """The matching records, oldest first."""

    def close(self) -> None:
        """Flush what is queued (within a bounded time) and release connections."""


# ------------------------------------------------------------------ folders and URLs
def default_db_path() -> Path:
    """The SQLite file used when no --db / $RPIBOOT_DB is given."""
    return user_data_dir() / "records.db"


def resolve_url(url: str | None) -> str:
    """``url``, else ``$RPIBOOT_DB``, else the default SQLite file's path."""
    return url or os.environ.get("RPIBOOT_DB") or str(default_db_path())


_PASSWORD_IN_NETLOC = re.compile(r"(://[^/@:]*:)[^/@]*@")
_PASSWORD_PARAM = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    return _PASSWORD_PARAM.sub(r"\1***", _PASSWORD_IN_NETLOC.sub(r"\1***@", url))


def default_outbox_path(url: str) -> Path:
    """The local outbox of the server at ``url``: ``outbox-<host>-<port>-<database>.db`` in
    the user data folder (one per server, so a record is never sent to another server)."""
    parts = urlsplit(url)
    host_port = parts.netloc.rsplit("@", 1)[-1] or "localhost"
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{host_port}-{parts.path.strip('/') or 'default'}")
    return user_data_dir() / f"outbox-{name.strip('-')}.db"


# ------------------------------------------------------------------ the stored row
COLUMNS = ("id", "revision", "station", "port_path", "serial", "usb_serial", "rom_serial",
           "operation", "result", "started_at", "ended_at", "data")


def _text(value: str | None) -> str | None:
    """A column value any database accepts: no NUL, no lone surrogate (the JSON in ``data``
    keeps the exact value)."""
    if value is None:
        return None
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def time_key(text: str, *, what: str = "time") -> str:
    """``text`` as the sortable time the ``started_at`` column holds (record time format)."""
    return format_time(parse_time(text, what=what))


def row_of(rec: BoardRecord) -> tuple[object, ...]:
    """The values of :data:`COLUMNS` for ``rec``."""
    if not INT64[0] <= rec.revision <= INT64[1]:
        raise InputError(f"record {rec.id}: revision {rec.revision} is out of range")
    try:
        started = time_key(rec.started_at)
    except InputError:
        started = rec.started_at  # not a time: kept as written, sorts as text
    data = json.dumps(rec.to_json(), separators=(",", ":"))
    return (_text(rec.id), rec.revision, _text(rec.station), _text(rec.port_path),
            _text(rec.serial), _text(rec.usb_serial), _text(rec.rom_serial),
            _text(rec.operation), _text(rec.result), _text(started), _text(rec.ended_at), data)


def upsert_sql(mark: str) -> str:
    """INSERT one row; an existing id is replaced only by a higher revision (``mark``: the
    driver's placeholder, ``?`` or ``%s``)."""
    updates = ", ".join(f"{name} = excluded.{name}" for name in COLUMNS[1:])
    return (f"INSERT INTO records ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join([mark] * len(COLUMNS))}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates} "
            "WHERE excluded.revision > records.revision")


# ------------------------------------------------------------------ queries
def check_filter(flt: RecordFilter) -> None:
    """UsageError for a filter no record could match by construction (a typo)."""
    if flt.result is not None and flt.result not in RESULTS:
        raise UsageError(f"unknown result {flt.result!r}", hint=f"Choose from "
                         f"{', '.join(RESULTS)}.")
    if flt.operation is not None and flt.operation not in OPERATIONS:
        raise UsageError(f"unknown operation {flt.operation!r}", hint=f"Choose from "
                         f"{', '.join(OPERATIONS)}.")
    if flt.limit is not None and flt.limit < 0:
        raise UsageError(f"limit {flt.limit}: must be 0 or more")


def migrations(integer: str, json_text: Callable[[str], str]) -> list[tuple[str, ...]]:
    """The records schema's forward migrations in one SQL dialect (``MIGRATIONS[n]`` takes
    a database from schema version n to n + 1): ``integer`` is its 64-bit integer type,
    ``json_text(field)`` its expression for a text field of the JSON in ``data``."""
    return [
        (  # 1: the records, with the columns the filters use
            f"CREATE TABLE records (id TEXT PRIMARY KEY, revision {integer} NOT NULL, "
            "station TEXT NOT NULL, port_path TEXT NOT NULL, serial TEXT, "
            "operation TEXT NOT NULL, result TEXT NOT NULL, started_at TEXT NOT NULL, "
            "ended_at TEXT, data TEXT NOT NULL)",
            "CREATE INDEX records_started ON records (started_at)",
            "CREATE INDEX records_station ON records (station, started_at)",
            "CREATE INDEX records_serial ON records (serial)",
        ),
        (  # 2: the USB and ROM serials as columns too (a serial filter matches any of three)
            "ALTER TABLE records ADD COLUMN usb_serial TEXT",
            "ALTER TABLE records ADD COLUMN rom_serial TEXT",
            f"UPDATE records SET usb_serial = {json_text('usb_serial')}, "
            f"rom_serial = {json_text('rom_serial')}",
            "CREATE INDEX records_usb_serial ON records (usb_serial)",
            "CREATE INDEX records_rom_serial ON records (rom_serial)",
        ),
    ]


def select_sql(flt: RecordFilter, mark: str) -> tuple[str, list[object]]:
    """``SELECT id, data, started_at`` of the rows that may match ``flt`` (oldest first; the
    newest N when the limit can be applied in SQL); :func:`finish` does the rest."""
    check_filter(flt)
    conditions: list[str] = []
    params: list[object] = []

    def where(condition: str, *values: object) -> None:
        conditions.append(condition.replace("?", mark))
        params.extend(values)

    if flt.station is not None:
        where("station = ?", flt.station)
    if flt.operation is not None:
        where("operation = ?", flt.operation)
    if flt.serial is not None:
        where("(serial = ? OR usb_serial = ? OR rom_serial = ?)", *[_text(flt.serial)] * 3)
    if flt.since is not None:
        where("started_at >= ?", time_key(flt.since, what="since"))
    if flt.until is not None:
        where("started_at < ?", time_key(flt.until, what="until"))
    if flt.record_id is not None:
        where("substr(id, 1, CAST(? AS INTEGER)) = ?", len(flt.record_id), flt.record_id)
    if flt.result in ("passed", "failed"):
        where("result = ?", flt.result)
    elif flt.result is not None:  # running / interrupted: decided by effective_result
        where("result IN ('running', 'interrupted')")
    sql = "SELECT id, data, started_at FROM records"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    if flt.limit is not None and _limit_in_sql(flt):
        sql = f"SELECT * FROM ({sql} ORDER BY started_at DESC, id DESC LIMIT {mark}) AS newest"
        params.append(flt.limit)
    return sql + " ORDER BY started_at, id", params


def _limit_in_sql(flt: RecordFilter) -> bool:
    return flt.record_id is None and flt.result in (None, "passed", "failed")


def finish(rows: Sequence[tuple[str, str]], flt: RecordFilter, where: str
           ) -> list[BoardRecord]:
    """The records of ``rows`` (id, JSON) that match ``flt``, oldest first: the effective
    result, a unique id prefix, the limit.  ``where`` names the store in errors."""
    found: list[BoardRecord] = []
    for rec_id, data in rows:
        try:
            value = json.loads(data)
        except ValueError:
            raise InputError(f"{where}: record {rec_id} is damaged (not JSON)",
                             hint="Delete that row, or restore the database from a backup."
                             ) from None
        found.append(BoardRecord.from_json(value, where=f"{where}: record {rec_id}"))
    if flt.result in ("running", "interrupted"):
        found = [rec for rec in found if effective_result(rec) == flt.result]
    if flt.record_id is not None:
        exact = [rec for rec in found if rec.id == flt.record_id]
        found = exact or found  # several: the caller says which ids the prefix starts
    if flt.limit is not None:
        found = found[max(0, len(found) - flt.limit):] if flt.limit else []
    return found

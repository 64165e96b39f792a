"""Where records are kept: the :class:`Store` interface, :class:`RecordFilter`, and
:func:`open_store` (a URL -> a store).

URLs: a plain path or ``sqlite:///abs/path.db`` -> SQLite (WAL: several processes on one
host); ``postgresql://user@host:port/db`` -> a shared PostgreSQL server, with the records
queued in a local SQLite outbox while the server cannot be reached.  No URL: ``$RPIBOOT_DB``,
else ``records.db`` in the user data folder (:func:`default_db_path`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Protocol

from rpiboot.record import record
from rpiboot.records.model import BoardRecord


@record(kw_only=True)
class RecordFilter:
    """Which records a query returns (every condition must hold; None: any)."""

    station: str | None = None
    serial: str | None = None  # the board's serial (also matched against the USB serials)
    result: str | None = None  # effective result: a dead writer's "running" is "interrupted"
    operation: str | None = None
    since: str | None = None  # started_at >= since (record time format)
    until: str | None = None  # started_at < until
    record_id: str | None = None  # one record (its id, or a unique prefix of it)
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


def user_data_dir() -> Path:
    """rpiboot's per-user data folder (XDG on Linux, the platform's folder elsewhere)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "rpiboot"


def default_db_path() -> Path:
    """The SQLite file used when no --db / $RPIBOOT_DB is given."""
    return user_data_dir() / "records.db"


def resolve_url(url: str | None) -> str:
    """``url``, else ``$RPIBOOT_DB``, else the default SQLite file's path."""
    return url or os.environ.get("RPIBOOT_DB") or str(default_db_path())


def open_store(url: str | None = None) -> Store:
    """The store at ``url`` (see the module docstring); InputError / UsageError naming it
    when it cannot be opened (an unwritable folder, a bad URL, a newer schema)."""
    raise NotImplementedError  # the stores' owner fills this in

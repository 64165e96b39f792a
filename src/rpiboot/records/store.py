"""Where records are kept: the :class:`Store` interface, :class:`RecordFilter`, and
:func:`open_store` (a URL -> a store).

URLs: a plain path or ``sqlite:///abs/path.db`` -> SQLite (WAL: several processes on one
host); ``postgresql://user@host:port/db`` -> a shared PostgreSQL server, with the records
queued in a local SQLite outbox while the server cannot be reached.  No URL: ``$RPIBOOT_DB``,
else ``records.db`` in the user data folder (:func:`default_db_path`).

The stores: :class:`~rpiboot.records.sqlite.SqliteStore`,
:class:`~rpiboot.records.postgres.PostgresStore` and
:class:`~rpiboot.records.queue.QueueingStore` (the outbox in front of the server).
"""

from __future__ import annotations

import os
from pathlib import Path

from rpiboot.errors import UsageError
from rpiboot.records.base import (
    RecordFilter,
    Store,
    StoreUnavailable,
    default_db_path,
    default_outbox_path,
    mask_url,
    resolve_url,
)

__all__ = ["RecordFilter", "Store", "StoreUnavailable", "default_db_path",
           "default_outbox_path", "mask_url", "open_store", "resolve_url"]

URL_FORMS = ("a file path (records.db)", "sqlite:///absolute/path.db",
             "postgresql://user[:password]@host[:port]/database")


def open_store(url: str | None = None, *, outbox: str | os.PathLike[str] | None = None,
               queued: bool = True) -> Store:
    """The store at ``url`` (see the module docstring; None: :func:`resolve_url`).

    A PostgreSQL store queues its records in the SQLite file ``outbox`` (default
    :func:`default_outbox_path`) while the server cannot be reached, and does not connect
    before its first use: an unreachable server never stops a station from starting.
    ``queued=False`` (a reader, such as ``rpiboot records``): the server alone, no outbox.
    InputError / UsageError naming the file or URL when it cannot be opened (an unwritable
    folder, a file that is not a records database, a newer schema, a bad URL).
    """
    url = resolve_url(url)
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("postgresql", "postgres"):
        from rpiboot.records.postgres import PostgresStore
        from rpiboot.records.queue import QueueingStore

        primary = PostgresStore(url)
        if not queued:
            return primary
        return QueueingStore(primary, outbox if outbox is not None
                             else default_outbox_path(url))
    from rpiboot.records.sqlite import SqliteStore

    if scheme == "sqlite":
        path = url[len("sqlite://"):]
        if len(path) > 3 and path[2] == ":" and path[1].isalpha():
            path = path[1:]  # sqlite:///C:/records.db on Windows
        elif not path.startswith("/") or path.startswith("//"):
            raise UsageError(f"records URL {url!r}: sqlite URLs name an absolute path",
                             hint="Write sqlite:///absolute/path.db (three slashes), or "
                             "just the path.")
        return SqliteStore(Path(path))
    if scheme:
        raise UsageError(f"records URL {mask_url(url)!r}: unknown scheme {scheme!r}",
                         hint="Use " + ", or ".join(URL_FORMS) + ".")
    return SqliteStore(Path(url))

"""Fixtures of the records tests: a real, throwaway PostgreSQL server (pgserver.py).

* ``pg_server`` (session): the running server; ``.url`` (admin database), ``.port``,
  ``.stop()`` / ``.start()`` (an outage: same port, same data), ``.create_database()``.
* ``pg_url`` (function): a URL where the stores see a fresh, empty database: a new schema
  (the URL's search path) in the database ``rpiboot_tests``, which takes milliseconds where
  a new database takes ~0.3 s.  The server is started first if an earlier test left it
  stopped.  ``pg_server.create_database()`` gives a whole new database when one is needed.

Without the server binaries the PostgreSQL tests are skipped, except under CI (``$CI``
set), where they fail: CI installs ``postgresql`` and these tests must run there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from pgserver import PgServer, PgUnavailable


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the PostgreSQL tests must run in CI, but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _missing("psycopg is not installed (pip install -e '.[test]')")
    try:
        server = PgServer.create()
    except PgUnavailable as exc:
        _missing(str(exc))
        raise  # not reached: _missing raised
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    pg_server.start()  # a no-op unless an earlier test left it stopped
    return pg_server.create_schema()

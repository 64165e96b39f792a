"""open_store: which URL opens which store, and the user's errors on a URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from pgserver import free_port
from records_kit import make_record

from rpiboot.errors import UsageError
from rpiboot.records.base import default_outbox_path, mask_url
from rpiboot.records.queue import QueueingStore
from rpiboot.records.sqlite import SqliteStore
from rpiboot.records.store import RecordFilter, open_store


@pytest.mark.parametrize("form", ["{path}", "sqlite://{path}", "SQLITE://{path}"])
def test_a_path_or_a_sqlite_url_opens_that_file(tmp_path: Path, form: str) -> None:
    path = tmp_path / "a" / "records.db"
    store = open_store(form.format(path=path))
    assert isinstance(store, SqliteStore) and store.path == path
    rec = make_record()
    store.put(rec)
    store.close()
    again = SqliteStore(path)
    assert again.query(RecordFilter()) == [rec]
    again.close()


def test_no_url_means_rpiboot_db_then_the_user_data_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RPIBOOT_DB", str(tmp_path / "env.db"))
    store = open_store()
    assert store.url == str(tmp_path / "env.db")
    store.close()
    monkeypatch.delenv("RPIBOOT_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    store = open_store(None)
    assert store.url == str(tmp_path / "data" / "rpiboot" / "records.db")
    store.close()


@pytest.mark.parametrize(("url", "words"), [
    ("mysql://root:hunter2@db/records", "unknown scheme 'mysql'"),
    ("sqlite://relative/records.db", "sqlite URLs name an absolute path"),
    ("sqlite:////etc//x.db", "sqlite URLs name an absolute path"),
])
def test_a_url_rpiboot_cannot_use_is_a_usage_error(url: str, words: str) -> None:
    with pytest.raises(UsageError, match=words) as caught:
        open_store(url)
    assert "hunter2" not in str(caught.value)
    assert caught.value.hint


def test_unknown_schemes_are_told_the_accepted_forms() -> None:
    with pytest.raises(UsageError) as caught:
        open_store("redis://localhost/0")
    assert caught.value.hint is not None
    assert "sqlite:///" in caught.value.hint and "postgresql://" in caught.value.hint


def test_a_postgresql_url_opens_a_queue_without_connecting(tmp_path: Path) -> None:
    url = f"postgres://station:pw@127.0.0.1:{free_port()}/records"  # nobody listens there
    store = open_store(url, outbox=tmp_path / "outbox.db")
    assert isinstance(store, QueueingStore)
    assert store.url == f"postgres://station:***@127.0.0.1:{url.rsplit(':', 1)[1]}"
    assert store.outbox.path == tmp_path / "outbox.db"
    store.close(timeout=0.5)


@pytest.mark.parametrize(("url", "masked"), [
    ("postgresql://u:p%40ss@h:5432/db", "postgresql://u:***@h:5432/db"),
    ("postgresql://u@h/db?password=x&sslmode=require",
     "postgresql://u@h/db?password=***&sslmode=require"),
    ("postgresql://h/db", "postgresql://h/db"),
])
def test_passwords_are_masked(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_each_server_has_its_own_outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    first = default_outbox_path("postgresql://u:pw@db.example:5432/records")
    assert first == tmp_path / "rpiboot" / "outbox-db.example-5432-records.db"
    assert default_outbox_path("postgresql://db.example:5433/records") != first
    assert default_outbox_path("postgresql://other@db.example:5432/records") == first

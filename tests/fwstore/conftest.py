"""Fixtures of the firmware-store tests: the loopback upstream and an isolated store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fwsite import FakeUpstream, Site, serve

from rpiboot.firmware import FIRMWARE_ENV, user_data_dir
from rpiboot.fwstore.upstream import API_ENV, MIRROR_ENV, REF_ENV


@pytest.fixture(scope="session")
def site(firmware_dir: Path) -> Site:
    """The URL -> file map of ../shared/firmware (built once: it hashes every file)."""
    return Site.from_shared(firmware_dir)


@pytest.fixture
def upstream(site: Site) -> Iterator[FakeUpstream]:
    """The raw and API servers on a free 127.0.0.1 port, fresh faults and request log."""
    yield from serve(site)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user data dir, under this test's folder (XDG_DATA_HOME), nothing else set."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    for name in (FIRMWARE_ENV, API_ENV, MIRROR_ENV, REF_ENV):
        monkeypatch.delenv(name, raising=False)
    return user_data_dir()

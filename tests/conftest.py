"""Fixtures shared by every test package: where ../shared (firmware, vectors, bench) is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_path() -> Path:
    """``$RPIBOOT_SHARED`` or the ``shared`` folder beside the checkout."""
    return Path(os.environ.get("RPIBOOT_SHARED", REPO.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = shared_path()
    if not path.is_dir():
        pytest.fail(f"{path} not found: put the shared/ folder beside the checkout "
                    "or set RPIBOOT_SHARED")
    return path


@pytest.fixture(scope="session")
def firmware_dir(shared_dir: Path) -> Path:
    return shared_dir / "firmware"


@pytest.fixture(scope="session")
def vectors_dir(shared_dir: Path) -> Path:
    return shared_dir / "vectors"

"""Fixtures shared by every test package: where ../shared (firmware, vectors, bench) is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-hardware", action="store_true",
                     help="also run tests that need a real board in USB boot mode "
                     "(marker 'hardware'; see tests/hardware)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Hardware tests are opt-in: without --run-hardware they are deselected, not skipped."""
    if config.getoption("--run-hardware"):
        return
    hardware = [item for item in items if item.get_closest_marker("hardware")]
    if hardware:
        config.hook.pytest_deselected(items=hardware)
        items[:] = [item for item in items if not item.get_closest_marker("hardware")]


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

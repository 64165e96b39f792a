"""The end-to-end tests' fixture: the umockdev bench, or a skip (a failure under CI)."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchkit import find_bench


@pytest.fixture(scope="module")
def bench(shared_dir: Path) -> dict[str, str]:
    """Paths the scenarios need; skips (or fails under CI) when the bench cannot run."""
    return find_bench(shared_dir)

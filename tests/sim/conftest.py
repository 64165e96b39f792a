"""Fixtures for the simulator's own tests: a fast virtual bus and the tiny test host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from simhost import FAST

from rpiboot.sim import VirtualBus


@pytest.fixture
def bus() -> Iterator[VirtualBus]:
    with VirtualBus(time_scale=FAST) as virtual_bus:
        yield virtual_bus

"""Fixtures for the engine tests that boot simulated boards in-process (rpiboot.sim)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from core_simkit import FAST_OPTIONS, TIME_SCALE, Run

from rpiboot.boot import BootOptions, serve
from rpiboot.sim import Scenario


@pytest.fixture
def boot(tmp_path: Path) -> Iterator[Callable[..., Run]]:
    """``boot(spec, **BootOptions fields)``: load the scenario, plug its boards, serve()."""
    buses: list[Scenario] = []

    def run(spec: dict[str, Any], *, boot_dir: Path | str | None = "scenario",
            stop_after: int | None = None, **options: Any) -> Run:
        scenario = Scenario.load(spec, tmp_path / f"run{len(buses)}", time_scale=TIME_SCALE)
        buses.append(scenario)
        chosen = scenario.bootdir if boot_dir == "scenario" else boot_dir
        opts = BootOptions(boot_dir=chosen, **{**FAST_OPTIONS, **options})
        outcome = Run(scenario, stop_after=stop_after)
        scenario.bus.start()
        try:
            outcome.result = serve(opts, backend=scenario.bus.backend, on_event=outcome.record,
                                   stop=outcome.stop)
            outcome.error = outcome.result.error  # a failure of the run itself
        except Exception as exc:  # tests assert on it
            outcome.error = exc
        return outcome

    yield run
    for scenario in buses:
        scenario.bus.close()

"""Helpers for the engine tests that boot simulated boards in-process (rpiboot.sim)."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rpiboot.boot import BootOptions, ServeResult, serve
from rpiboot.events import Event
from rpiboot.sim import PRESETS, Scenario

TIME_SCALE = 0.02  # board delays 50x shorter than on hardware
FAST_OPTIONS: dict[str, Any] = {"status_wait": 0.01, "wait_timeout": 10.0,
                                "stage_timeout": 5.0, "poll_interval": 0.005}


@dataclass
class Run:
    """One engine run against a simulated scenario."""

    scenario: Scenario
    result: ServeResult | None = None
    error: BaseException | None = None
    events: list[Event] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    stop_after: int | None = None  # set ``stop`` after this many finished/error events

    def record(self, event: Event) -> None:
        with self.lock:
            self.events.append(event)
            self.times.append(time.monotonic())
            ended = sum(e.kind in ("finished", "error") for e in self.events)
        if self.stop_after is not None and ended >= self.stop_after:
            self.stop.set()

    def when(self, kind: str, port: str, **match: Any) -> float:
        """Time of the first ``kind`` event of the board at ``port``."""
        with self.lock:
            for t, e in zip(self.times, self.events, strict=True):
                if e.kind == kind and e.board and e.board.port_path == port and all(
                        getattr(e, k) == v for k, v in match.items()):
                    return t
        raise AssertionError(f"no {kind} event for {port}")

    def kinds(self, kind: str) -> list[Any]:
        with self.lock:
            return [e for e in self.events if e.kind == kind]

    @property
    def transcript(self) -> Any:
        return self.scenario.bus.transcript

    def problems(self) -> list[str]:
        return self.scenario.bus.problems()


def scenario_for(preset: str, **changes: Any) -> dict[str, Any]:
    """A deep copy of a simulator preset (bench scenario format)."""
    spec = copy.deepcopy(PRESETS[preset])
    spec.update(changes)
    return spec


@pytest.fixture
def boot(tmp_path: Path) -> Callable[..., Run]:
    """``boot(spec, **BootOptions fields)``: load the scenario, plug its boards, serve()."""
    buses: list[Scenario] = []

    def run(spec: dict[str, Any], *, boot_dir: Path | None | str = "scenario",
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
        except Exception as exc:  # tests assert on it
            outcome.error = exc
        return outcome

    yield run
    for scenario in buses:
        scenario.bus.close()

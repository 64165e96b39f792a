"""Engine-test helpers: run serve() against a simulated scenario (rpiboot.sim)."""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rpiboot.boot import ServeResult
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

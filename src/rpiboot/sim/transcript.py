"""The device-side transcript: every event the simulated boards saw, thread-safe.

Tests never sleep: they call :meth:`Transcript.wait_for` with a predicate over the events.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

Event = dict[str, Any]

# Events that make up the protocol-level view (wire and descriptor reads are left out).
SEMANTIC_EVENTS = frozenset({
    "attach", "detach", "claim_interface", "boot_message", "bootcode", "status_read",
    "message", "reply_size", "reply_file", "reply_file_partial", "done_ack", "unplug",
    "protocol_error", "unexpected_access", "delay", "board_failed",
})


class Transcript:
    """An append-only list of event dicts with ``t`` (seconds since creation) and ``ev``."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()
        self._events: list[Event] = []
        self._cond = threading.Condition()

    def add(self, ev: str, **fields: Any) -> Event:
        event = {"t": round(time.monotonic() - self._t0, 4), "ev": ev, **fields}
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()
        return event

    def snapshot(self) -> list[Event]:
        with self._cond:
            return list(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        with self._cond:
            return len(self._events)

    def events(self, ev: str | None = None, **match: Any) -> list[Event]:
        """The events of kind ``ev`` (any if None) whose fields equal ``match``."""
        return [
            e for e in self.snapshot()
            if (ev is None or e["ev"] == ev) and all(e.get(k) == v for k, v in match.items())
        ]

    def protocol_errors(self) -> list[Event]:
        return self.events("protocol_error")

    def wait_for(
        self, predicate: Callable[[list[Event]], Any], timeout: float = 10.0
    ) -> Any:
        """Block until ``predicate(events)`` is truthy; return its value.

        Raises TimeoutError (with the last events, for the test log) after ``timeout`` s.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(list(self._events))
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    tail = "\n".join(json.dumps(e) for e in self._events[-15:])
                    raise TimeoutError(f"transcript condition not met in {timeout} s; "
                                       f"last events:\n{tail}")
                self._cond.wait(remaining)

    def wait_event(self, ev: str, timeout: float = 10.0, **match: Any) -> Event:
        """Wait for the first event of kind ``ev`` with fields ``match``; return it."""
        def first(events: list[Event]) -> Event | None:
            for e in events:
                if e["ev"] == ev and all(e.get(k) == v for k, v in match.items()):
                    return e
            return None
        found: Event = self.wait_for(first, timeout)
        return found

    def semantic(self, board_id: str | None = None) -> list[Event]:
        """Protocol-level events (optionally of one board), without timings."""
        return [
            {k: v for k, v in e.items() if k != "t"}
            for e in self.snapshot()
            if e["ev"] in SEMANTIC_EVENTS and (board_id is None or e.get("dev") == board_id)
        ]

    def dump(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            for event in self.snapshot():
                handle.write(json.dumps(event, sort_keys=True) + "\n")

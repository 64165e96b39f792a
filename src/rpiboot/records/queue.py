"""A store that never makes a station wait for an unreachable server: :class:`QueueingStore`.

Records go to the primary store (PostgreSQL) while it is believed reachable.  When a write
finds it unreachable, that record and every later one go to the :class:`Outbox`, a local
SQLite file (WAL; several processes on one host may share it) with the records database's
own schema, so ``rpiboot records list --db <outbox>`` shows what is waiting.  A daemon thread
probes the primary with a backoff (:data:`BACKOFF_S`) and sends the queued records, oldest
first, deleting exactly what it sent (id *and* revision: a newer revision queued meanwhile
stays).  Sending twice is harmless: a store keeps the highest revision of each id, so the
queue never duplicates a record.  Records left queued by an earlier run are sent at open.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Protocol

from rpiboot.errors import RpibootError
from rpiboot.records.base import RecordFilter, Store, StoreUnavailable, default_outbox_path
from rpiboot.records.model import BoardRecord
from rpiboot.records.sqlite import SqliteStore

log = logging.getLogger(__name__)

BACKOFF_S = (0.5, 5.0)  # first and longest wait between probes of an unreachable primary
IDLE_CHECK_S = 5.0  # how often a reachable primary's outbox is looked at (other processes)
BATCH = 100


class Reachable(Store, Protocol):
    """A store that can be asked whether it is reachable."""

    def ping(self) -> None:
        """Return when the store is reachable; raise StoreUnavailable otherwise."""


class Outbox(SqliteStore):
    """The local queue: a records database whose rows wait to be sent."""

    what = "records outbox"

    def holds(self, rec_id: str) -> bool:
        """Whether a revision of record ``rec_id`` is waiting."""
        return bool(self._fetch("SELECT 1 FROM records WHERE id = ?", (rec_id,)))

    def pending(self) -> int:
        """How many records are waiting."""
        rows = self._fetch("SELECT count(*) FROM records")
        return int(str(rows[0][0]))

    def oldest(self, count: int) -> list[BoardRecord]:
        """Up to ``count`` waiting records, the first queued first."""
        rows = self._fetch("SELECT id, data FROM records ORDER BY rowid LIMIT ?", (count,))
        return [BoardRecord.from_json(json.loads(str(data)), where=f"{self.path}: {rec_id}")
                for rec_id, data in rows]

    def remove(self, rec_id: str, revision: int) -> bool:
        """Forget the record ``rec_id`` if ``revision`` is still the one waiting."""
        return self._execute("DELETE FROM records WHERE id = ? AND revision = ?",
                             (rec_id, revision)) > 0


class QueueingStore:
    """``primary`` with the local :class:`Outbox` at ``outbox`` in front of it."""

    def __init__(self, primary: Reachable, outbox: str | os.PathLike[str] | None = None, *,
                 backoff: tuple[float, float] = BACKOFF_S,
                 idle_check: float = IDLE_CHECK_S) -> None:
        self.primary = primary
        self.url = primary.url
        self.outbox = Outbox(outbox if outbox is not None else default_outbox_path(self.url))
        self._backoff = backoff
        self._idle_check = idle_check
        self._up = True  # believed reachable until a write finds otherwise
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._flush_lock = threading.Lock()
        self._closed = False
        self._wake.set()  # send what an earlier run left queued
        self._thread = threading.Thread(target=self._flusher, name="rpiboot-records-outbox",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ the Store API
    def put(self, rec: BoardRecord) -> None:
        """Write ``rec`` to the primary, or queue it when the primary is unreachable (then
        this returns within the primary's connect timeout, and at once after that)."""
        if self._up and not self.outbox.holds(rec.id):
            try:
                self.primary.put(rec)
                return
            except StoreUnavailable as exc:
                self._went_down(exc)
        self.outbox.put(rec)
        self._wake.set()

    def query(self, flt: RecordFilter) -> list[BoardRecord]:
        """The matching records on the primary (StoreUnavailable when unreachable)."""
        return self.primary.query(flt)

    def pending(self) -> int:
        """How many records wait in the outbox (of every process sharing it)."""
        return self.outbox.pending()

    def flush(self, timeout: float = 10.0) -> bool:
        """Send the queued records now; True once the outbox is empty, False when
        ``timeout`` (plus at most one connect timeout) passed first."""
        deadline = time.monotonic() + timeout
        while not self._send_queued(deadline):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(0.1, remaining))  # the primary refused: try again shortly
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued within about ``timeout`` seconds, leave the rest in the
        outbox for the next run (logged), and release the stores."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        self._closing.set()
        self._wake.set()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        try:
            if self.outbox.pending() and not self.flush(max(0.0, deadline - time.monotonic())):
                log.warning("%d records queued in %s; they are sent at the next run",
                            self.outbox.pending(), self.outbox.path)
        finally:
            self.primary.close()
            self.outbox.close()

    def __repr__(self) -> str:
        return f"QueueingStore({self.url!r}, outbox={str(self.outbox.path)!r})"

    # ------------------------------------------------------------------ sending
    def _flusher(self) -> None:
        """The daemon thread: send queued records, probing an unreachable primary with a
        growing delay."""
        delay = self._backoff[0]
        while not self._closing.is_set():
            if self._up:
                self._wake.wait(self._idle_check)
            else:
                self._closing.wait(delay)
            self._wake.clear()
            if self._closing.is_set():
                return
            try:
                sent = self._send_queued(None)
            except Exception as exc:  # the thread must live on: report, retry later
                if self._closing.is_set():
                    return
                self._report(exc)
                sent = False
            delay = self._backoff[0] if sent else min(delay * 2, self._backoff[1])

    def _send_queued(self, deadline: float | None) -> bool:
        """Send the outbox to the primary, oldest first; True when it is empty after.
        Stops (False) at ``deadline`` (after at least one record) or when unreachable."""
        wait = -1.0 if deadline is None else max(0.0, deadline - time.monotonic())
        if not self._flush_lock.acquire(timeout=wait):
            return False
        try:
            sent = 0
            if self.outbox.pending() == 0 and not self._up:
                self.primary.ping()
            while batch := self.outbox.oldest(BATCH):
                for rec in batch:
                    self.primary.put(rec)
                    self.outbox.remove(rec.id, rec.revision)
                    sent += 1
                    if deadline is not None and time.monotonic() >= deadline \
                            and self.outbox.pending():
                        return False
            self._came_back(sent)
            return True
        except StoreUnavailable as exc:
            self._went_down(exc)
            return False
        finally:
            self._flush_lock.release()

    def _report(self, exc: Exception) -> None:
        if isinstance(exc, RpibootError):  # e.g. a newer schema on the server: the user's
            log.error("cannot send the records queued in %s: %s (%s)", self.outbox.path,
                      exc, exc.hint)
        else:
            log.error("cannot send the records queued in %s", self.outbox.path,
                      exc_info=exc)

    def _went_down(self, exc: RpibootError) -> None:
        if self._up:
            log.warning("%s; records are queued in %s and sent when it is back", exc,
                        self.outbox.path)
        self._up = False

    def _came_back(self, sent: int) -> None:
        if sent or not self._up:
            log.info("records server %s reachable: %d queued records sent", self.url, sent)
        self._up = True

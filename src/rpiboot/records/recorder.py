"""Turn the engine's events into provisioning records, written at every phase transition.

:class:`Recorder` is an ``on_event`` callback: give it to a
:class:`~rpiboot.engine.server.Server` or :class:`~rpiboot.flash.station.Flasher` (it passes
every event on to ``forward``, e.g. the CLI's renderer).  Each board gets a record when its
boot ROM appears; the record is written (with a higher revision) when a phase starts or
ends and when the board is done, so a crash loses at most the phase in flight.  Hooks run
in a thread of their own when a record ends; their results are written as one more revision.

    with open_store("records.db") as store:   # or a postgresql:// URL
        recorder = Recorder(store, forward=print)
        Server(BootOptions(loop=True), on_event=recorder).run()
        recorder.close()
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from rpiboot.errors import ExitCode, RpibootError
from rpiboot.events import (
    BoardAttached,
    BoardFailed,
    BoardFinished,
    BootcodeSent,
    Event,
    FileServed,
    Flashed,
    MetadataReceived,
    StageStarted,
)
from rpiboot.records.hashing import FileHasher, firmware_set
from rpiboot.records.hooks import Hook, run_hooks
from rpiboot.records.model import BoardRecord, default_station, parse_time, utc_now
from rpiboot.records.store import RecordFilter, Store

log = logging.getLogger(__name__)
FLASH_PHASES = ("gadget", "write", "verify", "customize")
RECOVERY_FILES = ("pieeprom.bin", "pieeprom.upd", "pieeprom.sig", "recovery.bin")
HOOK_JOIN_S = 5.0  # at close, beyond the hooks' own timeouts


class Recorder:
    """Records every board the events tell of (see the module docstring).

    ``operation``: ``"flash"`` for rpiboot flash (the record continues past the boot into
    the gadget/write/verify/customize phases), else ``"boot"`` (refined to ``recovery`` /
    ``secure-boot`` from the files served).  ``image``: the image's name, for flash.
    ``sets_root``: the firmware store whose sets can vouch for the files served.
    """

    def __init__(self, store: Store, *, operation: str = "boot", station: str | None = None,
                 hooks: Sequence[Hook] = (), forward: Callable[[Event], None] | None = None,
                 image: str | None = None, sets_root: Path | None = None) -> None:
        from rpiboot.version import __version__

        self.store = store
        self.operation = operation
        self.station = station or default_station()
        self.hooks = tuple(hooks)
        self.forward = forward
        self.image = image
        self.sets_root = sets_root
        self.version = __version__
        self.hasher = FileHasher()
        self._lock = threading.Lock()
        self._active: dict[str, BoardRecord] = {}
        self._threads: list[threading.Thread] = []
        self.records: list[BoardRecord] = []  # every record this recorder ended, in order

    def __call__(self, event: Event) -> None:
        try:
            self._record(event)
        except Exception:  # a record must never break a board's boot
            log.exception("could not record %s", event.kind)
        if self.forward is not None:
            self.forward(event)

    def _record(self, event: Event) -> None:
        board = event.board
        if board is None:
            return
        with self._lock:
            rec = self._active.get(board.port_path)
            if isinstance(event, BoardAttached):
                self._attached(rec, event)
            elif rec is None:
                if isinstance(event, BoardFailed):  # failed before it was opened
                    self._failed(self._new(board.port_path, board.chip, board.serial),
                                 event)
            elif isinstance(event, (FileServed, BootcodeSent)):
                self._served(rec, event)
            elif isinstance(event, MetadataReceived):
                rec.metadata = dict(event.data)
                rec.serial = event.data.get("USER_SERIAL_NUM") or rec.usb_serial
            elif isinstance(event, StageStarted) and event.stage in FLASH_PHASES:
                self._phase(rec, event.stage)
            elif isinstance(event, BoardFinished):
                self._finished(rec)
            elif isinstance(event, Flashed):
                rec.image = {"name": self.image, "sha256": event.sha256,
                             "bytes": event.bytes, "verified": event.verified}
                self._end(rec, "passed", ExitCode.OK)
            elif isinstance(event, BoardFailed):
                self._failed(rec, event)

    def _attached(self, rec: BoardRecord | None, event: BoardAttached) -> None:
        board = event.board
        assert board is not None
        if rec is not None and not (rec.phases and rec.phases[-1]["name"] in ("rom",
                                                                             "fileserver")):
            self._end(rec, "interrupted", ExitCode.INTERRUPTED,
                      error="the board re-entered USB boot mode before its record ended")
            rec = None
        if rec is None:
            rec = self._new(board.port_path, board.chip, None)
        rec.chip = board.chip or rec.chip
        if event.stage == "rom":
            rec.rom_serial = board.serial or rec.rom_serial
        else:
            rec.usb_serial = board.serial or rec.usb_serial
            rec.serial = rec.metadata.get("USER_SERIAL_NUM") or rec.usb_serial
        if not rec.phases or rec.phases[-1]["name"] != event.stage:
            self._phase(rec, event.stage)

    def _new(self, port_path: str, chip: str | None, serial: str | None) -> BoardRecord:
        rec = BoardRecord(station=self.station, port_path=port_path, chip=chip,
                          rom_serial=serial, operation=self.operation,
                          rpiboot_version=self.version)
        self._active[port_path] = rec
        return rec

    def _served(self, rec: BoardRecord, event: FileServed | BootcodeSent) -> None:
        if isinstance(event, FileServed) and (event.command != "ReadFile"
                                              or event.source is None):
            return
        source = event.source or ""
        if any(f["name"] == event.name and f["source"] == source for f in rec.files):
            return
        size = event.size if event.size is not None else 0
        rec.files.append({"name": event.name, "source": source, "size": size,
                          "sha256": self.hasher.digest(source)})

    def _phase(self, rec: BoardRecord, name: str) -> None:
        if rec.phases and rec.phases[-1]["name"] == name and rec.phases[-1]["ended_at"] is None:
            return  # already in it (the boot's end and the flash both start "gadget")
        now = utc_now()
        _close_phase(rec, now, "passed")
        rec.phases.append({"name": name, "started_at": now, "ended_at": None,
                           "result": "running"})
        self._write(rec)

    def _finished(self, rec: BoardRecord) -> None:
        if self.operation == "flash":
            self._phase(rec, "gadget")
        else:
            self._end(rec, "passed", ExitCode.OK)

    def _failed(self, rec: BoardRecord, event: BoardFailed) -> None:
        interrupted = event.exit_code == ExitCode.INTERRUPTED
        if event.stage is not None:
            from rpiboot.diagnosis import STAGES

            reached = next((s.reached for s in STAGES if s.name == event.stage), "")
            rec.diagnosis = {"stage": event.stage, "reached": reached,
                             "causes": list(event.causes)}
        self._end(rec, "interrupted" if interrupted else "failed", event.exit_code,
                  error=event.error)

    def _end(self, rec: BoardRecord, result: str, exit_code: int, *,
             error: str | None = None, final: bool = True) -> None:
        """End ``rec`` (``final``: one of this recorder's boards: described, hooks run)."""
        now = utc_now()
        _close_phase(rec, now, result)
        rec.result, rec.exit_code, rec.ended_at = result, int(exit_code), now
        rec.error = error if error is not None else rec.error
        if not final:
            self._write(rec)
            return
        self._describe(rec)
        self._write(rec)
        self._active.pop(rec.port_path, None)
        self.records.append(rec)
        if self.hooks:
            worker = threading.Thread(target=self._run_hooks, args=(rec,), daemon=True,
                                      name=f"rpiboot-hooks-{rec.port_path}")
            self._threads.append(worker)
            worker.start()

    def _describe(self, rec: BoardRecord) -> None:
        """What the files served tell: firmware set, recovery / secure boot, key."""
        rec.firmware = firmware_set(rec.files, self.hasher, self.sets_root)
        eeprom = next((f for f in rec.files if f["name"].lower().rsplit("/", 1)[-1]
                       in ("pieeprom.bin", "pieeprom.upd")), None)
        if self.operation != "boot":
            return
        if any(f["name"].lower().rsplit("/", 1)[-1] in RECOVERY_FILES for f in rec.files):
            rec.operation = "recovery"
        if eeprom is not None:
            key_hash, locks = eeprom_key(eeprom["source"])
            rec.key_fingerprint = key_hash
            if locks:
                rec.operation = "secure-boot"

    def _write(self, rec: BoardRecord) -> None:
        rec.revision += 1
        try:
            self.store.put(rec)
        except RpibootError as exc:
            log.error("%s: record %s not written: %s", rec.port_path, rec.id, exc)

    def _run_hooks(self, rec: BoardRecord) -> None:
        results = run_hooks(list(self.hooks), rec)
        if results:
            with self._lock:
                rec.hooks = results
                self._write(rec)

    def end_orphans(self) -> list[BoardRecord]:
        """Mark as interrupted the records this host's earlier, dead rpiboot processes left
        ``running`` (a crashed or killed station), so that readers on other hosts see them
        ended too; the records changed.  A store that cannot be read is left alone."""
        try:
            found = self.store.query(RecordFilter(result="interrupted"))
        except RpibootError as exc:
            log.info("orphaned records not checked: %s", exc)
            return []
        ended = []
        for rec in found:
            if rec.result != "running" or rec.host != socket.gethostname():
                continue
            with self._lock:
                self._end(rec, "interrupted", ExitCode.INTERRUPTED, error=(
                    f"rpiboot (pid {rec.pid}) stopped before this board was done"),
                    final=False)
            ended.append(rec)
        return ended

    def end_orphans_in_background(self) -> None:
        """:meth:`end_orphans` in a thread of its own (off the path to the first board;
        :meth:`close` waits for it)."""
        worker = threading.Thread(target=self.end_orphans, name="rpiboot-orphans",
                                  daemon=True)
        self._threads.append(worker)
        worker.start()

    def close(self, *, interrupted: bool = False) -> list[BoardRecord]:
        """End the records still open (as interrupted: the run stopped before those boards
        were done), wait for running hooks; the records this recorder ended."""
        with self._lock:
            for rec in list(self._active.values()):
                self._end(rec, "interrupted", ExitCode.INTERRUPTED,
                          error="rpiboot stopped before this board was done"
                          if interrupted else "the board was not seen again")
            threads = list(self._threads)
        for worker in threads:
            worker.join(max((h.timeout for h in self.hooks), default=0) + HOOK_JOIN_S)
        return list(self.records)


def _close_phase(rec: BoardRecord, now: str, result: str) -> None:
    """End the phase in flight (if any) with ``result`` and its duration."""
    if not rec.phases or rec.phases[-1]["ended_at"] is not None:
        return
    phase = rec.phases[-1]
    seconds = (parse_time(now) - parse_time(phase["started_at"])).total_seconds()
    phase.update(ended_at=now, result=result, seconds=round(seconds, 6))


def eeprom_key(source: str) -> tuple[str | None, bool]:
    """(key hash embedded in a served EEPROM image, whether its config programs it into
    OTP); (None, False) when the image cannot be read."""
    from rpiboot.records.hashing import split_source

    path, member = split_source(source)
    if path is None or member is not None:
        return None, False
    try:
        stat = path.stat()
    except OSError:
        return None, False
    return _eeprom_key(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _eeprom_key(path: str, _size: int, _mtime_ns: int) -> tuple[str | None, bool]:
    """:func:`eeprom_key` of one version of a file (a station serves it to every board)."""
    from rpiboot.eeprom.image import EepromImage
    from rpiboot.eeprom.info import describe

    try:
        info = describe(EepromImage.load(Path(path)))
    except RpibootError:
        return None, False
    config = (info.config or "").replace(" ", "")
    return info.pubkey_hash, "program_pubkey=1" in config.splitlines()

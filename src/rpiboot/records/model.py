"""The provisioning record: what was done to one board in one operation, and how it ended.

A record is written at every phase transition (start, each phase's end, the end), each time
with a higher ``revision``; a store keeps the highest revision of each ``id``.  So a crash
loses at most the phase in flight, and a board whose writer died reads as ``interrupted``
(:func:`effective_result`), never as passed.  The exported JSON is documented in
docs/records.md.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import uuid
from typing import Any

from rpiboot.errors import InputError
from rpiboot.record import field, record

OPERATIONS = ("boot", "recovery", "flash", "secure-boot")
RESULTS = ("running", "passed", "failed", "interrupted")
STALE_S = 24 * 3600.0  # a running record not updated for this long reads as interrupted
RECORD_SCHEMA = 1  # the exported JSON's own version ("schema" field)


def utc_now() -> str:
    """Now, as the records write times: UTC ISO-8601 with microseconds and a ``Z``."""
    return format_time(_dt.datetime.now(_dt.timezone.utc))


def format_time(moment: _dt.datetime) -> str:
    """``moment`` (aware) as ``2026-12-02T10:25:01.123456Z``."""
    moment = moment.astimezone(_dt.timezone.utc)
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S.%f}Z"  # %Y has no zeros before 1000


def parse_time(text: str, *, what: str = "time") -> _dt.datetime:
    """A record time (or any ISO-8601 time; naive means UTC) as an aware datetime."""
    try:
        moment = _dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z")
                                            else text)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{what} {text!r}: not an ISO-8601 time",
                         hint="e.g. 2026-12-02T08:00:00Z or 2026-12-02") from exc
    if moment.tzinfo is None:
        return moment.replace(tzinfo=_dt.timezone.utc)
    try:
        return moment.astimezone(_dt.timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first representable time
        raise InputError(f"{what} {text!r}: out of range", hint="Give a time after year 1."
                         ) from None


def default_station() -> str:
    """``$RPIBOOT_STATION``, else this host's name."""
    return os.environ.get("RPIBOOT_STATION") or socket.gethostname() or "station"


@record(frozen=False, kw_only=True)
class BoardRecord:
    """One board, one operation (field meanings: docs/records.md)."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    revision: int = 0
    station: str = ""
    port_path: str = ""
    chip: str | None = None
    rom_serial: str | None = None
    usb_serial: str | None = None
    serial: str | None = None
    operation: str = "boot"
    result: str = "running"
    exit_code: int | None = None
    started_at: str = field(default_factory=utc_now)
    ended_at: str | None = None
    phases: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    firmware: dict[str, Any] | None = None
    image: dict[str, Any] | None = None
    key_fingerprint: str | None = None
    error: str | None = None
    diagnosis: dict[str, Any] | None = None
    hooks: list[dict[str, Any]] = field(default_factory=list)
    rpiboot_version: str = ""
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)

    def to_json(self) -> dict[str, Any]:
        """The exported form (a fresh dict of JSON types)."""
        data = {name: getattr(self, name) for name in FIELDS}
        return {"schema": RECORD_SCHEMA, **json.loads(json.dumps(data))}

    @classmethod
    def from_json(cls, data: object, *, where: str = "record") -> BoardRecord:
        """A record from its exported form; InputError naming ``where`` and the field."""
        if not isinstance(data, dict):
            raise InputError(f"{where}: not a JSON object")
        values: dict[str, Any] = {}
        for name, kinds in FIELDS.items():
            if name not in data:
                continue
            value = data[name]
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                raise InputError(f"{where}: field {name!r} has the wrong type "
                                 f"({type(value).__name__})")
            values[name] = value
        rec = cls(**values)
        if rec.result not in RESULTS or rec.operation not in OPERATIONS:
            raise InputError(f"{where}: unknown result {rec.result!r} or operation "
                             f"{rec.operation!r}")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in rec.metadata.items()):
            raise InputError(f"{where}: metadata values must be strings")
        for name in ("phases", "files", "hooks"):
            if not all(isinstance(item, dict) for item in getattr(rec, name)):
                raise InputError(f"{where}: field {name!r} must be a list of objects")
        return rec


_STR, _OPT_STR, _INT = (str,), (str, type(None)), (int,)
FIELDS: dict[str, tuple[type, ...]] = {
    "id": _STR, "revision": _INT, "station": _STR, "port_path": _STR, "chip": _OPT_STR,
    "rom_serial": _OPT_STR, "usb_serial": _OPT_STR, "serial": _OPT_STR, "operation": _STR,
    "result": _STR, "exit_code": (int, type(None)), "started_at": _STR,
    "ended_at": _OPT_STR, "phases": (list,), "metadata": (dict,), "files": (list,),
    "firmware": (dict, type(None)), "image": (dict, type(None)), "key_fingerprint": _OPT_STR,
    "error": _OPT_STR, "diagnosis": (dict, type(None)), "hooks": (list,),
    "rpiboot_version": _STR, "pid": _INT, "host": _STR,
}


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this host (or cannot be asked about)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # no such process (or no such pid)
        return False
    except (PermissionError, OSError):
        return True
    return True


def effective_result(rec: BoardRecord, now: _dt.datetime | None = None) -> str:
    """The record's result as a reader should see it: a ``running`` record whose writer is
    gone (same host, process dead) or silent for :data:`STALE_S` reads ``interrupted``."""
    if rec.result != "running":
        return rec.result
    if rec.host == socket.gethostname() and not pid_alive(rec.pid):
        return "interrupted"
    now = now or _dt.datetime.now(_dt.timezone.utc)
    phase = rec.phases[-1] if rec.phases and isinstance(rec.phases[-1], dict) else {}
    last = phase.get("ended_at") or phase.get("started_at") or rec.started_at
    try:
        seen = parse_time(str(last))
    except InputError:
        return "interrupted"
    return "interrupted" if (now - seen).total_seconds() > STALE_S else "running"

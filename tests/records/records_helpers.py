"""Records as a station writes them, for the records tests."""

from __future__ import annotations

import datetime as _dt
import socket
from typing import Any

from rpiboot.records.model import BoardRecord, format_time

T0 = _dt.datetime(2026, 12, 2, 8, 0, 0, tzinfo=_dt.timezone.utc)


def at(seconds: float) -> str:
    """The record time ``seconds`` after 08:00 UTC on 2026-12-02."""
    return format_time(T0 + _dt.timedelta(seconds=seconds))


def phases(start: float, durations: dict[str, float]) -> list[dict[str, Any]]:
    """Consecutive phases from ``start`` (seconds after T0), one per name."""
    out = []
    for name, seconds in durations.items():
        out.append({"name": name, "started_at": at(start), "ended_at": at(start + seconds)})
        start += seconds
    return out


def board(serial: str, /, *, start: float = 0.0, result: str = "passed", station: str = "line-1",
          operation: str = "flash", durations: dict[str, float] | None = None,
          **changes: Any) -> BoardRecord:
    """A finished board record: ``durations`` (phase -> seconds) set its phases and end."""
    durations = {"rom": 1.0, "fileserver": 3.0, "write": 40.0} if durations is None \
        else durations
    total = sum(durations.values())
    values: dict[str, Any] = {
        "id": f"{serial}-{int(start)}-{station}", "revision": 3, "station": station,
        "port_path": "1-1.3", "chip": "BCM2711", "usb_serial": "a1b2c3d4", "serial": serial,
        "operation": operation, "result": result, "exit_code": 0 if result == "passed" else 1,
        "started_at": at(start), "ended_at": at(start + total),
        "phases": phases(start, durations),
        "metadata": {"USER_SERIAL_NUM": serial, "MAC_ADDR": "d8:3a:dd:00:11:22"},
        "files": [{"name": "bootcode4.bin",
                   "source": "/home/op/.local/share/rpiboot/sets/2b2bd4c1.../"
                   "mass-storage-gadget64/bootcode4.bin",
                   "size": 4, "sha256": "88d4266fd4e6338d13b845fcf289579d"
                   "209c897823b9217da3e161936f031589"}],
        "error": None if result == "passed" else "verify: mismatch at 0x1000\nmore detail",
        "rpiboot_version": "0.1.0", "host": socket.gethostname(),
    }
    values.update(changes)
    return BoardRecord(**values)

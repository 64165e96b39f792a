"""Helpers of the records tests: records to store, a dead pid, waiting with a deadline."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any

from rpiboot.records.model import BoardRecord


def make_record(**values: Any) -> BoardRecord:
    """A record with a fresh id (and whatever ``values`` say)."""
    values.setdefault("id", uuid.uuid4().hex)
    values.setdefault("station", "station-a")
    return BoardRecord(**values)


def full_record() -> BoardRecord:
    """A record with every field set, nested JSON and text a database may choke on."""
    return BoardRecord(
        id=uuid.uuid4().hex, revision=7, station="bench-1", port_path="1-1.4.2",
        chip="bcm2711", rom_serial="0x1a2b3c4d", usb_serial="6e7f8091", serial="10000000cafe",
        operation="flash", result="failed", exit_code=1,
        started_at="2026-12-02T10:25:01.123456Z", ended_at="2026-12-02T10:27:09.000001Z",
        phases=[{"name": "boot", "started_at": "2026-12-02T10:25:01.123456Z",
                 "ended_at": "2026-12-02T10:25:04.5Z", "result": "passed"},
                {"name": "write", "bytes": 2 ** 40, "ratio": 0.25, "nested": {"a": [1, None]}}],
        metadata={"mac": "dc:a6:32:00:00:01", "note": "ünïcødé ✓ 'quotes' \"and\" \\"},
        files=[{"path": "boot/config.txt", "sha256": "ab" * 32, "size": 120}],
        firmware={"version": "2026-11-01", "source": "pinned"},
        image={"path": "/srv/images/os.img.xz", "sha256": "cd" * 32},
        key_fingerprint="SHA256:abcdef", error="write failed at 0x1000: I/O error\x00tail",
        diagnosis={"code": "E_WRITE", "hint": "replace the eMMC"},
        hooks=[{"command": "label-printer", "exit_code": 0}],
        rpiboot_version="0.1.0", pid=4242, host="station-host")


def dead_pid() -> int:
    """The pid of a process that has ended (and was reaped)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               interval: float = 0.05) -> None:
    """Poll ``condition`` until it holds; AssertionError naming ``what`` at ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)

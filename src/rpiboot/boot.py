"""The boot operations API: serve boards (ROM stage, file server) until done.

``serve(options)`` waits for matching Broadcom boot devices, follows each board by its USB
port path through its re-enumerations (boot ROM -> file server -> next stage) and reports
what happens through ``on_event`` callbacks (see :mod:`rpiboot.events`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rpiboot.errors import ExitCode, RpibootError
from rpiboot.events import BoardRef, Event

if TYPE_CHECKING:
    import usb.backend

EventCallback = Callable[[Event], None]


@dataclass(frozen=True)
class BootOptions:
    """What ``rpiboot`` was asked to do (the reference flags plus our additions)."""

    boot_dir: Path | None = None  # -d; None = default firmware found by rpiboot.firmware
    firmware_dir: Path | None = None  # --firmware-dir
    overlay: bool = False  # -o
    signed: bool = False  # -s (BCM2835/7: bootsig.bin's 20 bytes in the boot message)
    loop: bool = False  # -l
    port_path: str | None = None  # -p, exact or shell glob ("1-3.*")
    port_number: int | None = None  # -0 .. -98
    serial: str | None = None  # -i
    metadata: bool = False  # -j given
    metadata_dir: Path | None = None  # -j DIR; None -> only the MetadataReceived event
    wait_timeout: float | None = None  # --timeout: max wait for a board (None = forever)
    stage_timeout: float = 30.0  # one stage incl. waiting for the re-enumerated board
    boot_timeout: float = 300.0  # a whole board boot
    poll_interval: float = 0.02  # device polling interval (-m MICROSECONDS maps here)


@dataclass
class ServeResult:
    """Boards that finished their file-server stage, and boards that failed."""

    finished: list[BoardRef] = field(default_factory=list)
    failed: list[tuple[BoardRef, RpibootError]] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        if not self.failed:
            return ExitCode.OK
        codes = {err.exit_code for _, err in self.failed}
        if codes == {ExitCode.TIMEOUT}:
            return ExitCode.TIMEOUT
        if ExitCode.PERMISSION in codes:
            return ExitCode.PERMISSION
        return ExitCode.FAILED


def serve(
    options: BootOptions,
    *,
    backend: usb.backend.IBackend | None = None,
    on_event: EventCallback | None = None,
    stop: threading.Event | None = None,
) -> ServeResult:
    """Serve matching boards; see the module docstring and notes/bootapi.md."""
    raise NotImplementedError("serve() is being written")

""":class:`Flasher`: boot boards, then write and verify an OS image on each, many at once.

The boot is the engine's (:class:`~rpiboot.engine.server.Server`); each board that finishes
its file server gets a flash worker of its own (:class:`~rpiboot.flash.flow.BoardFlash`),
which follows the board by its USB port path into the mass-storage gadget.  In loop mode
boards keep being booted and flashed as they are plugged in, until :meth:`Flasher.stop`
(or Ctrl-C in :meth:`Flasher.run`).

    from rpiboot.flash import FlashOptions, Flasher
    report = Flasher(BootOptions(loop=True), FlashOptions("raspios.img.xz")).run()
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rpiboot.engine.server import Server
from rpiboot.errors import ExitCode, RpibootError
from rpiboot.events import BoardFinished, Event, MetadataReceived
from rpiboot.flash.flow import BoardFlash, FlashOptions, FlashResult
from rpiboot.options import BootOptions, ServeResult, exit_code_for
from rpiboot.record import field, record, replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rpiboot.flash.disks import DiskFinder

JOIN_TIMEOUT_S = 5.0  # after a stop: how long flash workers get to notice it


@record(frozen=False)
class FlashReport:
    """The boot result and every board's flash result."""

    boot: ServeResult
    boards: list[FlashResult] = field(default_factory=list)

    @property
    def errors(self) -> list[RpibootError]:
        """Every failure: the boot's, then each board's flash."""
        return self.boot.errors + [r.error for r in self.boards if r.error is not None]

    @property
    def ok(self) -> bool:
        return not self.errors and not self.boot.interrupted

    @property
    def exit_code(self) -> ExitCode:
        """The exit status, with the boot's rules (README's table)."""
        return exit_code_for(self.errors, interrupted=self.boot.interrupted)


class Flasher:
    """Boot matching boards and flash each one (see the module docstring).

    ``disks``: where a board's disks are found (default: the OS's, e.g. sysfs on Linux);
    the other keyword arguments are the :class:`Server`'s (``backend``, ``devices``, ...).
    The boards' metadata is always collected (the --customize templates and the records
    need it), so ``on_event`` sees :class:`MetadataReceived` whatever ``options.metadata``.
    """

    def __init__(self, options: BootOptions, flash: FlashOptions, *,
                 disks: DiskFinder | None = None,
                 on_event: Callable[[Event], None] | None = None, **server_args: Any) -> None:
        self.options = replace(options, metadata=True)  # the templates need the records
        self.flash = flash
        self._disks = disks
        self._on_event = on_event
        self._server_args = server_args
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._metadata: dict[str, dict[str, str]] = {}
        self._workers: list[tuple[threading.Thread, BoardFlash]] = []
        self.server = Server(self.options, on_event=self._event, stop=self._stop,
                             **server_args)

    def _finder(self) -> DiskFinder:
        if self._disks is None:
            from rpiboot.flash.finder import default_finder

            self._disks = default_finder()
        return self._disks

    def _emit(self, event: Event) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def _event(self, event: Event) -> None:
        self._emit(event)
        if isinstance(event, MetadataReceived) and event.board is not None:
            with self._lock:
                self._metadata[event.board.port_path] = dict(event.data)
        elif isinstance(event, BoardFinished) and event.board is not None:
            self._start_flash(event)

    def _start_flash(self, event: BoardFinished) -> None:
        board = event.board
        assert board is not None
        with self._lock:
            records = self._metadata.pop(board.port_path, {})
            job = BoardFlash(board, records, self.flash, disks=self._finder(), emit=self._emit,
                             stop=self._stop)
            worker = threading.Thread(target=job.run, name=f"rpiboot-flash-{board.port_path}",
                                      daemon=True)
            self._workers.append((worker, job))
        worker.start()

    def stop(self) -> None:
        """Stop booting and flashing (a write in progress is abandoned at its next chunk)."""
        self._stop.set()

    def run(self) -> FlashReport:
        """Boot and flash until done (one board, or every board until stopped in loop
        mode); Ctrl-C stops everything cleanly."""
        boot = self.server.run()
        try:
            self._join(interrupted=boot.interrupted)
        except KeyboardInterrupt:
            self.stop()
            self._join(interrupted=True)
            boot.interrupted = True
        with self._lock:
            results = [job.result for _, job in self._workers]
        return FlashReport(boot, results)

    def _join(self, *, interrupted: bool) -> None:
        if interrupted:
            self.stop()
        with self._lock:
            workers = list(self._workers)
        for worker, _ in workers:
            while worker.is_alive():  # in slices: Ctrl-C stays deliverable
                worker.join(1.0 if not interrupted else JOIN_TIMEOUT_S)
                if interrupted:
                    break

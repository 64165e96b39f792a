"""Rendering of boot-engine events: human log lines, rich progress bars, or JSON lines.

Every renderer is a thread-safe callable ``renderer(event)``: the engine calls it from its
worker threads (one per board).
"""

from __future__ import annotations

import sys
import threading

from rpiboot import events as ev

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time

if TYPE_CHECKING:
    from typing import IO, Any

    from rich.progress import Progress, TaskID

    from rpiboot.errors import RpibootError


def human_size(size: int) -> str:
    """``1536`` -> ``1.5 KiB``; exact byte counts below 1 KiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


class JsonRenderer:
    """``--json``: one versioned JSON object per line on ``out`` (progress events omitted)."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stdout
        self.lock = threading.Lock()
        import json  # only when --json is used

        self.dumps = json.dumps

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, (ev.TransferProgress, ev.FlashProgress)):
            return
        line = self.dumps(event.to_json(), ensure_ascii=False, separators=(",", ":"))
        with self.lock:
            self.out.write(line + "\n")
            self.out.flush()

    def close(self) -> None:
        """Nothing to tear down (same interface as :class:`HumanRenderer`)."""


class LineRenderer:
    """Human output: lines on ``err`` (printed above a rich progress display while one
    runs), and each event handed to the subclass's ``_on_<EventClass>`` method, if any."""

    def __init__(self, err: IO[str] | None = None, *, quiet: bool = False) -> None:
        self.err = err or sys.stderr
        self.quiet = quiet
        self.lock = threading.RLock()
        self._progress: Progress | None = None

    def line(self, text: str, *, always: bool = False) -> None:
        if self.quiet and not always:
            return
        with self.lock:
            if self._progress is not None:
                self._progress.console.print(text, markup=False, highlight=False)
            else:
                self.err.write(text + "\n")
                self.err.flush()

    def close(self) -> None:
        with self.lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None

    def __call__(self, event: object) -> None:
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)


class HumanRenderer(LineRenderer):
    """Log lines on ``err`` prefixed with the board (port path + serial); metadata without a
    directory goes to ``out`` as JSON.  ``quiet``: errors and metadata only.  ``progress``:
    rich progress bars for file transfers (only sensible when ``err`` is a terminal)."""

    def __init__(self, *, out: IO[str] | None = None, err: IO[str] | None = None,
                 quiet: bool = False, progress: bool = False, verbose: int = 0) -> None:
        super().__init__(err, quiet=quiet)
        self.out = out or sys.stdout
        self.verbose = verbose
        self._tasks: dict[tuple[str, str], TaskID] = {}
        if progress and not quiet:
            self._start_progress()

    def _start_progress(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        console = Console(file=self.err)
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), TimeRemainingColumn(), console=console, transient=True,
        )
        self._progress.start()

    # events -----------------------------------------------------------------------------

    @staticmethod
    def _prefix(event: ev.Event) -> str:
        return f"{event.board.label()}: " if event.board is not None else ""

    def _on_Waiting(self, event: ev.Waiting) -> None:
        filters = ", ".join(f"{k}={v}" for k, v in event.filters.items())
        self.line("Waiting for a Raspberry Pi in USB boot mode"
                  + (f" ({filters})" if filters else "") + " ...")

    def _on_BoardAttached(self, event: ev.BoardAttached) -> None:
        what = ("boot ROM" if event.stage == "rom"
                else "re-enumerated: second stage (file server)")
        chip = f" {event.board.chip}" if event.board and event.board.chip else ""
        self.line(f"{self._prefix(event)}{event.vid_pid}{chip} {what} attached "
                  f"(serial index {event.serial_index})")

    def _on_BootcodeSent(self, event: ev.BootcodeSent) -> None:
        status = "accepted" if event.status == 0 else f"REJECTED (status {event.status})"
        self.line(f"{self._prefix(event)}sent {event.name} ({human_size(event.size)}) from "
                  f"{event.source}: {status}")

    def _on_TransferProgress(self, event: ev.TransferProgress) -> None:
        if self._progress is None or event.total <= 0:
            return
        key = (event.board.port_path if event.board else "", event.name)
        with self.lock:
            task = self._tasks.get(key)
            if task is None:
                task = self._progress.add_task(f"{self._prefix(event)}{event.name}",
                                               total=event.total)
                self._tasks[key] = task
            self._progress.update(task, completed=event.done)
            if event.done >= event.total:
                self._progress.remove_task(task)
                del self._tasks[key]

    def _on_FileServed(self, event: ev.FileServed) -> None:
        prefix = self._prefix(event)
        if event.size is None:
            if event.command == "GetFileSize" or self.verbose:
                self.line(f"{prefix}{event.name}: not found (answered size 0)")
        elif event.command == "ReadFile":
            self.line(f"{prefix}sent {event.name} ({human_size(event.size)}) from "
                      f"{event.source}")
        elif self.verbose:
            self.line(f"{prefix}{event.name}: {event.size} bytes ({event.source})")

    def _on_NameRefused(self, event: ev.NameRefused) -> None:
        self.line(f"{self._prefix(event)}warning: refused the name {event.name!r} "
                  f"({event.reason}); answered as missing", always=True)

    def _on_MetadataReceived(self, event: ev.MetadataReceived) -> None:
        if event.path is not None:
            self.line(f"{self._prefix(event)}metadata written to {event.path}")
            return
        import json

        text = json.dumps(event.data, indent=2, ensure_ascii=False)
        with self.lock:
            self.out.write(text + "\n")
            self.out.flush()

    def _on_BoardFinished(self, event: ev.BoardFinished) -> None:
        self.line(f"{self._prefix(event)}done in {event.seconds:.2f} s: the board is "
                  "booting its next stage")

    def _on_GadgetFound(self, event: ev.GadgetFound) -> None:
        disks = ", ".join(f"LUN {d['lun']} {d['model']} {human_size(int(d['size']))} "
                          f"({d['path']})" for d in event.disks)
        self.line(f"{self._prefix(event)}mass-storage gadget with {disks}; writing "
                  f"{event.target}")

    def _on_FlashProgress(self, event: ev.FlashProgress) -> None:
        if self._progress is None:
            return
        key = (event.board.port_path if event.board else "", f"flash:{event.phase}")
        with self.lock:
            task = self._tasks.get(key)
            if task is None:
                task = self._progress.add_task(f"{self._prefix(event)}{event.phase}",
                                               total=event.total)
                self._tasks[key] = task
            self._progress.update(task, completed=event.done, total=event.total)
            if event.total is not None and event.done >= event.total:
                self._progress.remove_task(task)
                del self._tasks[key]

    def _on_Flashed(self, event: ev.Flashed) -> None:
        rate = event.write_rate / 1e6
        text = (f"{self._prefix(event)}wrote {human_size(event.bytes)} to {event.disk} in "
                f"{event.write_seconds:.2f} s ({rate:.1f} MB/s)")
        if event.verified:
            text += f", read back and verified ({event.verify_rate / 1e6:.1f} MB/s)"
        else:
            text += ", not verified (--no-verify)"
        if event.customized:
            text += f"; added {', '.join(event.customized)}"
        self.line(text)

    def _on_BoardFailed(self, event: ev.BoardFailed) -> None:
        self.line(f"{self._prefix(event)}error: {event.error}", always=True)
        if event.hint:
            for hint_line in event.hint.splitlines():
                self.line(f"  {hint_line}", always=True)


def print_json_error(err: RpibootError, out: IO[str] | None = None) -> None:
    """``--json``: a failure outside any board's boot (bad flags, an unusable -j folder, no
    libusb) as the one ``error`` event the run ends with, ``exit_code`` = the exit status."""
    event = ev.ServeFailed(None, error=err.message, hint=err.hint, exit_code=int(err.exit_code))
    JsonRenderer(out)(event)


def make_renderer(*, json_mode: bool, quiet: bool, verbose: int,
                  err: IO[str] | None = None) -> Any:
    """The renderer the command line asked for (progress bars only on a terminal)."""
    if json_mode:
        return JsonRenderer()
    stream = err or sys.stderr
    progress = bool(getattr(stream, "isatty", lambda: False)()) and not quiet
    return HumanRenderer(err=stream, quiet=quiet, progress=progress, verbose=verbose)

"""Rendering of firmware-store events: lines, a rich progress bar per download on a
terminal, or one JSON object per line (``--json``)."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from rpiboot.cli.render import LineRenderer, human_size
from rpiboot.fwstore import events as ev

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rich.progress import TaskID

    from rpiboot.errors import RpibootError


class FwJsonRenderer:
    """``--json``: every event but :class:`~rpiboot.fwstore.events.Progress` as a line."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stdout

    def __call__(self, event: ev.FwEvent) -> None:
        if isinstance(event, ev.Progress):
            return
        self.emit(event.to_json())

    def emit(self, data: dict[str, Any]) -> None:
        self.out.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.out.flush()

    def error(self, err: RpibootError) -> None:
        self.emit({"v": ev.SCHEMA_VERSION, "event": "error", "error": err.message,
                   "hint": err.hint, "exit_code": int(err.exit_code)})

    def close(self) -> None:
        """Nothing to tear down."""


class FwHumanRenderer(LineRenderer):
    """Lines on ``err``; with ``progress``, a bar (bytes, rate) for each download."""

    def __init__(self, err: IO[str] | None = None, *, progress: bool = False,
                 verbose: bool = False) -> None:
        super().__init__(err)
        self.verbose = verbose
        self._tasks: dict[str, TaskID] = {}
        if progress:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      DownloadColumn(), TransferSpeedColumn(),
                                      console=Console(file=self.err), transient=True)
            self._progress.start()

    def _on_Planned(self, event: ev.Planned) -> None:
        commits = " + ".join(f"{repo.split('/')[-1]} {commit[:12]}"
                             for repo, commit in event.upstream.items()) or "commit unknown"
        size = human_size(event.bytes) + (" + files of unknown size" if event.unknown_sizes
                                          else "")
        folders = f"{len(event.folders)} folder{'s' if len(event.folders) != 1 else ''}"
        self.line(f"{commits}: {folders}, {event.files} files, {size} (blob ids from the "
                  f"{event.listing})")

    def _on_FolderSkipped(self, event: ev.FolderSkipped) -> None:
        self.line(f"skipped {event.folder}: {event.reason}")

    def _on_Notice(self, event: ev.Notice) -> None:
        self.line(f"warning: {event.message}")

    def _on_Downloading(self, event: ev.Downloading) -> None:
        resumed = f" (resuming at byte {event.offset})" if event.offset else ""
        if self._progress is None:
            if self.verbose or event.offset:
                self.line(f"downloading {event.path} from {event.url}{resumed}")
            return
        if resumed:
            self.line(f"{event.path}: resuming at byte {event.offset}")
        task = self._tasks.pop(event.path, None)
        if task is not None:
            self._progress.remove_task(task)
        self._tasks[event.path] = self._progress.add_task(
            event.path, total=event.size, completed=event.offset)

    def _on_Progress(self, event: ev.Progress) -> None:
        task = self._tasks.get(event.path)
        if self._progress is not None and task is not None:
            self._progress.update(task, completed=event.done, total=event.total)

    def _on_Retrying(self, event: ev.Retrying) -> None:
        self.line(f"{event.reason}: retrying {event.url} in {event.delay:g} s "
                  f"(attempt {event.attempt + 1})")

    def _on_Restarted(self, event: ev.Restarted) -> None:
        self.line(f"{event.url}: {event.reason}")

    def _on_FileInstalled(self, event: ev.FileInstalled) -> None:
        task = self._tasks.pop(event.path, None)
        if self._progress is not None and task is not None:
            self._progress.remove_task(task)
            self._progress.refresh()
        how = {"downloaded": "downloaded", "copied": "copied", "reused": "from another set",
               "linked": f"same as {event.source}"}.get(event.how, event.how)
        self.line(f"  {event.path}  {human_size(event.size)}  git blob {event.blob[:12]} "
                  f"({how})")

    def _on_SetInstalled(self, event: ev.SetInstalled) -> None:
        state = "verified" if event.verified else "UNVERIFIED: see 'rpiboot firmware list'"
        now = "; it is now the current set" if event.current else ""
        what = "installed firmware set" if event.added else "firmware set already installed:"
        self.line(f"{what} {event.set} ({state}) in {event.path}: "
                  f"{', '.join(event.folders)}{now}")


def make_fw_renderer(*, json_mode: bool, verbose: bool = False,
                     err: IO[str] | None = None) -> FwJsonRenderer | FwHumanRenderer:
    """JSON lines, or lines with progress bars when ``err`` is a terminal."""
    if json_mode:
        return FwJsonRenderer()
    stream = err or sys.stderr
    tty = bool(getattr(stream, "isatty", lambda: False)())
    return FwHumanRenderer(stream, progress=tty, verbose=verbose)

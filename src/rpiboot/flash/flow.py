"""One board's flash, after its boot: gadget -> disk -> write -> verify -> customize.

Runs in its own worker thread, one per board, so one failing board (vanished mid-write,
I/O error, too small) never stops the others.  Every step reports through ``emit``; the
outcome is a :class:`FlashResult` whose ``error`` (with its stage and likely causes) says
why a board failed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from rpiboot.chips import GADGET_FIRMWARE, MSD_FIRMWARE
from rpiboot.diagnosis import STAGES, Diagnosis
from rpiboot.errors import InternalError, RpibootError, TimeoutExpired
from rpiboot.events import (
    BoardFailed,
    BoardRef,
    Event,
    Flashed,
    FlashProgress,
    GadgetFound,
    StageStarted,
)
from rpiboot.flash.disks import Disk, select_target
from rpiboot.record import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rpiboot.flash.disks import DiskFinder
    from rpiboot.flash.writer import WriteResult

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.25
DEFAULT_GADGET_TIMEOUT_S = 60.0


@record
class FlashOptions:
    """What ``rpiboot flash`` writes, and how."""

    image: str  # a path, or "-" for standard input
    target: int | str = 0  # --target: a LUN number, or a part of the model string
    verify: bool = True  # --no-verify turns the read-back off
    bmap: Path | None = None  # --bmap; None: IMAGE.bmap when it exists beside the image
    use_bmap: bool = True  # --no-bmap: write every byte even when a bmap is there
    unmount: bool = False  # --unmount: unmount the disk's partitions instead of refusing
    customize: Path | None = None  # --customize DIR: per-board files for the boot partition
    gadget_timeout: float = DEFAULT_GADGET_TIMEOUT_S  # a board must come back as a disk by then


@record(frozen=False)
class FlashResult:
    """How one board's flash ended: ``error`` is None when it was written (and verified)."""

    board: BoardRef
    disk: Disk | None = None
    bytes_written: int = 0
    sha256: str = ""
    write_rate: float = 0.0
    verified: bool = False
    verify_rate: float = 0.0
    customized: tuple[str, ...] = ()
    error: RpibootError | None = None
    diagnosis: Diagnosis | None = None
    phases: dict[str, float] = field(default_factory=dict)  # phase -> seconds

    @property
    def ok(self) -> bool:
        return self.error is None


class _Meter:
    """Rate-limited progress events for one phase."""

    def __init__(self, emit: Callable[[Event], None], board: BoardRef, phase: str) -> None:
        self.emit, self.board, self.phase = emit, board, phase
        self.started = time.monotonic()
        self.next_report = 0.0

    def __call__(self, done: int, total: int | None, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now < self.next_report:
            return
        self.next_report = now + PROGRESS_INTERVAL_S
        elapsed = max(now - self.started, 1e-6)
        self.emit(FlashProgress(self.board, phase=self.phase, done=done, total=total,
                                rate=done / elapsed))


class BoardFlash:
    """The flash of one booted board (call :meth:`run` in a worker thread)."""

    def __init__(self, board: BoardRef, records: Mapping[str, str], options: FlashOptions, *,
                 disks: DiskFinder, emit: Callable[[Event], None],
                 stop: threading.Event) -> None:
        self.board = board
        self.records = dict(records)
        self.options = options
        self.disks = disks
        self.emit = emit
        self.stop = stop
        self.result = FlashResult(board)
        self.stage = "gadget"

    def run(self) -> FlashResult:
        try:
            self._flash()
        except RpibootError as exc:
            self._fail(exc)
        except Exception as exc:  # a bug ends this board's flash, never the others'
            log.debug("%s: internal error while flashing", self.board.label(), exc_info=True)
            self._fail(InternalError(
                f"{self.board.label()}: internal error while flashing: "
                f"{type(exc).__name__}: {exc}",
                hint="This is a bug in rpiboot. Re-run with -vv for the traceback and "
                "report it."))
        return self.result

    def _fail(self, exc: RpibootError) -> None:
        stage = next(s for s in STAGES if s.name == self.stage)
        diagnosis = Diagnosis(stage.name, stage.reached, stage.causes)
        self.result.error, self.result.diagnosis = exc, diagnosis
        if not exc.hint or "Last stage reached" not in exc.hint:
            exc.hint = f"{diagnosis.text()}\n{exc.hint}" if exc.hint else diagnosis.text()
        self.emit(BoardFailed(self.board, error=str(exc), hint=exc.hint,
                              exit_code=int(exc.exit_code), stage=stage.name,
                              causes=stage.causes))

    def _enter(self, stage: str) -> None:
        """Start a flash stage (announced: the records time each one)."""
        self.stage = stage
        self.emit(StageStarted(self.board, stage=stage))

    def _timed(self, phase: str, started: float) -> None:
        self.result.phases[phase] = round(time.monotonic() - started, 3)

    def _flash(self) -> None:
        started = time.monotonic()
        self._enter("gadget")
        disk = self._find_disk()
        self._timed("gadget", started)
        self._enter("write")
        written = self._write(disk)
        if self.options.verify:
            self._enter("verify")
            self._verify(disk, written)
        if self.options.customize is not None:
            self._enter("customize")
            self._customize(disk)
        result = self.result
        self.emit(Flashed(self.board, disk=str(disk.path), bytes=result.bytes_written,
                          sha256=result.sha256, write_seconds=result.phases.get("write", 0.0),
                          write_rate=result.write_rate, verified=result.verified,
                          verify_seconds=result.phases.get("verify", 0.0),
                          verify_rate=result.verify_rate, customized=result.customized))

    def _find_disk(self) -> Disk:
        limit = self.options.gadget_timeout
        found = self.disks.wait_for_disks(self.board.port_path,
                                          deadline=time.monotonic() + limit, stop=self.stop)
        if not found:
            if self.stop.is_set():
                raise TimeoutExpired(f"{self.board.label()}: stopped while waiting for its disks")
            raise TimeoutExpired(
                f"{self.board.label()}: the board did not come back as a USB mass-storage "
                f"gadget with a disk within {limit:g} s",
                hint="rpiboot flash boots the board with mass-storage firmware (the default "
                f"firmware, or -d {GADGET_FIRMWARE} / {MSD_FIRMWARE}).")
        disk = select_target(found, self.options.target)
        self.result.disk = disk
        self.emit(GadgetFound(self.board, target=str(disk.path), disks=tuple(
            {"name": d.name, "path": str(d.path), "size": d.size, "lun": d.lun,
             "model": d.model, "read_only": d.read_only} for d in found)))
        return disk

    def _write(self, disk: Disk) -> WriteResult:
        from rpiboot.flash.bmap import find_bmap, load_bmap
        from rpiboot.flash.image import open_image
        from rpiboot.flash.safety import open_for_writing
        from rpiboot.flash.writer import write_image

        opts = self.options
        bmap = None
        if opts.use_bmap:
            bmap_path = opts.bmap or (find_bmap(Path(opts.image)) if opts.image != "-" else None)
            bmap = load_bmap(bmap_path) if bmap_path is not None else None
        source = open_image(opts.image)
        size = bmap.image_size if bmap is not None else source.size
        started = time.monotonic()
        meter = _Meter(self.emit, self.board, "write")
        with open_for_writing(disk, finder=self.disks, port_path=self.board.port_path,
                              image_size=size, unmount=opts.unmount) as target:
            written = write_image(source, target.fd, target_size=target.size, bmap=bmap,
                                  progress=meter, stop=self.stop, target_name=disk.label())
        meter(written.bytes_written, written.bytes_written, final=True)
        self._timed("write", started)
        self.result.bytes_written = written.bytes_written
        self.result.sha256 = written.sha256
        self.result.write_rate = written.bytes_written / max(written.seconds, 1e-6)
        return written

    def _verify(self, disk: Disk, written: WriteResult) -> None:
        from rpiboot.flash.writer import verify_image

        started = time.monotonic()
        meter = _Meter(self.emit, self.board, "verify")
        verify_image(disk.path, written, progress=meter, stop=self.stop,
                     target_name=disk.label())
        self._timed("verify", started)
        self.result.verified = True
        self.result.verify_rate = self.result.bytes_written / max(
            self.result.phases["verify"], 1e-6)

    def _customize(self, disk: Disk) -> None:
        from rpiboot.flash.customize import board_fields, customize_disk
        from rpiboot.flash.safety import WriteRefused

        assert self.options.customize is not None
        if self.disks.owner_port(disk.path) != self.board.port_path:  # still this board's?
            raise WriteRefused(f"{disk.label()} is no longer below {self.board.port_path}; "
                               "its boot partition was not customized", reason="other-port",
                               hint="Re-run rpiboot flash for this board.")
        started = time.monotonic()
        fields = board_fields(port_path=self.board.port_path, metadata=self.records,
                              serial=self.board.serial, chip=self.board.chip)
        done = customize_disk(disk.path, self.options.customize, fields,
                              sector_size=disk.logical_sector)
        self._timed("customize", started)
        self.result.customized = tuple(str(item.path) for item in done)

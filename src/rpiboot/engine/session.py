"""One board's boot, followed by its USB port path through its re-enumerations.

ROM stage -> (board re-enumerates) -> file-server stage -> the board boots its next stage.
Each stage opens a fresh link (:class:`~rpiboot.engine.seams.BoardConnection`) and closes it
(release + dispose) before the board disconnects, so no libusb handle leaks.  Runs in its
own worker thread; its outcome is a :class:`~rpiboot.options.BoardResult`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from rpiboot.chips import Chip
from rpiboot.diagnosis import BootProgress, Diagnosis, diagnose, explains, with_diagnosis
from rpiboot.errors import BootError, InputError, InternalError, RpibootError, TimeoutExpired
from rpiboot.events import (
    BoardAttached,
    BoardFailed,
    BoardFinished,
    BoardRef,
    Event,
    MetadataReceived,
    StageStarted,
)
from rpiboot.metadata import MetadataCollector, save_metadata
from rpiboot.options import BoardResult, BootOptions
from rpiboot.protocol.fileserver import FileServer
from rpiboot.protocol.rom import run_rom_stage
from rpiboot.sources import FileResolver
from rpiboot.usb.devices import DeviceInfo

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from rpiboot.engine.seams import BoardConnection, DeviceSource, LinkFactory

log = logging.getLogger(__name__)

MAX_ROM_ROUNDS = 3  # a ROM that keeps coming back after accepting bootcode is a failure
# Signed boot (-s): the reference requires bootsig.bin in the directory but sends the first
# 20 bytes of bootcode.sig when that file exists; we read bootcode.sig first, then bootsig.bin.
BOOTSIG_NAMES = ("bootcode.sig", "bootsig.bin")


class BoardSession(threading.Thread):
    """Boots one board; ``outcome`` is "finished", "failed" or "skipped" (-i mismatch), and
    :attr:`result` says how it ended."""

    def __init__(self, info: DeviceInfo, options: BootOptions, devices: DeviceSource,
                 emit: Callable[[Event], None], stop: threading.Event,
                 open_link: LinkFactory) -> None:
        super().__init__(name=f"rpiboot-{info.port_path}", daemon=True)
        self.info = info
        self.options = options
        self.devices = devices
        self.open_link = open_link
        self.progress = BootProgress()
        self.diagnosis: Diagnosis | None = None
        self._emit_to = emit
        self.stop = stop
        self.board = BoardRef(info.port_path, None, info.chip.family if info.chip else None)
        self.last_identity = info.identity
        self.outcome = "running"
        self.error: RpibootError | None = None
        self.started_at = time.monotonic()
        self.deadline = self.started_at + options.boot_timeout
        self.serial_checked = False
        self.metadata: MetadataCollector | None = None
        self.metadata_path: Path | None = None

    def emit(self, event: Event) -> None:
        """Report one of this board's events (and remember how far the boot got)."""
        self.progress.observe(event)
        self._emit_to(event)

    @property
    def result(self) -> BoardResult:
        """How this board's boot ended (so far)."""
        records = dict(self.metadata.records) if self.metadata is not None else {}
        return BoardResult(self.board, self.error, records, self.metadata_path,
                           round(time.monotonic() - self.started_at, 3), self.diagnosis)

    def run(self) -> None:
        try:
            self.outcome = self._boot()
        except RpibootError as exc:
            self._fail(exc)
        except Exception as exc:  # a bug must end this board's boot, not hang the server
            log.debug("%s: internal error", self.board.label(), exc_info=True)
            self._fail(InternalError(
                f"{self.board.label()}: internal error: {type(exc).__name__}: {exc}",
                hint="This is a bug in rpiboot. Re-run with -vv for the traceback and "
                "report it."))

    def _fail(self, exc: RpibootError) -> None:
        self.outcome, self.error = "failed", exc
        if explains(exc):
            self.diagnosis = diagnose(self.progress, exc)
            exc.hint = with_diagnosis(exc.hint, self.diagnosis)
        log.info("boot failed: %s", exc)  # the BoardFailed event carries it to the user
        stage, causes = ((self.diagnosis.stage, self.diagnosis.causes) if self.diagnosis
                         else (None, ()))
        self.emit(BoardFailed(self.board, error=str(exc), hint=exc.hint,
                              exit_code=int(exc.exit_code), stage=stage, causes=causes))

    def _boot(self) -> str:
        info = self.info
        rom_rounds = 0
        while True:
            chip = info.chip
            assert chip is not None  # list_devices only yields known boot chips
            if info.is_rom:
                rom_rounds += 1
                if rom_rounds > MAX_ROM_ROUNDS:
                    raise BootError(f"{self.board.label()}: the boot ROM came back "
                                    f"{MAX_ROM_ROUNDS} times after accepting the bootcode",
                                    hint="Check the second-stage file and the board's power.")
                if not self._rom_stage(info, chip):
                    return "skipped"
                info = self._next_stage(info)
            else:
                return self._file_server_stage(info, chip)

    def _attach(self, link: BoardConnection, info: DeviceInfo) -> bool:
        """Read the serial, update the board label, apply -i; False to skip this board."""
        serial = link.read_serial()
        self.board = BoardRef(info.port_path, serial or self.board.serial,
                              info.chip.family if info.chip else None)
        if not self.serial_checked:
            if not self.options.device_filter().matches_serial(serial):
                log.info("%s: serial %r does not match -i %s: left alone", info.port_path,
                         serial, self.options.serial)
                return False
            self.serial_checked = True
        self.emit(BoardAttached(self.board, stage=info.stage, vid_pid=info.vid_pid,
                                serial_index=info.serial_index))
        self.emit(StageStarted(self.board, stage=info.stage))
        return True

    @contextlib.contextmanager
    def _claimed(self, info: DeviceInfo) -> Iterator[BoardConnection | None]:
        """The board's link with its interface claimed, or None when -i rules it out.

        The serial is read before anything is claimed, so a board that does not match is
        never configured or claimed.  The link is always released and disposed.
        """
        link = self.open_link(info)
        try:
            if not self._attach(link, info):
                yield None
                return
            link.open()
            yield link
        finally:
            link.close()

    def _resolver(self, info: DeviceInfo, chip: Chip) -> FileResolver:
        from rpiboot.firmware import find_default_firmware, find_msd_dir

        opts = self.options
        if opts.boot_dir is not None:
            return FileResolver(opts.boot_dir, chip, usb_path=info.port_path,
                                overlay=opts.overlay,
                                fallback_dir=find_msd_dir(opts.firmware_dir))
        firmware = find_default_firmware(chip, opts.firmware_dir)
        return FileResolver(firmware.boot_dir, chip, usb_path=info.port_path,
                            fallback_dir=firmware.msd_dir)

    def _rom_stage(self, info: DeviceInfo, chip: Chip) -> bool:
        resolver = self._resolver(info, chip)
        bootcode = resolver.resolve(chip.second_stage)
        if bootcode is None:
            raise InputError(f"{chip.second_stage} not found for {chip.family} "
                             f"(boot directory {resolver.boot_dir})",
                             hint=f"Put {chip.second_stage} in the boot directory (or "
                             f"{chip.prefix}/{chip.second_stage}).")
        signature = self._signature(resolver, chip)
        with self._claimed(info) as link:
            if link is None:
                return False
            # the whole ROM stage (boot message, bootcode, status) within the stage timeout
            stage_end = min(time.monotonic() + self.options.stage_timeout, self.deadline)
            link.set_deadline(stage_end, stage_timeout=self.options.stage_timeout)
            run_rom_stage(link, chip, bootcode, signature=signature, board=self.board,
                          emit=self.emit, stop=self.stop, status_wait=self.options.status_wait)
        return True

    def _signature(self, resolver: FileResolver, chip: Chip) -> bytes:
        if not self.options.signed:
            return b""
        if not chip.signed_boot_message:
            log.warning("%s: -s applies to BCM2835/7 only; ignored for %s",
                        self.board.label(), chip.family)
            return b""
        for name in BOOTSIG_NAMES:
            source = resolver.resolve(name)
            if source is not None and source.size >= 20:
                log.info("%s: signed boot: signature from %s", self.board.label(), source.label)
                return source.read_all()[:20]
        raise InputError(f"signed boot (-s): neither {' nor '.join(BOOTSIG_NAMES)} holds a "
                         f"20-byte signature in {resolver.boot_dir}",
                         hint="Put the 20-byte bootcode signature (bootcode.sig, or bootsig.bin "
                         f"as upstream's help names it) beside {chip.second_stage}.")

    def _next_stage(self, previous: DeviceInfo) -> DeviceInfo:
        """Wait for the board to re-appear at its port path after a stage."""
        deadline = min(time.monotonic() + self.options.stage_timeout, self.deadline)
        info = self.devices.wait_for(previous.port_path, not_identity=previous.identity,
                                     deadline=deadline, stop=self.stop)
        if info is None:
            if self.stop.is_set():
                raise BootError(f"{self.board.label()}: stopped before the next stage")
            raise TimeoutExpired(
                f"{self.board.label()}: the board did not re-appear for its next stage "
                f"within {self.options.stage_timeout:g} s",
                hint="The second stage did not start: check the power supply and cable; "
                "bootcode for the wrong chip does this too.")
        self.last_identity = info.identity
        return info

    def _file_server_stage(self, info: DeviceInfo, chip: Chip) -> str:
        resolver = self._resolver(info, chip)
        collector = MetadataCollector() if self.options.metadata else None
        self.metadata = collector
        with self._claimed(info) as link:
            if link is None:
                return "skipped"
            link.set_deadline(self.deadline, stage_timeout=self.options.boot_timeout)
            server = FileServer(link, resolver, board=self.board, emit=self.emit,
                                on_metadata=collector.add if collector is not None else None,
                                idle_timeout=self.options.stage_timeout,
                                deadline=self.deadline)
            server.run()
        self._report_metadata(collector)
        self.emit(BoardFinished(self.board, seconds=round(time.monotonic() - self.started_at,
                                                          3)))
        return "finished"

    def _save_metadata(self, directory: Path, collector: MetadataCollector) -> None:
        """Write the board's file.  When that fails (the disk filled, the folder became
        read-only while boards were served) nothing is lost: an error-level line names the
        file and why, ``metadata_path`` stays None, and the records still go out in the
        MetadataReceived event (the command line then prints them on standard output, as
        the reference rpiboot does)."""
        try:
            saved = save_metadata(directory, self.board.serial, collector,
                                  fallback=self.board.port_path)
        except RpibootError as err:
            log.error("warning: %s; the metadata of %s is printed on standard output instead",
                      err.message, self.board.label())
            return
        if saved.note is not None:
            log.warning("%s: %s: metadata written to %s instead", self.board.label(),
                        saved.note, saved.path)
        self.metadata_path = saved.path

    def _report_metadata(self, collector: MetadataCollector | None) -> None:
        """With -j: one JSON object per board (``{}`` when the board sent no records)."""
        if collector is None:
            return
        if self.options.metadata_dir is not None:
            self._save_metadata(self.options.metadata_dir, collector)
        path = str(self.metadata_path) if self.metadata_path is not None else None
        self.emit(MetadataReceived(self.board, data=dict(collector.records), path=path))


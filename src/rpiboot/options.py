"""What a boot run is asked to do (:class:`BootOptions`) and what came of it (results).

Plain data shared by the engine, the public API and the CLI, so none of them imports another
for its types.  Failures are reported one way only: as :class:`~rpiboot.errors.RpibootError`
objects inside the results (a board's ``error``, or the run's ``error`` for failures not
tied to a board, such as no board appearing in time); :meth:`ServeResult.raise_for_error`
turns them into an exception when a caller prefers one.
"""

from __future__ import annotations

from pathlib import Path

from rpiboot.diagnosis import Diagnosis
from rpiboot.errors import ExitCode, RpibootError
from rpiboot.events import BoardRef
from rpiboot.protocol.rom import STATUS_WAIT_S
from rpiboot.record import field, record
from rpiboot.usb.devices import DeviceFilter


@record
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
    metadata: bool = False  # -j given: collect the board's metadata records
    metadata_dir: Path | None = None  # -j DIR; None -> only in the results and events
    wait_timeout: float | None = None  # --timeout: max wait for a board (None = forever)
    stage_timeout: float = 30.0  # one stage incl. waiting for the re-enumerated board
    boot_timeout: float = 300.0  # a whole board boot
    poll_interval: float = 0.02  # device polling interval (-m MICROSECONDS maps here)
    status_wait: float = STATUS_WAIT_S  # wait before reading the ROM status (reference: 1 s)

    def device_filter(self) -> DeviceFilter:
        """The -p / -N / -i selection as a :class:`DeviceFilter`."""
        return DeviceFilter(self.port_path, self.port_number, self.serial)


@record
class BoardResult:
    """How one board's boot ended.  ``error`` is None when it finished its file server."""

    board: BoardRef
    error: RpibootError | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    metadata_path: Path | None = None
    seconds: float = 0.0
    diagnosis: Diagnosis | None = None  # where a failed boot stalled, and why, probably

    @property
    def ok(self) -> bool:
        """True when the board finished its file-server stage (it boots its next stage)."""
        return self.error is None


@record(frozen=False)
class ServeResult:
    """Every board served, plus the failure of the run itself (if any).

    ``error`` holds a failure not tied to one board: no matching board appeared within the
    wait timeout, no firmware to serve, libusb missing.  ``interrupted`` is set when the run
    was stopped by Ctrl-C.
    """

    boards: list[BoardResult] = field(default_factory=list)
    error: RpibootError | None = None
    interrupted: bool = False
    diagnosis: Diagnosis | None = None  # with ``error``: the stage the run stopped at

    @property
    def finished(self) -> list[BoardRef]:
        """Boards that finished their file-server stage."""
        return [r.board for r in self.boards if r.error is None]

    @property
    def failed(self) -> list[tuple[BoardRef, RpibootError]]:
        """Boards whose boot failed, with the error of each."""
        return [(r.board, r.error) for r in self.boards if r.error is not None]

    @property
    def errors(self) -> list[RpibootError]:
        """Every failure: the run's own, then each failed board's."""
        own = [self.error] if self.error is not None else []
        return own + [err for _, err in self.failed]

    @property
    def ok(self) -> bool:
        """True when nothing failed and the run was not interrupted."""
        return not self.errors and not self.interrupted

    @property
    def exit_code(self) -> ExitCode:
        """The process exit status this result maps to (README's exit-code table)."""
        return exit_code_for(self.errors, interrupted=self.interrupted)

    def raise_for_error(self) -> None:
        """Raise the first failure (the run's own first), or Interrupted; else nothing."""
        from rpiboot.errors import Interrupted

        if self.errors:
            raise self.errors[0]
        if self.interrupted:
            raise Interrupted("interrupted")


def exit_code_for(errors: list[RpibootError], *, interrupted: bool = False) -> ExitCode:
    """One exit status for several failures: interrupted (130) first, then a bug (3), then
    a permission problem (5); timeouts only (4); one kind (its code); else 1."""
    if interrupted:
        return ExitCode.INTERRUPTED
    codes = {err.exit_code for err in errors}
    if not codes:
        return ExitCode.OK
    for severe in (ExitCode.INTERNAL, ExitCode.PERMISSION):
        if severe in codes:
            return severe
    if codes == {ExitCode.TIMEOUT}:
        return ExitCode.TIMEOUT
    if len(codes) == 1:
        return next(iter(codes))
    return ExitCode.FAILED

"""Events the boot engine reports while it serves boards.

The engine (``rpiboot.boot``) calls one callback with these objects; the CLI renders them
as human log lines, rich progress bars, or one JSON object per line (``--json``).
``to_json()`` is the versioned JSON event schema documented in README.md.
"""

from __future__ import annotations

from rpiboot.record import asdict, field, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any, ClassVar

SCHEMA_VERSION = 1


@record
class BoardRef:
    """Which board an event is about: its USB port path and (when known) serial string."""

    port_path: str
    serial: str | None = None
    chip: str | None = None  # e.g. "BCM2711"

    def label(self) -> str:
        """Log prefix such as ``1-1.3 [b29d2da0]``."""
        return f"{self.port_path} [{self.serial}]" if self.serial else self.port_path


@record
class Event:
    """Base class; ``kind`` names the event in JSON."""

    kind: ClassVar[str] = "event"
    board: BoardRef | None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data = {"v": SCHEMA_VERSION, "event": self.kind, **data}
        return data


@record
class Waiting(Event):
    """The engine is waiting for a matching board to appear."""

    kind: ClassVar[str] = "waiting"
    filters: dict[str, Any] = field(default_factory=dict)


@record
class BoardAttached(Event):
    """A matching board appeared in a stage (``rom`` or ``fileserver``)."""

    kind: ClassVar[str] = "attached"
    stage: str = "rom"
    vid_pid: str = ""
    serial_index: int = 0


@record
class StageStarted(Event):
    """A board entered a stage: ``rom`` / ``fileserver`` (boot), then with ``rpiboot
    flash`` ``gadget``, ``write``, ``verify``, ``customize``."""

    kind: ClassVar[str] = "stage"
    stage: str = "rom"


@record
class BootcodeSent(Event):
    """The ROM received the second stage and answered ``status`` (0 = accepted)."""

    kind: ClassVar[str] = "bootcode"
    name: str = ""
    size: int = 0
    source: str = ""
    status: int = 0


@record
class TransferProgress(Event):
    """Bytes of one file sent so far (for progress bars; not emitted in --json)."""

    kind: ClassVar[str] = "progress"
    name: str = ""
    done: int = 0
    total: int = 0


@record
class FileServed(Event):
    """A file request was answered. ``size`` None means missing (answered as size 0)."""

    kind: ClassVar[str] = "file"
    name: str = ""
    command: str = "GetFileSize"  # "GetFileSize" | "ReadFile"
    size: int | None = None
    source: str | None = None  # path or "bootfiles.bin:2712/mcb.bin"; None if missing


@record
class NameRefused(Event):
    """The device asked for a name that could escape the boot directory: answered as missing."""

    kind: ClassVar[str] = "refused"
    name: str = ""
    reason: str = ""


@record
class MetadataReceived(Event):
    """All metadata records of a board, in arrival order; ``path`` where it was written."""

    kind: ClassVar[str] = "metadata"
    data: dict[str, str] = field(default_factory=dict)
    path: str | None = None


@record
class BoardFinished(Event):
    """The board finished its file-server stage: it is booting its next stage."""

    kind: ClassVar[str] = "finished"
    seconds: float = 0.0


@record
class BoardFailed(Event):
    """The board's boot failed; ``error`` is a sentence, ``hint`` what to do; ``stage`` the
    last boot stage the board reached and ``causes`` the likely causes (docs/
    troubleshooting.md), when the failure is a stall of the boot (None/empty otherwise)."""

    kind: ClassVar[str] = "error"
    error: str = ""
    hint: str | None = None
    exit_code: int = 1
    stage: str | None = None
    causes: tuple[str, ...] = ()


@record
class ServeFailed(Event):
    """The run failed for a reason not tied to one board (``board`` is None): no matching
    board appeared in time, nothing to serve, no libusb.  Same JSON shape as BoardFailed."""

    kind: ClassVar[str] = "error"
    error: str = ""
    hint: str | None = None
    exit_code: int = 1
    stage: str | None = None
    causes: tuple[str, ...] = ()


@record
class GadgetFound(Event):
    """``rpiboot flash``: the board came back as a USB mass-storage gadget with these disks
    (each ``{"name", "path", "size", "lun", "model", "read_only"}``)."""

    kind: ClassVar[str] = "gadget"
    disks: tuple[dict[str, Any], ...] = ()
    target: str = ""  # the disk that will be written (its path)


@record
class FlashProgress(Event):
    """``rpiboot flash``: bytes written or verified so far (progress bars; not in --json)."""

    kind: ClassVar[str] = "flash_progress"
    phase: str = "write"  # "write" | "verify"
    done: int = 0
    total: int | None = None
    rate: float = 0.0  # bytes per second so far


@record
class Flashed(Event):
    """``rpiboot flash``: the image is on the board's disk (and read back, unless
    ``verified`` is False because --no-verify was given)."""

    kind: ClassVar[str] = "flashed"
    disk: str = ""
    bytes: int = 0
    sha256: str = ""
    write_seconds: float = 0.0
    write_rate: float = 0.0  # bytes per second
    verified: bool = False
    verify_seconds: float = 0.0
    verify_rate: float = 0.0
    customized: tuple[str, ...] = ()  # files added or replaced in the boot partition

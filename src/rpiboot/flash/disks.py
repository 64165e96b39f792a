"""Disks below a board's USB port (PROVISIONAL: the design's record and protocol only;
the Linux finder lands with the disk-discovery branch)."""

from __future__ import annotations

import threading
from pathlib import Path

from rpiboot.errors import UsageError
from rpiboot.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    class DiskFinder(Protocol):
        def disks_below(self, port_path: str) -> list[Disk]: ...
        def wait_for_disks(self, port_path: str, *, deadline: float,
                           stop: threading.Event | None = None,
                           settle: float = 0.5) -> list[Disk]: ...
        def owner_port(self, path: Path) -> str | None: ...


@record
class Disk:
    """One block device a board's mass-storage gadget exports."""

    path: Path
    size: int
    logical_sector: int
    read_only: bool
    removable: bool
    vendor: str
    model: str
    lun: int
    port_path: str
    name: str
    serial: str | None = None
    mounted: tuple[str, ...] = ()
    sysfs: str | None = None


def select_target(disks: list[Disk], target: int | str) -> Disk:
    """The disk ``--target`` names: a LUN number, or a model substring."""
    if isinstance(target, int):
        found = [d for d in disks if d.lun == target]
    else:
        found = [d for d in disks if target.lower() in d.model.lower()]
    if len(found) == 1:
        return found[0]
    listed = ", ".join(f"LUN {d.lun} {d.model} ({d.size} bytes)" for d in disks)
    raise UsageError(f"--target {target}: {'no' if not found else 'more than one'} disk "
                     f"matches; the board has: {listed or 'no disk'}",
                     hint="Pass a LUN number (0 = the first) or a part of the model name.")

"""A DiskFinder over regular files standing in for disks: port path -> files.  What
in-process tests (and the flow's tests) use where no sysfs or real device exists; it can
also lie (``owner``) to prove that safety.open_for_writing believes nothing it has not
re-checked."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from rpiboot.flash.disks import Disk, wait_until_stable
from rpiboot.record import replace


class FileDiskFinder:
    def __init__(self) -> None:
        self.ports: dict[str, list[Disk]] = {}
        self.owner: dict[Path, str | None] = {}

    def add(self, port_path: str, path: Path, *, lun: int = 0, size: int | None = None,
            read_only: bool = False, mounted: tuple[str, ...] = (),
            model: str = "File-Stor Gadget", dev: str | None = None) -> Disk:
        disk = Disk(path=path, size=path.stat().st_size if size is None else size,
                    logical_sector=512, read_only=read_only, removable=True, vendor="Linux",
                    model=model, lun=lun, port_path=port_path, name=path.name,
                    serial="b29d2da0", mounted=mounted, dev=dev)
        self.ports.setdefault(port_path, []).append(disk)
        self.owner[path] = port_path
        return disk

    def update(self, disk: Disk, **changes: object) -> Disk:
        """The disk as the finder will report it from now on."""
        new = replace(disk, **changes)
        below = self.ports[disk.port_path]
        below[below.index(disk)] = new
        return new

    def disks_below(self, port_path: str) -> list[Disk]:
        return list(self.ports.get(port_path, []))

    def wait_for_disks(self, port_path: str, *, deadline: float,
                       stop: threading.Event | None = None, settle: float = 0.5) -> list[Disk]:
        return wait_until_stable(lambda: self.disks_below(port_path), deadline=deadline,
                                 stop=stop, settle=settle, interval=0.01,
                                 clock=time.monotonic)

    def owner_port(self, path: Path) -> str | None:
        return self.owner.get(Path(path))

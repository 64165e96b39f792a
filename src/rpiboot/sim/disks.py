"""File-backed disks for simulated mass-storage gadgets, found by their board's port path.

A board whose ``second_stage.after`` re-appears as a gadget may list ``disks`` (the bench's
format: ``name``, ``bytes``, ``fill`` zero/random, ``ro``, ``vendor``, ``model``) and
``disks_delay``.  :class:`SimDisks` creates one regular file per disk in a folder and, once
the board's gadget has been attached for ``disks_delay`` (scaled by the bus's time scale),
reports them below the board's port — it is a ``DiskFinder`` (rpiboot.flash), so the real
flash flow writes and verifies the files as it would a block device.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rpiboot.flash.disks import Disk
from rpiboot.sim.board import Board
from rpiboot.sim.bus import VirtualBus

FILL_BLOCK = 1 << 20
POLL_S = 0.01


def _fill(path: Path, size: int, fill: str, seed: str) -> None:
    with open(path, "wb") as handle:
        if fill == "random":
            for block in range(0, size, FILL_BLOCK):
                data = hashlib.shake_256(f"{seed}:{block // FILL_BLOCK}".encode())
                handle.write(data.digest(min(FILL_BLOCK, size - block)))
        else:
            handle.truncate(size)


class SimDisks:
    """The disks of every simulated gadget on ``bus``, as files under ``folder``."""

    def __init__(self, bus: VirtualBus, folder: Path) -> None:
        self.bus = bus
        self.folder = Path(folder)
        self._disks: dict[str, list[tuple[Disk, float]]] = {}  # port -> (disk, delay)
        for board in bus.boards:
            self._prepare(board)

    def _prepare(self, board: Board) -> None:
        after: Mapping[str, Any] = board.after
        specs = after.get("disks") or []
        if after.get("action") != "reappear" or not specs:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        delay = float(after.get("disks_delay", 0.0)) * self.bus.time_scale
        found = []
        for lun, spec in enumerate(specs):
            name = str(spec.get("name", f"disk{lun}"))
            path = self.folder / f"{board.id}-{name}.img"
            size = int(spec["bytes"])
            _fill(path, size, str(spec.get("fill", "zero")), f"{board.id}:{name}")
            disk = Disk(path=path, size=size, logical_sector=512,
                        read_only=bool(spec.get("ro", False)), removable=True,
                        vendor=str(spec.get("vendor", "Linux")),
                        model=str(spec.get("model", "File-Stor Gadget")), lun=lun,
                        port_path=board.port, name=f"{board.id}/{name}",
                        serial=after.get("serial"))
            found.append((disk, delay))
        self._disks[board.port] = found

    def ports(self) -> list[str]:
        """The port paths of boards that come back with disks."""
        return sorted(self._disks)

    def _gadget_since(self, port_path: str) -> float | None:
        """Monotonic time the gadget at ``port_path`` attached, or None if it is not there."""
        board = next((b for b in self.bus.boards if b.port == port_path), None)
        if board is None or board.next_device is None:
            return None
        for attachment in self.bus.attachments():
            if attachment.device is board.next_device and attachment.port_path == port_path:
                return board.next_device.attached_at
        return None

    def disks_below(self, port_path: str) -> list[Disk]:
        since = self._gadget_since(port_path)
        if since is None:
            return []
        now = time.monotonic()
        return [disk for disk, delay in self._disks.get(port_path, []) if now >= since + delay]

    def wait_for_disks(self, port_path: str, *, deadline: float,
                       stop: threading.Event | None = None, settle: float = 0.05) -> list[Disk]:
        stop = stop or threading.Event()
        expected = len(self._disks.get(port_path, []))
        while not stop.is_set():
            found = self.disks_below(port_path)
            if found and len(found) == expected:
                return found
            if time.monotonic() >= deadline:
                return []
            stop.wait(POLL_S)
        return []

    def owner_port(self, path: Path) -> str | None:
        for port, disks in self._disks.items():
            if any(disk.path == Path(path) for disk, _ in disks):
                return port if self._gadget_since(port) is not None else None
        return None

"""The virtual USB bus: devices plugged in at port paths, with addresses and a pyusb backend.

``VirtualBus.backend`` is a pyusb backend object, so
``usb.core.find(find_all=True, backend=bus.backend)`` sees the simulated boards.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rpiboot.sim.ports import PORT_PATH, Attachment, Scheduler
from rpiboot.sim.transcript import Transcript
from rpiboot.sim.usbmodel import SimDevice

if TYPE_CHECKING:
    from rpiboot.sim.backend import SimBackend
    from rpiboot.sim.board import Board

class VirtualBus:
    """Simulated USB bus number ``busnum``; ``time_scale`` multiplies every device delay
    (1.0 = real board timings for demos, 0.01 or less for tests)."""

    def __init__(self, *, time_scale: float = 1.0, busnum: int = 1) -> None:
        self.busnum = busnum
        self.time_scale = time_scale
        self.transcript = Transcript()
        self.scheduler = Scheduler(time_scale)
        self.boards: list[Board] = []
        self.hubs: set[str] = set()
        self.changed = threading.Condition()  # notified on attach/detach/device state change
        self._by_port: dict[str, Attachment] = {}
        self._next_address = 2  # 1 is the root hub
        self._backend: SimBackend | None = None

    # devices --------------------------------------------------------------------
    def add_hub(self, port_path: str) -> None:
        """A hub at ``port_path`` (boards may then sit at ``port_path.N``)."""
        self._check_port(port_path)
        self.hubs.add(port_path)

    def _check_port(self, port_path: str) -> None:
        match = PORT_PATH.match(port_path)
        if not match or int(match.group(1)) != self.busnum:
            raise ValueError(f"bad port path {port_path!r}: expected e.g. "
                             f"'{self.busnum}-1' or '{self.busnum}-3.2'")
        parent = port_path.rsplit(".", 1)[0] if "." in port_path else None
        if parent is not None and parent not in self.hubs:
            raise ValueError(f"port {port_path}: no hub at {parent} (call add_hub first)")

    def attach(self, device: SimDevice, port_path: str) -> Attachment:
        self._check_port(port_path)
        with self.changed:
            if port_path in self._by_port:
                raise ValueError(f"port {port_path} is occupied")
            attachment = Attachment(device, self.busnum, self._next_address, port_path)
            self._next_address = 2 if self._next_address >= 127 else self._next_address + 1
            device.connected = True
            device.attached_at = time.monotonic()
            self._by_port[port_path] = attachment
            self.changed.notify_all()
        fields: dict[str, Any] = {
            "port": port_path, "devnum": attachment.address,
            "vid": f"{device.descriptor.idVendor:04x}",
            "pid": f"{device.descriptor.idProduct:04x}",
            "iserial": device.descriptor.iSerialNumber,
        }
        if device.serial is not None:
            fields["serial"] = device.serial
        device.log("attach", **fields)
        return attachment

    def detach(self, device: SimDevice, reason: str = "") -> None:
        with self.changed:
            found = [a for a in self._by_port.values() if a.device is device]
            device.connected = False
            for attachment in found:
                del self._by_port[attachment.port_path]
            self.changed.notify_all()
        for attachment in found:
            device.log("detach", port=attachment.port_path, devnum=attachment.address,
                       reason=reason)

    def attachments(self) -> list[Attachment]:
        with self.changed:
            return list(self._by_port.values())

    def is_attached(self, attachment: Attachment) -> bool:
        with self.changed:
            return self._by_port.get(attachment.port_path) is attachment

    def notify(self) -> None:
        """Wake transfers waiting on a NAK (a device's state may have changed)."""
        with self.changed:
            self.changed.notify_all()

    # boards -----------------------------------------------------------------------
    def add_board(self, spec: Mapping[str, Any],
                  content: Mapping[str, bytes] | None = None) -> Board:
        """A board from a bench-format device spec (see docs/simulator.md); ``content`` maps
        ``file:REL`` / ``tar:MEMBER`` to bytes for resolving ``expect`` references."""
        from rpiboot.sim.board import Board

        board = Board(self, spec, content or {})
        self.boards.append(board)
        return board

    def start(self) -> None:
        """Plug in every board (those with ``attach_at`` > 0 later, scaled)."""
        for board in self.boards:
            board.plug_in()

    def wait_boards_finished(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        return all(b.finished.wait(max(0.0, deadline - time.monotonic())) for b in self.boards)

    def problems(self) -> list[str]:
        """Every failed step expectation and protocol error, as sentences (empty = all good)."""
        found = [f"{e['dev']}: protocol error: {e['why']}"
                 for e in self.transcript.protocol_errors()]
        found += [f"{e['dev']}: unexpected access: {e['what']}"
                  for e in self.transcript.events("unexpected_access")]
        for board in self.boards:
            found += board.problems()
        found += [f"simulator error: {exc!r}" for exc in self.scheduler.errors]
        return found

    @property
    def backend(self) -> SimBackend:
        if self._backend is None:
            from rpiboot.sim.backend import SimBackend

            self._backend = SimBackend(self)
        return self._backend

    def close(self) -> None:
        """Cancel pending board actions and unplug everything."""
        self.scheduler.close()
        for attachment in self.attachments():
            self.detach(attachment.device, "simulation closed")

    def __enter__(self) -> VirtualBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


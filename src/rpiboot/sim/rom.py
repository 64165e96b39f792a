"""The simulated boot ROM: receives the boot message and second stage, answers a status."""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from rpiboot.sim.transcript import Transcript
from rpiboot.sim.usbmodel import DeviceDesc, Nak, Setup, SimDevice, Stall, boot_config

# The simulated board keeps its own chip facts on purpose (not rpiboot.chips: the host's view).
PRODUCT_STRINGS = {0x2763: "BCM2708 Boot", 0x2764: "BCM2710 Boot", 0x2711: "BCM2711 Boot",
                   0x2712: "BCM2712D0 Boot"}
MAX_BULK_CHUNK = 16 * 1024


@dataclass(frozen=True)
class Expected:
    """What the device expects the host to send: ``size`` None = any size, ``sha256`` None =
    any content; ``data`` (optional) the bytes, for checking the prefix of a cut transfer."""

    size: int | None
    sha256: str | None = None
    data: bytes | None = None

    def check(self, size: int, digest: str | None) -> str | None:
        """None if ``size``/``digest`` match, else what is wrong."""
        if self.size is not None and size != self.size:
            return f"got {size} bytes, expected {self.size}"
        if self.sha256 is not None and size and digest != self.sha256:
            return f"content sha256 {str(digest)[:16]}… differs from {self.sha256[:16]}…"
        return None

    @classmethod
    def of(cls, data: bytes) -> Expected:
        return cls(len(data), hashlib.sha256(data).hexdigest(), data)


ABSENT = Expected(0)
ANYTHING = Expected(None)


class ByteSink:
    """Receives an announced number of bulk bytes, hashing as it goes (never stores them)."""

    def __init__(self, announced: int, keep: bool = False) -> None:
        self.announced = announced
        self.received = 0
        self.hasher = hashlib.sha256()
        self.kept = bytearray() if keep else None

    def feed(self, data: memoryview) -> None:
        self.hasher.update(data)
        if self.kept is not None:
            self.kept += data
        self.received += len(data)

    @property
    def complete(self) -> bool:
        return self.received >= self.announced

    def digest(self) -> str:
        return self.hasher.hexdigest()


class RomDevice(SimDevice):
    """Boot ROM of one chip family.  ``on_status_read(status)`` runs after the status read."""

    def __init__(self, board_id: str, transcript: Transcript, *, pid: int, serial_index: int,
                 serial: str | None, two_interfaces: bool, status: int, status_delay: float,
                 expect_bootcode: Expected, expect_signature: bytes, after_reject: str,
                 on_status_read: Callable[[int], None], unresponsive: bool = False) -> None:
        strings = {1: "Broadcom", 2: PRODUCT_STRINGS.get(pid, f"BCM{pid:04x} Boot")}
        if serial_index and serial is not None:
            strings[serial_index] = serial
        super().__init__(board_id, "rom", DeviceDesc(0x0A5C, pid, iSerialNumber=serial_index),
                         boot_config(two_interfaces), strings, transcript)
        self.out_endpoint = 0x03 if two_interfaces else 0x01
        self.status = status
        self.status_delay = status_delay
        self.expect_bootcode = expect_bootcode
        self.expect_signature = expect_signature
        self.after_reject = after_reject
        self.on_status_read = on_status_read
        self.state = "await_boot_message"
        self.sink: ByteSink | None = None
        self.announced_length: int | None = None
        self.ready_at = 0.0
        self.attempts = 0
        self.unresponsive = unresponsive  # NAKs every vendor request (bad cable/hub/power)

    def vendor_request(self, setup: Setup, data: bytes) -> bytes | None:
        if self.unresponsive:
            raise Nak(None)
        if not setup.is_in:
            self._announce(setup.length32)
            return None
        if self.state != "processing":
            self.protocol_error(f"status read (wLength {setup.wLength}) while the ROM is "
                                f"{self.state}")
            raise Stall()
        if time.monotonic() < self.ready_at:
            raise Nak(self.ready_at)
        self.log("status_read", retcode=self.status, wLength=setup.wLength)
        self.state = "status_read"
        if self.status != 0 and self.after_reject == "stay":
            self.state = "await_boot_message"
        self.on_status_read(self.status)
        return struct.pack("<i", self.status)

    def _announce(self, length: int) -> None:
        if self.state not in ("await_boot_message", "await_bootcode"):
            self.protocol_error(f"vendor OUT (length {length}) while the ROM is {self.state}")
            raise Stall()
        if self.sink is not None:
            self.protocol_error(f"vendor OUT (length {length}) before the previous "
                                f"{self.sink.announced} bytes arrived")
        if length == 0:
            self.protocol_error("zero-length WRITE during the ROM stage")
            self.sink = None
            return None
        self.sink = ByteSink(length, keep=self.state == "await_boot_message")
        return None

    def handle_bulk_out(self, endpoint: int, data: memoryview) -> int:
        if endpoint != self.out_endpoint:
            self.protocol_error(f"bulk OUT on endpoint {endpoint:#04x}, expected "
                                f"{self.out_endpoint:#04x}")
            raise Stall()
        sink = self.sink
        if sink is None:
            self.protocol_error("bulk OUT without a length announcement", n=len(data))
            raise Stall()
        if sink.received + len(data) > sink.announced:
            self.protocol_error(f"{sink.received + len(data)} bulk bytes, "
                                f"{sink.announced} announced")
        sink.feed(data)
        if sink.complete:
            self.sink = None
            if self.state == "await_boot_message":
                self._boot_message(bytes(sink.kept or b""))
            else:
                self._bootcode(sink)
        return len(data)

    def _boot_message(self, blob: bytes) -> None:
        if len(blob) != 24:
            self.protocol_error(f"boot message is {len(blob)} bytes, expected 24")
        length, signature = struct.unpack("<I20s", blob[:24].ljust(24, b"\0"))
        self.attempts += 1
        self.announced_length = length
        self.log("boot_message", length=length, signature=signature.hex(), size=len(blob),
                 signature_ok=signature == self.expect_signature)
        self.state = "await_bootcode"

    def _bootcode(self, sink: ByteSink) -> None:
        digest = sink.digest()
        problem = self.expect_bootcode.check(sink.received, digest)
        if problem is None and self.announced_length != sink.received:
            problem = f"boot message announced {self.announced_length} bytes"
        self.log("bootcode", size=sink.received, sha256=digest, ok=problem is None,
                 **({"why": problem} if problem else {}))
        self.state = "processing"
        self.ready_at = time.monotonic() + self.status_delay

"""A transport-independent model of a USB device as the device sees its transfers.

A :class:`SimDevice` answers control and bulk transfers.  Its handlers may raise
:class:`Nak` (not ready yet: the host controller keeps the transfer pending),
:class:`Stall` (endpoint STALL) or :class:`Gone` (the device was unplugged).  The pyusb
backend in :mod:`rpiboot.sim.backend` turns these into the errors libusb would report.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass, field
from typing import Any

from rpiboot.sim.transcript import Transcript


class Nak(Exception):
    """The device is not ready; ``until`` is when to retry (monotonic s) or None (never)."""

    def __init__(self, until: float | None = None) -> None:
        super().__init__(until)
        self.until = until


class Stall(Exception):
    """Endpoint STALL (libusb: LIBUSB_ERROR_PIPE)."""


class Gone(Exception):
    """The device has been disconnected; ``accepted`` bytes of the transfer got through."""

    def __init__(self, accepted: int = 0) -> None:
        super().__init__(accepted)
        self.accepted = accepted


@dataclass(frozen=True)
class Setup:
    """A control transfer's setup packet."""

    bmRequestType: int
    bRequest: int
    wValue: int
    wIndex: int
    wLength: int

    @property
    def is_in(self) -> bool:
        return bool(self.bmRequestType & 0x80)

    @property
    def request_type(self) -> int:
        """0 standard, 1 class, 2 vendor."""
        return (self.bmRequestType >> 5) & 3

    @property
    def length32(self) -> int:
        """The RPIBOOT convention: a 32-bit length split over wValue (low) and wIndex (high)."""
        return self.wValue | (self.wIndex << 16)

    def hex(self) -> str:
        return struct.pack(
            "<BBHHH", self.bmRequestType, self.bRequest, self.wValue, self.wIndex, self.wLength
        ).hex()


# ------------------------------------------------------------------ descriptors
@dataclass
class EndpointDesc:
    bEndpointAddress: int
    bmAttributes: int = 2  # bulk
    wMaxPacketSize: int = 512
    bInterval: int = 0
    bLength: int = 7
    bDescriptorType: int = 5
    bRefresh: int = 0
    bSynchAddress: int = 0
    extra_descriptors: bytes = b""

    def pack(self) -> bytes:
        return struct.pack(
            "<BBBBHB", 7, 5, self.bEndpointAddress, self.bmAttributes, self.wMaxPacketSize,
            self.bInterval,
        )


@dataclass
class InterfaceDesc:
    bInterfaceNumber: int
    endpoints: list[EndpointDesc]
    bInterfaceClass: int = 0xFF
    bInterfaceSubClass: int = 0
    bInterfaceProtocol: int = 0
    bAlternateSetting: int = 0
    iInterface: int = 0
    bLength: int = 9
    bDescriptorType: int = 4
    extra_descriptors: bytes = b""

    @property
    def bNumEndpoints(self) -> int:
        return len(self.endpoints)

    def pack(self) -> bytes:
        head = struct.pack(
            "<BBBBBBBBB", 9, 4, self.bInterfaceNumber, self.bAlternateSetting,
            len(self.endpoints), self.bInterfaceClass, self.bInterfaceSubClass,
            self.bInterfaceProtocol, self.iInterface,
        )
        return head + b"".join(ep.pack() for ep in self.endpoints)


@dataclass
class ConfigDesc:
    interfaces: list[InterfaceDesc]
    bConfigurationValue: int = 1
    bmAttributes: int = 0x80
    bMaxPower: int = 50
    iConfiguration: int = 0
    bLength: int = 9
    bDescriptorType: int = 2
    extra_descriptors: bytes = b""

    @property
    def bNumInterfaces(self) -> int:
        return len(self.interfaces)

    @property
    def wTotalLength(self) -> int:
        return len(self.pack())

    def pack(self) -> bytes:
        body = b"".join(i.pack() for i in self.interfaces)
        return struct.pack(
            "<BBHBBBBB", 9, 2, 9 + len(body), len(self.interfaces), self.bConfigurationValue,
            self.iConfiguration, self.bmAttributes, self.bMaxPower,
        ) + body


@dataclass
class DeviceDesc:
    idVendor: int
    idProduct: int
    iManufacturer: int = 1
    iProduct: int = 2
    iSerialNumber: int = 0
    bcdDevice: int = 0
    bcdUSB: int = 0x0200
    bDeviceClass: int = 0
    bDeviceSubClass: int = 0
    bDeviceProtocol: int = 0
    bMaxPacketSize0: int = 64
    bNumConfigurations: int = 1
    bLength: int = 18
    bDescriptorType: int = 1

    def pack(self) -> bytes:
        return struct.pack(
            "<BBHBBBBHHHBBBB", 18, 1, self.bcdUSB, self.bDeviceClass, self.bDeviceSubClass,
            self.bDeviceProtocol, self.bMaxPacketSize0, self.idVendor, self.idProduct,
            self.bcdDevice, self.iManufacturer, self.iProduct, self.iSerialNumber,
            self.bNumConfigurations,
        )


def bulk_interface(number: int, out_ep: int, in_ep: int, cls: int = 0xFF) -> InterfaceDesc:
    """A vendor (or other class) interface with one bulk OUT and one bulk IN endpoint."""
    sub, proto = (6, 0x50) if cls == 8 else (0, 0)
    return InterfaceDesc(
        number, [EndpointDesc(out_ep), EndpointDesc(in_ep)], cls, sub, proto
    )


def boot_config(two_interfaces: bool) -> ConfigDesc:
    """The Broadcom boot configuration: one vendor interface (EP 0x01 OUT / 0x82 IN), or the
    BCM2837 ROM variant with a mass-storage interface 0 and the vendor interface 1 (EP 0x03)."""
    if not two_interfaces:
        return ConfigDesc([bulk_interface(0, 0x01, 0x82)])
    return ConfigDesc([bulk_interface(0, 0x02, 0x81, cls=8), bulk_interface(1, 0x03, 0x84)])


def string_descriptor(text: str) -> bytes:
    encoded = text.encode("utf-16-le")[:252]
    return bytes([2 + len(encoded), 3]) + encoded


# ------------------------------------------------------------------ device base
@dataclass
class SimDevice:
    """One USB identity of a physical board (a ROM, a second stage, a gadget, ...).

    ``board_id`` names the physical board across its re-enumerations; ``stage`` says what
    it currently is (``rom``, ``fs``, ``msd``, ``other``).
    """

    board_id: str
    stage: str
    descriptor: DeviceDesc
    config: ConfigDesc
    strings: dict[int, str]
    transcript: Transcript
    connected: bool = False
    attached_at: float | None = None  # monotonic time of the last attach
    claimed: set[int] = field(default_factory=set)
    kernel_driver: set[int] = field(default_factory=set)
    lock: threading.RLock = field(default_factory=threading.RLock)
    leave_alone: bool = False  # any claim/vendor/bulk access is logged as unexpected_access
    access_denied: bool = False  # open_device fails with LIBUSB_ERROR_ACCESS

    def __post_init__(self) -> None:
        self.kernel_driver = {i.bInterfaceNumber for i in self.config.interfaces
                              if i.bInterfaceClass == 8}

    @property
    def serial(self) -> str | None:
        index = self.descriptor.iSerialNumber
        return self.strings.get(index) if index else None

    def log(self, ev: str, **fields: Any) -> None:
        self.transcript.add(ev, dev=self.board_id, stage=self.stage, **fields)

    def protocol_error(self, why: str, **fields: Any) -> None:
        self.log("protocol_error", why=why, **fields)

    # transfers -----------------------------------------------------------------
    def control(self, setup: Setup, data: bytes) -> bytes | None:
        """Answer a control transfer: bytes for IN, None for OUT."""
        with self.lock:
            if not self.connected:
                raise Gone()
            if setup.request_type == 0:
                return self.standard_request(setup)
            if self.leave_alone:
                self.log("unexpected_access", what=f"vendor/class request {setup.hex()}")
                raise Stall()
            return self.vendor_request(setup, data)

    def bulk_out(self, endpoint: int, data: memoryview) -> int:
        with self.lock:
            if not self.connected:
                raise Gone()
            if self.leave_alone:
                self.log("unexpected_access", what=f"bulk OUT ep {endpoint:#04x}", n=len(data))
                raise Stall()
            return self.handle_bulk_out(endpoint, data)

    def bulk_in(self, endpoint: int, length: int) -> bytes:
        with self.lock:
            if not self.connected:
                raise Gone()
            self.log("unexpected_access", what=f"bulk IN ep {endpoint:#04x}", n=length)
            raise Stall()

    def vendor_request(self, setup: Setup, data: bytes) -> bytes | None:
        self.log("unexpected_access", what=f"vendor request {setup.hex()}")
        raise Stall()

    def handle_bulk_out(self, endpoint: int, data: memoryview) -> int:
        self.log("unexpected_access", what=f"bulk OUT ep {endpoint:#04x}", n=len(data))
        raise Stall()

    def standard_request(self, setup: Setup) -> bytes | None:
        if setup.bRequest == 6 and setup.is_in:  # GET_DESCRIPTOR
            return self._descriptor(setup.wValue >> 8, setup.wValue & 0xFF)
        if setup.bRequest == 0 and setup.is_in:  # GET_STATUS
            return b"\x00\x00"
        if setup.bRequest == 8 and setup.is_in:  # GET_CONFIGURATION
            return bytes([self.config.bConfigurationValue])
        if not setup.is_in and setup.bRequest in (1, 3, 9, 11):  # features, SET_CONFIG/IFACE
            return None
        raise Stall()

    def _descriptor(self, dtype: int, index: int) -> bytes:
        if dtype == 1:
            return self.descriptor.pack()
        if dtype == 2 and index == 0:
            return self.config.pack()
        if dtype == 3:
            if index == 0:
                return bytes([4, 3, 0x09, 0x04])  # LANGID en-US
            if index in self.strings:
                self.log("string_read", idx=index)
                return string_descriptor(self.strings[index])
        raise Stall()

    # life cycle hooks ---------------------------------------------------------
    def claim(self, interface: int) -> None:
        self.claimed.add(interface)
        self.log("claim_interface", iface=interface)
        if self.leave_alone:
            self.log("unexpected_access", what=f"claim interface {interface}")

    def release(self, interface: int) -> None:
        self.claimed.discard(interface)
        self.log("release_interface", iface=interface)

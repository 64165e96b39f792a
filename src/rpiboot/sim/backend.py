"""A pyusb backend (``usb.backend.IBackend``) over a :class:`~rpiboot.sim.bus.VirtualBus`.

Errors are the ones pyusb's libusb1 backend raises: a NAK that outlasts the transfer's
timeout → ``USBTimeoutError`` (LIBUSB_ERROR_TIMEOUT), an unplugged device → ``USBError``
with errno ENODEV (LIBUSB_ERROR_NO_DEVICE), a STALL → ``USBError`` EPIPE.
"""

from __future__ import annotations

import array
import errno
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import usb.backend
from usb.core import USBError, USBTimeoutError

from rpiboot.sim.rom import MAX_BULK_CHUNK
from rpiboot.sim.usbmodel import ConfigDesc, Gone, Nak, Setup, SimDevice, Stall

if TYPE_CHECKING:
    from rpiboot.sim.ports import Attachment, BackendHost

LIBUSB_ERROR_IO, LIBUSB_ERROR_ACCESS, LIBUSB_ERROR_NO_DEVICE = -1, -3, -4
LIBUSB_ERROR_NOT_FOUND, LIBUSB_ERROR_BUSY, LIBUSB_ERROR_TIMEOUT = -5, -6, -7
LIBUSB_ERROR_PIPE = -9
LIBUSB_SPEED_HIGH = 3


def no_device() -> USBError:
    return USBError("No such device (it may have been disconnected)", LIBUSB_ERROR_NO_DEVICE,
                    errno.ENODEV)


def timed_out() -> USBTimeoutError:
    return USBTimeoutError("Operation timed out", LIBUSB_ERROR_TIMEOUT, errno.ETIMEDOUT)


def pipe_error() -> USBError:
    return USBError("Pipe error", LIBUSB_ERROR_PIPE, errno.EPIPE)


@dataclass
class DeviceDescriptorView:
    """The attributes pyusb's ``Device`` copies from a backend's device descriptor."""

    bLength: int
    bDescriptorType: int
    bcdUSB: int
    bDeviceClass: int
    bDeviceSubClass: int
    bDeviceProtocol: int
    bMaxPacketSize0: int
    idVendor: int
    idProduct: int
    bcdDevice: int
    iManufacturer: int
    iProduct: int
    iSerialNumber: int
    bNumConfigurations: int
    address: int
    bus: int
    port_number: int
    port_numbers: tuple[int, ...]
    speed: int


@dataclass
class SimHandle:
    attachment: Attachment
    open: bool = True


class SimBackend(usb.backend.IBackend):  # type: ignore[misc]
    """pyusb backend whose devices are the virtual bus's attachments."""

    def __init__(self, bus: BackendHost) -> None:
        super().__init__()
        self.bus = bus
        self.description = f"rpiboot simulator (virtual bus {bus.busnum})"

    # enumeration and descriptors --------------------------------------------------------
    def enumerate_devices(self) -> list[Attachment]:
        return self.bus.attachments()

    def get_parent(self, dev: Attachment) -> None:
        return None

    def get_device_descriptor(self, dev: Attachment) -> DeviceDescriptorView:
        d = dev.device.descriptor
        return DeviceDescriptorView(
            d.bLength, d.bDescriptorType, d.bcdUSB, d.bDeviceClass, d.bDeviceSubClass,
            d.bDeviceProtocol, d.bMaxPacketSize0, d.idVendor, d.idProduct, d.bcdDevice,
            d.iManufacturer, d.iProduct, d.iSerialNumber, d.bNumConfigurations,
            dev.address, dev.bus, dev.port_numbers[-1], dev.port_numbers, LIBUSB_SPEED_HIGH,
        )

    def get_configuration_descriptor(self, dev: Attachment, config: int) -> ConfigDesc:
        if config != 0:
            raise USBError("Entity not found", LIBUSB_ERROR_NOT_FOUND, errno.ENOENT)
        return dev.device.config

    def get_interface_descriptor(self, dev: Attachment, intf: int, alt: int, config: int) -> Any:
        interfaces = self.get_configuration_descriptor(dev, config).interfaces
        if intf >= len(interfaces) or alt != 0:
            raise IndexError(f"invalid interface {intf}/{alt}")
        return interfaces[intf]

    def get_endpoint_descriptor(self, dev: Attachment, ep: int, intf: int, alt: int,
                                config: int) -> Any:
        endpoints = self.get_interface_descriptor(dev, intf, alt, config).endpoints
        if ep >= len(endpoints):
            raise IndexError(f"invalid endpoint index {ep}")
        return endpoints[ep]

    # handles ---------------------------------------------------------------------------
    def _live(self, handle: SimHandle) -> SimDevice:
        if not handle.open:
            raise USBError("Invalid parameter (device handle closed)", -2, errno.EINVAL)
        if not self.bus.is_attached(handle.attachment):
            raise no_device()
        return handle.attachment.device

    def open_device(self, dev: Attachment) -> SimHandle:
        if not self.bus.is_attached(dev):
            raise no_device()
        if dev.device.access_denied:
            raise USBError("Access denied (insufficient permissions)", LIBUSB_ERROR_ACCESS,
                           errno.EACCES)
        dev.device.log("open")
        return SimHandle(dev)

    def close_device(self, dev_handle: SimHandle) -> None:
        if dev_handle.open:
            dev_handle.open = False
            dev_handle.attachment.device.log("close")

    def set_configuration(self, dev_handle: SimHandle, config_value: int) -> None:
        self._live(dev_handle)

    def get_configuration(self, dev_handle: SimHandle) -> int:
        return self._live(dev_handle).config.bConfigurationValue

    def set_interface_altsetting(self, dev_handle: SimHandle, intf: int, altsetting: int) -> None:
        self._live(dev_handle)

    def claim_interface(self, dev_handle: SimHandle, intf: int) -> None:
        device = self._live(dev_handle)
        if intf >= len(device.config.interfaces):
            raise USBError("Entity not found", LIBUSB_ERROR_NOT_FOUND, errno.ENOENT)
        if intf in device.kernel_driver:
            raise USBError("Resource busy", LIBUSB_ERROR_BUSY, errno.EBUSY)
        device.claim(intf)

    def release_interface(self, dev_handle: SimHandle, intf: int) -> None:
        device = self._live(dev_handle)
        device.release(intf)

    def is_kernel_driver_active(self, dev_handle: SimHandle, intf: int) -> bool:
        return intf in self._live(dev_handle).kernel_driver

    def detach_kernel_driver(self, dev_handle: SimHandle, intf: int) -> None:
        device = self._live(dev_handle)
        device.kernel_driver.discard(intf)
        device.log("detach_kernel_driver", iface=intf)

    def attach_kernel_driver(self, dev_handle: SimHandle, intf: int) -> None:
        self._live(dev_handle)

    def clear_halt(self, dev_handle: SimHandle, ep: int) -> None:
        self._live(dev_handle)

    def reset_device(self, dev_handle: SimHandle) -> None:
        self._live(dev_handle).log("reset_device")

    # transfers ---------------------------------------------------------------------------
    def _wait_ready(self, device: SimDevice, until: float | None, deadline: float | None,
                    attachment: Attachment) -> None:
        """Wait for a NAKing device: until it may be ready, it changes, or the timeout."""
        with self.bus.changed:
            if not self.bus.is_attached(attachment):
                raise no_device()
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise timed_out()
            ends = [t for t in (until, deadline) if t is not None]
            self.bus.changed.wait(min(ends) - now if ends else None)

    def ctrl_transfer(self, dev_handle: SimHandle, bmRequestType: int, bRequest: int,
                      wValue: int, wIndex: int, data: array.array[int], timeout: int) -> int:
        device = self._live(dev_handle)
        setup = Setup(bmRequestType, bRequest, wValue, wIndex, len(data))
        deadline = time.monotonic() + timeout / 1000 if timeout else None
        payload = b"" if setup.is_in else bytes(data)
        while True:
            try:
                answer = device.control(setup, payload)
                break
            except Nak as nak:
                self._wait_ready(device, nak.until, deadline, dev_handle.attachment)
            except Gone:
                raise no_device() from None
            except Stall:
                raise pipe_error() from None
        self.bus.notify()
        if setup.is_in:
            reply = (answer or b"")[: len(data)]
            data[: len(reply)] = array.array("B", reply)
            return len(reply)
        return len(data)

    def bulk_write(self, dev_handle: SimHandle, ep: int, intf: int, data: Any,
                   timeout: int) -> int:
        device = self._live(dev_handle)
        view = memoryview(data).cast("B")
        if len(view) > MAX_BULK_CHUNK:
            device.protocol_error(f"bulk write of {len(view)} bytes in one call "
                                  f"(more than {MAX_BULK_CHUNK})")
        try:
            return device.bulk_out(ep, view)
        except Gone:
            raise no_device() from None
        except Stall:
            raise pipe_error() from None

    def bulk_read(self, dev_handle: SimHandle, ep: int, intf: int, buff: array.array[int],
                  timeout: int) -> int:
        device = self._live(dev_handle)
        try:
            reply = device.bulk_in(ep, len(buff))
        except Gone:
            raise no_device() from None
        except Stall:
            raise pipe_error() from None
        buff[: len(reply)] = array.array("B", reply)
        return len(reply)

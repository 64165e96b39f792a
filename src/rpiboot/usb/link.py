"""One open board: claim its vendor interface and move RPIBOOT messages (spec section 2)."""

from __future__ import annotations

import array
import errno
import logging
import sys
import time
from collections.abc import Iterable

from rpiboot.errors import BootError, DeviceGone, PermissionDenied, RpibootError, TimeoutExpired
from rpiboot.usb.devices import DeviceInfo

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

log = logging.getLogger(__name__)

VENDOR_OUT = 0x40
VENDOR_IN = 0xC0
MAX_BULK_CHUNK = 16 * 1024
CONTROL_TIMEOUT_S = 1.0
BULK_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 20.0

# libusb error codes (pyusb's USBError.backend_error_code)
_LIBUSB_IO, _LIBUSB_ACCESS, _LIBUSB_NO_DEVICE, _LIBUSB_BUSY = -1, -3, -4, -6
_LIBUSB_TIMEOUT, _LIBUSB_PIPE = -7, -9

MAX_TRANSFER_LENGTH = 0xFFFF_FFFF

UDEV_RULE = 'SUBSYSTEM=="usb", ATTR{idVendor}=="0a5c", MODE="0660", GROUP="plugdev"'


def split_length(length: int) -> tuple[int, int]:
    """A transfer length as the vendor request's (wValue, wIndex): low and high 16 bits."""
    if not 0 <= length <= MAX_TRANSFER_LENGTH:
        raise ValueError(f"transfer length {length} does not fit in 32 bits")
    return length & 0xFFFF, length >> 16


def join_length(w_value: int, w_index: int) -> int:
    """Inverse of :func:`split_length`."""
    return (w_index << 16) | w_value


def permission_hint() -> str:
    """What to do about a refused USB open, for this OS."""
    if sys.platform.startswith("linux"):
        return (
            "Let your user open Raspberry Pi boot devices: run 'sudo rpiboot udev install' "
            "(or --group GROUP), then unplug and replug the board; or run as root.\n"
            "By hand instead, a udev rule with your group:\n"
            f"  echo '{UDEV_RULE}' | sudo tee /etc/udev/rules.d/60-rpiboot.rules\n"
            "  sudo udevadm control --reload-rules && sudo udevadm trigger\n"
            "and add yourself to the group: sudo usermod -aG plugdev $USER (then log in again).\n"
            "'rpiboot doctor' shows what is wrong."
        )
    if sys.platform == "darwin":
        return ("Another program may hold the device; close it and retry, or run with sudo.")
    if sys.platform.startswith("win"):
        return ("Install the WinUSB driver for the 'BCM27xx Boot' device (e.g. with Zadig), "
                "then unplug and re-plug the board ('rpiboot doctor' shows which driver is "
                "bound).")
    return "Run with sufficient privileges to open USB devices."


def _is_error(exc: Exception, libusb_code: int, *errnos: int) -> bool:
    code = getattr(exc, "backend_error_code", None)
    return code == libusb_code or getattr(exc, "errno", None) in errnos


def translate_usb_error(exc: Exception, where: str, *, timeout_s: float | None = None
                        ) -> RpibootError:
    """Map a pyusb USBError to the RpibootError a user can act on."""
    import usb.core

    if isinstance(exc, usb.core.USBTimeoutError) or _is_error(exc, _LIBUSB_TIMEOUT,
                                                              errno.ETIMEDOUT):
        limit = f" after {timeout_s:g} s" if timeout_s else ""
        return TimeoutExpired(
            f"{where}: the board did not answer{limit}",
            hint="Check the cable, the USB port/hub and the board's power supply; a signed "
            "bootcode the ROM rejects also looks like this.")
    if _is_error(exc, _LIBUSB_ACCESS, errno.EACCES, errno.EPERM):
        return PermissionDenied(f"{where}: permission denied opening the USB device",
                                hint=permission_hint())
    if _is_error(exc, _LIBUSB_NO_DEVICE, errno.ENODEV, errno.ESHUTDOWN) or _is_error(
            exc, _LIBUSB_IO, errno.EIO) or _is_error(exc, _LIBUSB_PIPE, errno.EPIPE):
        return DeviceGone(f"{where}: the board disconnected ({exc})",
                          hint="If this was not expected, check the cable and power.")
    if _is_error(exc, _LIBUSB_BUSY, errno.EBUSY):
        return BootError(f"{where}: the USB device is busy ({exc})",
                         hint="Another program (another rpiboot?) is using this board.")
    return BootError(f"{where}: USB error: {exc}")


class BoardLink:
    """An opened boot device with its vendor interface claimed.

    Use as a context manager; ``close()`` releases the interface and disposes every libusb
    resource, so nothing leaks when the board re-enumerates.
    """

    def __init__(self, info: DeviceInfo, *, read_timeout: float = READ_TIMEOUT_S) -> None:
        self.info = info
        self.device: Any = info.device
        self.read_timeout = read_timeout
        self.interface = 0
        self.out_endpoint = 0x01
        self._claimed = False
        self.serial: str | None = None
        self.deadline: float | None = None  # monotonic end of the current stage
        self.stage_timeout: float | None = None  # its length, for messages

    def set_deadline(self, deadline: float | None, *, stage_timeout: float | None = None
                     ) -> None:
        """Bound every transfer from now on: none may wait past ``deadline`` (monotonic
        seconds; None: each transfer's own default limit only)."""
        self.deadline = deadline
        self.stage_timeout = stage_timeout

    def _limit(self, default_s: float, what: str) -> float:
        """The timeout for one transfer: its default, cut to what is left of the stage;
        TimeoutExpired when nothing is left."""
        if self.deadline is None:
            return default_s
        left = self.deadline - time.monotonic()
        if left <= 0:
            took = f" of {self.stage_timeout:g} s" if self.stage_timeout else ""
            raise TimeoutExpired(
                f"{self.where}: {what}: the stage's time limit{took} ran out",
                hint="The board stopped answering: check the cable, the USB port/hub and "
                "the board's power supply (--timeout sets the limit).")
        return min(default_s, left)

    @property
    def where(self) -> str:
        """``1-1.3 [serial] (0a5c:2711)``: the log/error prefix of this board."""
        serial = f" [{self.serial}]" if self.serial else ""
        return f"{self.info.port_path}{serial} ({self.info.vid_pid})"

    def __enter__(self) -> BoardLink:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Set the configuration if needed, detach a kernel driver, claim the interface."""
        import usb.core
        import usb.util

        try:
            self._select_configuration()
            self._detach_kernel_driver()
            usb.util.claim_interface(self.device, self.interface)
            self._claimed = True
        except usb.core.USBError as exc:
            self.close()
            raise translate_usb_error(exc, self.where) from exc
        log.debug("%s: claimed interface %d, OUT endpoint %#04x", self.where, self.interface,
                  self.out_endpoint)

    def _select_configuration(self) -> None:
        import usb.core

        try:
            config = self.device.get_active_configuration()
        except usb.core.USBError:
            config = None
        if config is None:
            self.device.set_configuration()
            config = self.device.get_active_configuration()
        if config.bNumInterfaces >= 2:
            self.interface, self.out_endpoint = 1, 0x03
        else:
            self.interface, self.out_endpoint = 0, 0x01

    def _detach_kernel_driver(self) -> None:
        import usb.core

        try:
            if self.device.is_kernel_driver_active(self.interface):
                self.device.detach_kernel_driver(self.interface)
        except (NotImplementedError, usb.core.USBError) as exc:
            # Not supported on macOS/Windows, or no driver bound: nothing to detach.
            log.debug("%s: kernel driver check: %s", self.where, exc)

    def close(self) -> None:
        """Release the interface and free every handle (safe to call twice / after a loss)."""
        import usb.core
        import usb.util

        if self._claimed:
            self._claimed = False
            try:
                usb.util.release_interface(self.device, self.interface)
            except usb.core.USBError as exc:
                log.debug("%s: release_interface: %s", self.where, exc)
        try:
            usb.util.dispose_resources(self.device)
        except usb.core.USBError as exc:
            log.debug("%s: dispose_resources: %s", self.where, exc)

    def read_serial(self) -> str | None:
        """The iSerialNumber string, or None when index 0 or unreadable.

        Needs no claimed interface, so it may be called before :meth:`open` (for -i).
        Raises PermissionDenied / DeviceGone when the device cannot be opened at all.
        """
        import usb.core
        import usb.util

        if not self.info.serial_index:
            return None
        try:
            # get_langids raises on access problems (Device.langids would hide them).
            langids = usb.util.get_langids(self.device)
            if langids:
                self.serial = usb.util.get_string(self.device, self.info.serial_index,
                                                  langids[0])
        except usb.core.USBError as exc:
            error = translate_usb_error(exc, self.where)
            if isinstance(error, (PermissionDenied, DeviceGone)):
                raise error from exc
            log.debug("%s: serial string unreadable: %s", self.where, exc)
        except ValueError as exc:
            log.debug("%s: serial string unreadable: %s", self.where, exc)
        return self.serial

    def _control_out(self, length: int, what: str) -> None:
        import usb.core

        w_value, w_index = split_length(length)
        limit = self._limit(CONTROL_TIMEOUT_S, what)
        try:
            self.device.ctrl_transfer(VENDOR_OUT, 0, w_value, w_index, None,
                                      max(1, int(limit * 1000)))
        except usb.core.USBError as exc:
            raise translate_usb_error(exc, f"{self.where}: {what}", timeout_s=limit) from exc

    def write_header(self, length: int) -> None:
        """The WRITE control request announcing ``length`` bulk bytes."""
        self._control_out(length, f"write header ({length} bytes)")

    def send_size(self, size: int) -> None:
        """The GetFileSize answer: the WRITE header alone, carrying ``size``."""
        self._control_out(size, f"size answer {size}")

    def write(self, data: bytes) -> None:
        """WRITE(data): header with the length, then the bytes in bulk chunks."""
        self.write_chunks(len(data), _split(data))

    def write_chunks(self, length: int, chunks: Iterable[memoryview | bytes]) -> int:
        """WRITE ``length`` bytes produced by ``chunks`` (each <= 16 KiB); returns bytes sent."""
        self.write_header(length)
        sent = 0
        for chunk in chunks:
            self.bulk_out(chunk)
            sent += len(chunk)
        if sent != length:
            raise BootError(f"{self.where}: sent {sent} bytes but announced {length}",
                            hint="The file changed size while it was being served.")
        return sent

    def bulk_out(self, chunk: memoryview | bytes | array.array[int]) -> None:
        """One bulk OUT call of at most 16 KiB on the vendor endpoint."""
        import usb.core

        if len(chunk) > MAX_BULK_CHUNK:
            raise ValueError("bulk chunks are at most 16 KiB")
        buf = chunk if isinstance(chunk, array.array) else array.array("B", chunk)
        limit = self._limit(BULK_TIMEOUT_S, "bulk write")
        try:
            written = self.device.write(self.out_endpoint, buf, max(1, int(limit * 1000)))
        except usb.core.USBError as exc:
            raise translate_usb_error(exc, f"{self.where}: bulk write", timeout_s=limit) from exc
        if written != len(buf):
            raise DeviceGone(f"{self.where}: bulk write took {written} of {len(buf)} bytes",
                             hint="The board stopped receiving; check the cable and power.")

    def read(self, length: int, *, timeout: float | None = None) -> bytes:
        """READ(n): vendor control IN carrying the length in wValue/wIndex."""
        import usb.core

        limit = self._limit(self.read_timeout if timeout is None else timeout,
                            f"read {length} bytes")
        w_value, w_index = split_length(length)
        buf = array.array("B", bytes(length))
        try:
            got = self.device.ctrl_transfer(VENDOR_IN, 0, w_value, w_index, buf,
                                            max(1, int(limit * 1000)))
        except usb.core.USBError as exc:
            raise translate_usb_error(exc, f"{self.where}: read {length} bytes",
                                      timeout_s=limit) from exc
        return buf[:got].tobytes()


def _split(data: bytes) -> Iterable[memoryview]:
    view = memoryview(data)
    for start in range(0, len(view), MAX_BULK_CHUNK):
        yield view[start:start + MAX_BULK_CHUNK]

"""USB transport: the only package that touches pyusb/libusb.

``load_backend`` picks the libusb library; ``devices`` lists boot devices by port path and
applies the user's filters; ``link.BoardLink`` opens one board and moves bytes.
"""

from __future__ import annotations

from rpiboot.usb.backend import load_backend
from rpiboot.usb.devices import DeviceFilter, DeviceInfo, list_devices
from rpiboot.usb.link import BoardLink

__all__ = ["BoardLink", "DeviceFilter", "DeviceInfo", "list_devices", "load_backend"]

"""The :class:`~rpiboot.flash.disks.DiskFinder` of the operating system rpiboot runs on."""

from __future__ import annotations

import sys

from rpiboot.flash.disks import DiskFinder, LinuxDiskFinder


def default_finder() -> DiskFinder:
    """Linux: :class:`~rpiboot.flash.disks.LinuxDiskFinder` (sysfs); macOS:
    :class:`~rpiboot.flash.platform_macos.MacDiskFinder`; Windows:
    :class:`~rpiboot.flash.platform_windows.WindowsDiskFinder`."""
    if sys.platform == "darwin":
        from rpiboot.flash.platform_macos import MacDiskFinder
        return MacDiskFinder()
    if sys.platform.startswith("win"):
        from rpiboot.flash.platform_windows import WindowsDiskFinder
        return WindowsDiskFinder()
    return LinuxDiskFinder()

"""``rpiboot doctor``: one report of everything that decides whether a board boots here.

:func:`diagnose` looks at the host (OS, Python, rpiboot, libusb and its hotplug support),
every Raspberry Pi USB device (port path, speed, hubs, stage, driver, node permissions, a
gadget's disks), the udev rules that give access to them (Linux), the drivers Windows bound
to them, and the installed firmware; every problem it finds says what to do.  It never
claims, configures, opens for transfer or boots a device.
"""

from __future__ import annotations

from rpiboot.doctor.collect import diagnose
from rpiboot.doctor.report import Device, Problem, Report

__all__ = ["Device", "Problem", "Report", "diagnose"]

"""Problems the devices themselves show: no board, a slow link, a weak hub, a board
waiting at a stage, a gadget without its disks.  Each one says what to do."""

from __future__ import annotations

from rpiboot.chips import CHIPS, chip_for
from rpiboot.doctor.report import Device, Problem

FULL_SPEED = 12.0  # Mb/s: a boot ROM is a high-speed (480 Mb/s) device
CABLE = ("a short USB cable known to carry data (many charge-only cables have no data "
         "wires)")
NO_BOARD_FIX = (
    "Check, in this order: (1) the board is in USB boot mode: on a Compute Module, fit the "
    "nRPIBOOT / 'disable eMMC boot' jumper before powering it (J2 on the CM4 IO board, the "
    "same jumper on the CM5 IO board, J4 'USB slave boot' set to EN on the CM1/CM3 IO board, "
    "the EMMC-DISABLE or nRPIBOOT jumper or switch on other carriers); for other boards see "
    "Raspberry Pi's usbboot documentation; (2) " + CABLE + ", in the board's USB device port "
    "(the IO board's USB slave port), not one of its host ports; (3) a port directly on the "
    "computer: avoid front-panel ports, extension cables and unpowered hubs; (4) power: "
    + "; ".join(f"{chip.boards} need a port or hub that gives at least "
                f"{chip.min_port_current_ma} mA, or their own supply"
                for chip in CHIPS.values() if chip.min_port_current_ma)
    + "; (5) power-cycle the board after changing any of these, then run `rpiboot doctor` "
    "again.")


def no_board(devices: list[Device]) -> list[Problem]:
    if any(device.stage != "other" for device in devices):
        return []
    return [Problem("no-board", "warning",
                    "no Raspberry Pi in USB boot mode is connected (no 0a5c:2763/2764/2711/"
                    "2712 device, no mass-storage gadget)", NO_BOARD_FIX)]


def _slow_hub(device: Device) -> str | None:
    slow = [hub for hub in device.hubs if hub.speed is not None and hub.speed <= FULL_SPEED]
    return (f"; the hub at {slow[0].port_path} ({slow[0].vid_pid}) itself runs at "
            f"{slow[0].speed:g} Mb/s (a USB 1.1 hub, or its own cable is bad)") if slow else None


def full_speed(device: Device) -> list[Problem]:
    if device.stage == "other" or device.speed is None or device.speed > FULL_SPEED:
        return []
    hub = _slow_hub(device)
    return [Problem(
        "full-speed", "warning",
        f"{device.label}, {device.stage}: runs at {device.speed:g} Mb/s instead of 480: the "
        f"link fell back to full speed{hub or ''}. Transfers are ~40 times slower and boots "
        "often stall or time out",
        f"Use {CABLE}, plugged directly into a port of the computer (not a front-panel port, "
        "not through an unpowered or USB 1.1 hub); then power-cycle the board.",
        device.port_path)]


def weak_hubs(device: Device) -> list[Problem]:
    bus_powered = [hub for hub in device.hubs if hub.self_powered is False]
    if not bus_powered or device.stage == "other":
        return []
    hub = bus_powered[-1]
    chip = chip_for(device.pid) if device.chip is not None else None
    needs = chip.min_port_current_ma if chip is not None else None
    return [Problem(
        "bus-powered-hub", "warning" if needs else "info",
        f"{device.label}: it is behind a hub that reports itself bus-powered (no power "
        f"supply): {hub.port_path} ({hub.vid_pid}{', ' + hub.product if hub.product else ''})"
        + (f": {chip.boards if chip else ''} boards need at least {needs} mA, more than such "
           "a hub can give" if needs else ""),
        "Give the hub its power supply, or plug the board directly into the computer"
        + (f" on a port that gives at least {needs} mA (or power the board from its own "
           "supply)" if needs else "") + ".", device.port_path)]


def stage_notes(device: Device) -> list[Problem]:
    if device.stage == "rom":
        return [Problem(
            "waiting-in-rom", "info",
            f"{device.label}: a {device.chip} board is waiting in its boot ROM",
            "Run rpiboot (e.g. `rpiboot` for the mass-storage gadget, or `rpiboot -d DIR`) to "
            "boot it; if rpiboot is running and does not see it, compare the port path with "
            "its -p filter.", device.port_path)]
    if device.stage == "fileserver":
        return [Problem(
            "waiting-for-files", "info",
            f"{device.label}: a {device.chip} board is in its second stage, waiting for "
            "rpiboot to serve its files",
            "Run rpiboot with the same boot directory again; if a rpiboot run ended here, its "
            "output names the missing file. Power-cycle the board to start over.",
            device.port_path)]
    if device.stage == "gadget" and not device.block_devices:
        driver = device.driver or "no driver"
        return [Problem(
            "gadget-without-disks", "warning",
            f"{device.label}: the board runs the mass-storage gadget, but no disk of it is "
            f"visible (interface driver: {driver})",
            "Wait a few seconds (usb-storage waits before it scans); if nothing appears, load "
            "the driver (sudo modprobe usb-storage) and check `dmesg` for errors; on a VM, "
            "pass the 0525:a4a5 device through to it.", device.port_path)]
    return []


def libusb_blind(device: Device, description: str | None) -> list[Problem]:
    if device.libusb_visible is not False or device.stage == "other":
        return []
    return [Problem(
        "libusb-cannot-see", "warning",
        f"{device.label}: the kernel lists it, but the loaded libusb ({description}) does not",
        "Point rpiboot at your distribution's libusb: RPIBOOT_LIBUSB=/usr/lib/<arch>/"
        "libusb-1.0.so.0 (in a container, also give it /dev/bus/usb and /run/udev).",
        device.port_path)]


def device_problems(devices: list[Device], libusb_description: str | None) -> list[Problem]:
    problems = no_board(devices)
    for device in devices:
        for check in (full_speed, weak_hubs, stage_notes):
            problems += check(device)
        problems += libusb_blind(device, libusb_description)
    return problems

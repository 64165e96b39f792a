"""A tiny, independent RPIBOOT host used only to exercise the simulator (not the engine)."""

from __future__ import annotations

import errno
import struct
import time

import usb.core
import usb.util

CHUNK = 16 * 1024
FAST = 0.01  # time scale: board delays 100x shorter than on hardware


def find(bus, vid: int = 0x0A5C, timeout: float = 5.0, port: str | None = None,
         stage: str | None = None):
    """Wait for a Broadcom device (optionally at ``port`` and in ``stage`` rom/fs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for dev in usb.core.find(find_all=True, backend=bus.backend, idVendor=vid):
            path = f"{dev.bus}-" + ".".join(map(str, dev.port_numbers))
            is_rom = dev.iSerialNumber in (0, 3)
            if port not in (None, path):
                continue
            if stage is None or (stage == "rom") == is_rom:
                return dev
        with bus.changed:
            bus.changed.wait(0.05)
    raise TimeoutError("no device")


def out_endpoint(dev) -> tuple[int, int]:
    cfg = dev.get_active_configuration()
    return (0, 0x01) if cfg.bNumInterfaces == 1 else (1, 0x03)


def write(dev, data: bytes, ep: int, chunk: int = CHUNK) -> None:
    n = len(data)
    dev.ctrl_transfer(0x40, 0, n & 0xFFFF, n >> 16, None, 1000)
    view = memoryview(data)
    for off in range(0, n, chunk):
        dev.write(ep, bytes(view[off:off + chunk]), 5000)


def read(dev, n: int, timeout: int = 2000) -> bytes:
    return bytes(dev.ctrl_transfer(0xC0, 0, n & 0xFFFF, n >> 16, n, timeout))


def rom_stage(dev, bootcode: bytes, signature: bytes = bytes(20)) -> int:
    iface, ep = out_endpoint(dev)
    usb.util.claim_interface(dev, iface)
    write(dev, struct.pack("<I", len(bootcode)) + signature, ep)
    write(dev, bootcode, ep)
    (status,) = struct.unpack("<i", read(dev, 4, 5000))
    usb.util.dispose_resources(dev)
    return status


def ack_done(dev, ep: int) -> None:
    """Acknowledge Done; the board may already have left to boot its next stage (the
    acknowledgement is optional), so a vanished device is not an error here."""
    try:
        write(dev, b"", ep)
    except usb.core.USBError as err:
        if err.errno != errno.ENODEV:
            raise


def file_server(dev, files: dict[str, bytes], timeout: int = 2000) -> list[tuple[int, str]]:
    """Serve ``files`` until Done; return the (command, name) messages seen."""
    iface, ep = out_endpoint(dev)
    usb.util.claim_interface(dev, iface)
    seen = []
    try:
        while True:
            msg = read(dev, 260, timeout)
            command = struct.unpack_from("<i", msg)[0]
            name = msg[4:].split(b"\0", 1)[0].decode("latin-1")
            seen.append((command, name))
            if command == 2 or not name:
                ack_done(dev, ep)
                return seen
            if name.startswith("*"):
                write(dev, b"", ep)
            elif command == 0:
                size = len(files.get(name, b""))
                dev.ctrl_transfer(0x40, 0, size & 0xFFFF, size >> 16, None, 1000)
            else:
                write(dev, files.get(name, b""), ep)
    finally:
        usb.util.dispose_resources(dev)

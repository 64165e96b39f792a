"""What ``rpiboot doctor`` found: typed records, and the JSON object ``--json`` prints.

Schema version 1 (docs/doctor.md): ``version``, ``host``, ``permissions`` (Linux; null
elsewhere), ``devices``, ``firmware``, ``problems``.  Every problem has ``id``,
``severity`` (``error`` | ``warning`` | ``info``), ``what``, ``fix`` and ``device`` (the port
path it is about, or null).
"""

from __future__ import annotations

from rpiboot.chips import BROADCOM_VID, chip_for, is_rom_stage
from rpiboot.record import asdict, field, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

SCHEMA_VERSION = 1
SEVERITIES = ("error", "warning", "info")
GADGET_ID = (0x0525, 0xA4A5)  # the Linux USB mass-storage gadget a board becomes
STAGES = ("rom", "fileserver", "gadget", "other")
STAGE_NAMES = {"rom": "boot ROM", "fileserver": "second stage (file server)",
               "gadget": "mass-storage gadget", "other": "other Broadcom device"}


def is_pi_device(vid: int, pid: int) -> bool:
    """A device the doctor reports: any Broadcom device, or the mass-storage gadget."""
    return vid == BROADCOM_VID or (vid, pid) == GADGET_ID


def stage_of(vid: int, pid: int, serial_index: int | None) -> str:
    """``rom`` | ``fileserver`` | ``gadget`` | ``other`` (an unknown serial index: ``rom``)."""
    if vid == BROADCOM_VID and chip_for(pid) is not None:
        return "rom" if serial_index is None or is_rom_stage(serial_index) else "fileserver"
    return "gadget" if (vid, pid) == GADGET_ID else "other"


@record
class Problem:
    """Something that stops or slows booting, and what to do about it."""

    id: str  # stable name, for scripts: "permission-denied", "full-speed", "no-board", ...
    severity: str  # "error" | "warning" | "info"
    what: str
    fix: str
    device: str | None = None  # the port path it is about


@record
class Hub:
    """A hub between the host and a device, nearest to the host first."""

    port_path: str
    vid_pid: str
    product: str | None
    speed: float | None
    self_powered: bool | None  # None: unknown


@record
class Node:
    """A device node and what the current user may do with it."""

    path: str
    mode: str  # "0664"
    owner: str
    group: str
    readable: bool
    writable: bool


@record
class Interface:
    """One interface of a device and the kernel driver bound to it (Linux)."""

    number: int
    interface_class: int | None
    driver: str | None


@record
class BlockDevice:
    """A disk that a mass-storage gadget exports, as the host sees it."""

    name: str  # "sda"
    path: str  # "/dev/sda"
    size: int | None  # bytes
    vendor: str | None
    model: str | None
    removable: bool | None
    read_only: bool | None
    writable: bool | None  # by the current user


@record(kw_only=True)
class Device:
    """A Raspberry Pi USB device: a boot ROM, a second stage, a gadget, another 0a5c."""

    port_path: str | None
    vid: int
    pid: int
    bus: int | None = None
    address: int | None = None
    serial_index: int | None = None
    serial: str | None = None
    speed: float | None = None  # Mb/s: 1.5, 12, 480, 5000, ...
    product: str | None = None
    manufacturer: str | None = None
    hubs: tuple[Hub, ...] = ()
    driver: str | None = None  # Linux: of the vendor interface; Windows: the PnP service
    interfaces: tuple[Interface, ...] = ()
    node: Node | None = None
    block_devices: tuple[BlockDevice, ...] = ()
    libusb_visible: bool | None = None  # None: not checked
    notes: tuple[str, ...] = field(default=())

    @property
    def vid_pid(self) -> str:
        return f"{self.vid:04x}:{self.pid:04x}"

    @property
    def stage(self) -> str:
        return stage_of(self.vid, self.pid, self.serial_index)

    @property
    def chip(self) -> str | None:
        chip = chip_for(self.pid) if self.vid == BROADCOM_VID else None
        return chip.family if chip is not None else None

    @property
    def label(self) -> str:
        return f"{self.port_path or '?'} ({self.vid_pid})"

    def to_json(self) -> dict[str, Any]:
        return {
            "port_path": self.port_path, "vid_pid": self.vid_pid, "chip": self.chip,
            "stage": self.stage, "speed": self.speed, "serial": self.serial,
            "serial_index": self.serial_index, "bus": self.bus, "address": self.address,
            "product": self.product, "manufacturer": self.manufacturer,
            "hubs": asdict(list(self.hubs)), "driver": self.driver,
            "interfaces": asdict(list(self.interfaces)),
            "node": asdict(self.node) if self.node is not None else None,
            "block_devices": asdict(list(self.block_devices)),
            "libusb_visible": self.libusb_visible, "notes": list(self.notes),
        }


@record(kw_only=True)
class Report:
    """Everything ``rpiboot doctor`` found."""

    host: dict[str, Any]
    permissions: dict[str, Any] | None
    devices: tuple[Device, ...]
    firmware: dict[str, Any]
    problems: tuple[Problem, ...]

    @property
    def worst(self) -> str | None:
        """The most severe problem's severity, or None when there is none."""
        found = {problem.severity for problem in self.problems}
        return next((severity for severity in SEVERITIES if severity in found), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": SCHEMA_VERSION, "host": self.host, "permissions": self.permissions,
            "devices": [device.to_json() for device in self.devices],
            "firmware": self.firmware,
            "problems": [asdict(problem) for problem in self.problems],
        }

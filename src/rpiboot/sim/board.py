"""One simulated physical board through its USB identities: ROM → second stage → after.

A board is described by a bench-format device spec (a dict, see docs/simulator.md)::

    {"id": "cm4", "port": "1-1", "attach_at": 0, "role": "target",
     "rom": {"pid": "2711", "serial_index": 3, "serial": "af04b2da", "status": 0, ...},
     "second_stage": {"serial_index": 4, "serial": "b29d2da0", "steps": [...],
                      "after": {"action": "disappear", "delay": 0.5},
                      "on_failure": {"action": "disappear", "delay": 0.3}}}

A step marked ``"required"`` that the host answers with size 0 fails the board
(:mod:`rpiboot.sim.requirements`): a ``board_failed`` event, a problem, then ``on_failure``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rpiboot.sim.fileserver import FileServerDevice, Step
from rpiboot.sim.requirements import BoardFailure, RequiredFiles, failure_behaviour
from rpiboot.sim.rom import ABSENT, ANYTHING, Expected, RomDevice
from rpiboot.sim.usbmodel import ConfigDesc, DeviceDesc, SimDevice, bulk_interface

if TYPE_CHECKING:
    from rpiboot.sim.ports import BoardHost


def parse_id(value: str | int) -> int:
    """A USB VID/PID given as hex text ("2711") or an int."""
    return value if isinstance(value, int) else int(str(value), 16)


def resolve_expected(ref: Any, name: str | None, content: Mapping[str, bytes],
                     where: str) -> Expected:
    """Turn a scenario ``expect`` value into an :class:`Expected`."""
    if ref is None or ref == "absent":
        return ABSENT
    if ref == "any":
        return ANYTHING
    if isinstance(ref, dict):
        size = ref.get("size")
        return Expected(None if size is None else int(size), ref.get("sha256"))
    if ref == "present":
        if name is None:
            raise ValueError(f"{where}: 'present' needs a name")
        ref = "file:" + name
    if ref not in content:
        raise ValueError(f"{where}: {ref!r} is not in the scenario's boot directory")
    return Expected.of(content[ref])


def parse_steps(raw_steps: list[dict[str, Any]], content: Mapping[str, bytes],
                where: str) -> list[Step]:
    steps = []
    for i, raw in enumerate(raw_steps):
        op = raw["op"]
        if "name_hex" in raw:
            name = bytes.fromhex(raw["name_hex"])
        elif op == "meta":
            name = ("*" + raw["record"]).encode()
        else:
            name = str(raw.get("name", "")).encode()
        expect = ABSENT
        if op in ("fetch", "get_file_size", "read_file"):
            expect = resolve_expected(raw.get("expect", "present"),
                                      name.decode("utf-8", "backslashreplace"), content,
                                      f"{where} step {i}")
        steps.append(Step(
            op, name, expect, bool(raw.get("force_read", False)),
            raw.get("disconnect_after_bytes"), float(raw.get("seconds", 0.0)),
            raw.get("command"), raw.get("length"),
        ))
    return steps


def gadget_device(board_id: str, bus: BoardHost, after: Mapping[str, Any]) -> SimDevice:
    """What a board turns into after its boot, e.g. a Linux mass-storage gadget 0525:a4a5."""
    descriptor = DeviceDesc(parse_id(after.get("vid", "0525")), parse_id(after.get("pid", "a4a5")),
                            iManufacturer=3, iProduct=4, iSerialNumber=5, bcdDevice=0x0606)
    config = ConfigDesc([bulk_interface(0, 0x02, 0x81, cls=8)], bmAttributes=0xC0)
    strings = {3: "Linux with dwc2", 4: after.get("product", "Mass Storage Gadget"),
               5: after.get("serial", "0123456789abcdef")}
    return SimDevice(board_id, "msd", descriptor, config, strings, bus.transcript,
                     leave_alone=True)


class Board:
    """A physical board; ``finished`` is set once it reached its final state."""

    def __init__(self, bus: BoardHost, spec: Mapping[str, Any],
                 content: Mapping[str, bytes]) -> None:
        self.bus = bus
        self.spec = spec
        self.id = str(spec.get("id", f"board{len(bus.boards)}"))
        self.port = str(spec.get("port", "1-1"))
        self.role = spec.get("role", "target")
        self.finished = threading.Event()
        self.final_state: str | None = None
        rom = spec.get("rom", {})
        self.pid = parse_id(rom.get("pid", "2711"))
        self.rom_spec = rom
        self.rom = self._make_rom(rom, content)
        second = spec.get("second_stage")
        self.after: Mapping[str, Any] = (second or {}).get(
            "after", {"action": "disappear", "delay": 0.5})
        self.on_failure = failure_behaviour(second or {}, f"board {self.id}")
        self.failure: BoardFailure | None = None
        self.fs = self._make_fs(second, content) if second else None
        self.next_device = (gadget_device(self.id, bus, self.after)
                            if self.after.get("action") == "reappear" else None)
        if self.role != "target":
            self.finished.set()

    def _make_rom(self, rom: Mapping[str, Any], content: Mapping[str, bytes]) -> RomDevice:
        default_index = 3 if self.pid in (0x2711, 0x2712) else 0
        expect = (resolve_expected(rom["expect_bootcode"], None, content, f"{self.id} rom")
                  if rom.get("expect_bootcode") else ANYTHING)
        device = RomDevice(
            self.id, self.bus.transcript, pid=self.pid,
            serial_index=int(rom.get("serial_index", default_index)),
            serial=rom.get("serial", "af04b2da"),
            two_interfaces=bool(rom.get("two_interfaces", False)),
            status=int(rom.get("status", 0)),
            status_delay=float(rom.get("status_delay", 0.0)) * self.bus.time_scale,
            expect_bootcode=expect,
            expect_signature=bytes.fromhex(rom.get("expect_signature", "00" * 20)),
            after_reject=rom.get("after_reject", "stay"),
            on_status_read=self._status_read,
            unresponsive=bool(rom.get("unresponsive", False)),
        )
        device.leave_alone = self.role != "target"
        device.access_denied = bool(rom.get("access_denied", False))
        return device

    def _make_fs(self, second: Mapping[str, Any],
                 content: Mapping[str, bytes]) -> FileServerDevice:
        return FileServerDevice(
            self.id, self.bus.transcript, parse_steps(second.get("steps", []), content, self.id),
            pid=parse_id(second.get("pid", self.pid)),
            serial_index=int(second.get("serial_index", 4)),
            serial=str(second.get("serial", "b29d2da0")),
            two_interfaces=bool(second.get("two_interfaces", False)),
            time_scale=self.bus.time_scale, on_done=self._done, on_unplug=self._unplugged,
            required=RequiredFiles(second.get("steps", [])), on_failed=self._failed,
        )

    # life cycle -----------------------------------------------------------------------
    def plug_in(self) -> None:
        at = float(self.spec.get("attach_at", 0.0))
        if at <= 0:
            self.bus.attach(self.rom, self.port)
        else:
            self.bus.scheduler.after(at, self.bus.attach, self.rom, self.port)

    def _finish(self, state: str) -> None:
        if self.failure is not None and not state.startswith("failed"):
            state = f"failed ({self.failure.reason}), then {state}"
        self.final_state = state
        self.finished.set()

    def _failed(self, failure: BoardFailure) -> None:
        """A required file was missing: log it, then behave as ``on_failure`` says."""
        assert self.fs is not None
        action, delay = self.on_failure
        self.failure = self.failure or failure
        self.fs.log("board_failed", reason=failure.reason, needs=list(failure.needs),
                    step=failure.step, action=action, **({"hint": failure.hint}
                                                         if failure.hint else {}))
        if action == "continue":
            return
        self.fs.stop_script()
        if action == "stay":
            self._finish(f"failed ({failure.reason}); stays attached, silent")
        else:
            self.bus.scheduler.after(delay, self._detach_failed, failure)

    def _detach_failed(self, failure: BoardFailure) -> None:
        assert self.fs is not None
        self.bus.detach(self.fs, "board failed")
        self._finish(f"failed ({failure.reason}); left the bus")

    def _status_read(self, status: int) -> None:
        detach_delay = float(self.rom_spec.get("detach_delay", 0.2))
        if status != 0:
            if self.rom.after_reject == "disappear":
                self.bus.scheduler.after(detach_delay, self.bus.detach, self.rom,
                                         "rejected bootcode")
            self._finish(f"ROM rejected the bootcode (status {status})")
            return
        gap = float(self.rom_spec.get("reenum_gap", 0.6))
        self.bus.scheduler.after(detach_delay, self._replace, self.rom, "re-enumerate",
                                 self.fs, gap)
        if self.fs is None:
            self._finish("ROM stage done (no second stage)")

    def _replace(self, device: SimDevice, reason: str, successor: SimDevice | None,
                 gap: float) -> None:
        self.bus.detach(device, reason)
        if successor is not None:
            self.bus.scheduler.after(gap, self._attach, successor)

    def _attach(self, device: SimDevice) -> None:
        self.bus.attach(device, self.port)
        if device is self.next_device:
            self._finish(f"re-appeared as {device.descriptor.idVendor:04x}:"
                         f"{device.descriptor.idProduct:04x}")

    def _done(self) -> None:
        action = self.after.get("action", "disappear")
        delay = float(self.after.get("delay", 0.5))
        if action == "stay":
            self._finish("file server done; device stays")
        elif action == "disappear":
            self.bus.scheduler.after(delay, self._detach_and_finish, "boots next stage")
        elif action == "reappear":
            self.bus.scheduler.after(delay, self._replace, self.fs, "boots next stage",
                                     self.next_device, float(self.after.get("gap", 1.0)))
        else:
            raise ValueError(f"board {self.id}: unknown after.action {action!r}")

    def _detach_and_finish(self, reason: str) -> None:
        assert self.fs is not None
        self.bus.detach(self.fs, reason)
        self._finish(f"gone ({reason})")

    def _unplugged(self, reason: str) -> None:
        assert self.fs is not None
        self.bus.detach(self.fs, reason)
        self._finish(f"gone ({reason})")

    # results --------------------------------------------------------------------------
    def problems(self) -> list[str]:
        """Failed expectations of this board (bootcode and executed steps)."""
        found = [f"{self.id}: bootcode: {e.get('why', 'content differs')}"
                 for e in self.bus.transcript.events("bootcode", dev=self.id) if not e["ok"]]
        if self.fs is not None:
            for i, result in enumerate(self.fs.results):
                found += [f"{self.id}: step {i} {result.op} {result.name!r}: {p}"
                          for p in result.problems]
            found += [f"{self.id}: board failed: {f.reason}" for f in self.fs.failures]
        return found

    def failures(self) -> list[BoardFailure]:
        """The required files this board did not get (empty: it had what it needed)."""
        return list(self.fs.failures) if self.fs is not None else []

    def unexecuted_steps(self) -> list[int]:
        return [i for i, r in enumerate(self.fs.results) if not r.executed] if self.fs else []

    def completed(self) -> bool:
        """Every step executed and met its expectation, no problem anywhere on this board."""
        if self.fs is None:
            return False
        return (not self.problems() and not self.unexecuted_steps()
                and all(r.ok for r in self.fs.results))

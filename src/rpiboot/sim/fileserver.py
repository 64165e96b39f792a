"""The simulated second stage: asks the host for files following a script of steps.

Step vocabulary (the same as the bench scenarios): fetch, get_file_size, read_file, meta,
delay, disconnect, raw, done; fetch/read_file may carry ``disconnect_after_bytes``.
Steps marked ``required`` (see :mod:`rpiboot.sim.requirements`) make the board fail when the
host answers size 0 for them.
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rpiboot.sim.requirements import BoardFailure, RequiredFiles
from rpiboot.sim.rom import ABSENT, PRODUCT_STRINGS, ByteSink, Expected
from rpiboot.sim.transcript import Transcript
from rpiboot.sim.usbmodel import DeviceDesc, Gone, Nak, Setup, SimDevice, Stall, boot_config

GET_FILE_SIZE, READ_FILE, DONE = 0, 1, 2
COMMAND_NAMES = {GET_FILE_SIZE: "GetFileSize", READ_FILE: "ReadFile", DONE: "Done"}


@dataclass(frozen=True)
class Step:
    """One scripted action of the second stage."""

    op: str
    name: bytes = b""
    expect: Expected = ABSENT
    force_read: bool = False
    disconnect_after_bytes: int | None = None
    seconds: float = 0.0
    command: int | None = None
    length: int | None = None


@dataclass
class StepResult:
    op: str
    name: str
    executed: bool = False
    ok: bool | None = None
    problems: list[str] = field(default_factory=list)
    reply_size: int | None = None


def name_fields(name: bytes) -> dict[str, str]:
    """JSON-friendly rendering of a file name the device sends."""
    out = {"name": name.decode("utf-8", "backslashreplace")}
    if not all(0x20 <= b < 0x7F for b in name):
        out["name_hex"] = name.hex()
    return out


class FileServerDevice(SimDevice):
    """Second-stage file-server client.  ``on_done()`` after Done, ``on_unplug(reason)``,
    ``on_failed(failure)`` when a required file was answered with size 0."""

    def __init__(self, board_id: str, transcript: Transcript, steps: list[Step], *, pid: int,
                 serial_index: int, serial: str, two_interfaces: bool, time_scale: float,
                 on_done: Callable[[], None], on_unplug: Callable[[str], None],
                 required: RequiredFiles | None = None,
                 on_failed: Callable[[BoardFailure], None] | None = None) -> None:
        strings = {1: "Broadcom", 2: PRODUCT_STRINGS.get(pid, f"BCM{pid:04x} Boot"),
                   serial_index: serial}
        super().__init__(board_id, "fs", DeviceDesc(0x0A5C, pid, iSerialNumber=serial_index),
                         boot_config(two_interfaces), strings, transcript)
        self.out_endpoint = 0x03 if two_interfaces else 0x01
        self.steps = steps
        self.results = [StepResult(s.op, s.name.decode("utf-8", "backslashreplace"))
                        for s in steps]
        self.actions = self._expand(steps)
        self.time_scale = time_scale
        self.on_done, self.on_unplug = on_done, on_unplug
        self.pending: tuple[str, int] | None = None  # (kind, step index)
        self.sink: ByteSink | None = None
        self.delay_until: float | None = None
        self.vanishing = False
        self.required = required
        self.on_failed = on_failed
        self.failures: list[BoardFailure] = []

    @staticmethod
    def _expand(steps: list[Step]) -> list[tuple[str, int]]:
        actions: list[tuple[str, int]] = []
        for i, step in enumerate(steps):
            if step.op == "fetch":
                actions += [("size", i), ("read_if", i)]
            elif step.op == "get_file_size":
                actions.append(("size", i))
            elif step.op == "read_file":
                actions.append(("read", i))
            elif step.op in ("meta", "done", "raw", "delay", "disconnect"):
                actions.append((step.op, i))
            else:
                raise ValueError(f"unknown step op {step.op!r}")
        return actions

    # results ---------------------------------------------------------------------
    def _problem(self, i: int, text: str) -> None:
        self.results[i].problems.append(text)
        self.results[i].ok = False

    def _ok(self, i: int) -> None:
        if self.results[i].ok is None:
            self.results[i].ok = True

    def _answered(self, i: int, size: int) -> None:
        """The host's answer to a file request: a required file answered 0 fails the board."""
        failure = self.required.answered(i, size) if self.required else None
        if failure is not None:
            self.failures.append(failure)
            if self.on_failed is not None:
                self.on_failed(failure)

    def stop_script(self) -> None:
        """Ask for nothing more: every later message read NAKs (the board gave up)."""
        self.actions.clear()

    def _vanish(self, reason: str) -> None:
        self.vanishing = True
        self.log("unplug", reason=reason)
        self.connected = False
        self.on_unplug(reason)

    # the device's messages ---------------------------------------------------------
    def _message(self, command: int, i: int, kind: str, length: int | None = None) -> bytes:
        step = self.steps[i]
        self.pending = (kind, i)
        self.results[i].executed = True
        self.log("message", command=COMMAND_NAMES.get(command, command), command_id=command,
                 step=i, **name_fields(step.name), **({} if length is None else {"length": length}))
        return struct.pack("<i256s", command, step.name)[: 260 if length is None else length]

    def _next_message(self) -> bytes:
        while self.actions:
            kind, i = self.actions[0]
            step = self.steps[i]
            if kind == "delay":
                if self.delay_until is None:
                    self.delay_until = time.monotonic() + step.seconds * self.time_scale
                    self.results[i].executed = True
                    self._ok(i)
                    self.log("delay", seconds=step.seconds, step=i)
                if time.monotonic() < self.delay_until:
                    raise Nak(self.delay_until)
                self.delay_until = None
                self.actions.pop(0)
                continue
            self.actions.pop(0)
            message = self._action_message(kind, i, step)
            if message is not None:
                return message
        raise Nak(None)  # the script is over: nothing more to say

    def _action_message(self, kind: str, i: int, step: Step) -> bytes | None:
        if kind == "disconnect":
            self.results[i].executed = True
            self._ok(i)
            self._vanish("disconnect step")
            raise Gone()
        if kind in ("size", "meta"):
            return self._message(GET_FILE_SIZE, i, kind)
        if kind == "read_if":
            if step.force_read or (self.results[i].reply_size or 0) > 0:
                return self._message(READ_FILE, i, "read")
            if self.results[i].reply_size is not None:
                self._ok(i)  # size 0 as expected: no ReadFile follows
            return None
        if kind == "read":
            return self._message(READ_FILE, i, "read")
        if kind == "raw":
            self._ok(i)
            return self._message(step.command or 0, i, "raw", step.length)
        # done
        self._ok(i)
        message = self._message(DONE if step.command is None else step.command, i, "done")
        self.on_done()
        return message

    # USB -----------------------------------------------------------------------------
    def vendor_request(self, setup: Setup, data: bytes) -> bytes | None:
        if setup.is_in:
            return self._host_reads(setup)
        self._host_answers(setup)
        return None

    def _host_reads(self, setup: Setup) -> bytes:
        if self.vanishing:
            raise Gone()
        if self.sink is not None and self.pending is not None:
            self.protocol_error(f"host read the next message while "
                                f"{self.sink.announced - self.sink.received} bytes were due")
            self._problem(self.pending[1], "file data incomplete")
            self.sink, self.pending = None, None
        if self.pending is not None:
            kind, i = self.pending
            if kind not in ("done", "raw"):
                self.protocol_error(f"host read the next message without answering {kind} "
                                    f"{self.results[i].name!r}")
                self._problem(i, f"no answer to {kind}")
            self.pending = None
        if setup.wLength < 260:
            self.log("short_message_read", wLength=setup.wLength)
        return self._next_message()

    def _host_answers(self, setup: Setup) -> None:
        length = setup.length32
        if self.pending is None:
            self.protocol_error(f"vendor OUT (length {length}) with no request pending")
            return
        if self.sink is not None:
            self.protocol_error(f"vendor OUT (length {length}) before the previous "
                                f"{self.sink.announced} bytes arrived")
            self.sink = None
        kind, i = self.pending
        if setup.wLength:
            self.protocol_error(f"vendor OUT answer carries a {setup.wLength}-byte data stage")
        if kind == "done":
            self.log("done_ack", length=length, step=i)
            self.pending = None
        elif kind == "raw":
            self.log("reply_raw", length=length, step=i)
            self.sink = ByteSink(length) if length else None
            self.pending = self.pending if length else None
        elif kind in ("size", "meta"):
            self._size_answer(kind, i, length)
        elif length == 0:
            self.pending = None
            self._file_received(i, 0, None)
        else:
            self.sink = ByteSink(length)

    def _size_answer(self, kind: str, i: int, length: int) -> None:
        self.pending = None
        step = self.steps[i]
        want = 0 if kind == "meta" else step.expect.size
        self.results[i].reply_size = length
        ok = want is None or length == want
        self.log("reply_size", length=length, expected=want, ok=ok, step=i,
                 **name_fields(step.name))
        if not ok:
            self._problem(i, f"size answer {length}, expected {want}")
        elif kind == "meta" or step.op == "get_file_size":
            self._ok(i)
        if kind == "size":
            self._answered(i, length)

    def handle_bulk_out(self, endpoint: int, data: memoryview) -> int:
        if endpoint != self.out_endpoint:
            self.protocol_error(f"bulk OUT on endpoint {endpoint:#04x}, expected "
                                f"{self.out_endpoint:#04x}")
            raise Stall()
        sink, pending = self.sink, self.pending
        if sink is None or pending is None:
            self.protocol_error("bulk OUT without a length announcement", n=len(data))
            raise Stall()
        kind, i = pending
        limit = self.steps[i].disconnect_after_bytes if kind == "read" else None
        if limit is not None and sink.received + len(data) >= limit:
            take = limit - sink.received
            sink.feed(data[:take])
            self.sink = self.pending = None
            self._partial_file(i, sink)
            self._vanish(f"disconnect after {limit} bytes of file data")
            raise Gone(take)
        if sink.received + len(data) > sink.announced:
            self.protocol_error(f"{sink.received + len(data)} bulk bytes, "
                                f"{sink.announced} announced")
        sink.feed(data)
        if sink.complete:
            self.sink = self.pending = None
            if kind == "raw":
                self.log("reply_raw_data", size=sink.received, sha256=sink.digest(), step=i)
            else:
                self._file_received(i, sink.received, sink.digest())
        return len(data)

    def _file_received(self, i: int, size: int, digest: str | None) -> None:
        step = self.steps[i]
        problem = step.expect.check(size, digest)
        self.log("reply_file", size=size, sha256=digest, ok=problem is None, step=i,
                 **name_fields(step.name))
        if problem is None:
            self._ok(i)
        else:
            self._problem(i, problem)
        if step.op == "read_file":
            self._answered(i, size)

    def _partial_file(self, i: int, sink: ByteSink) -> None:
        expect = self.steps[i].expect
        ok = expect.size is None or sink.announced == expect.size
        if ok and expect.data is not None:
            ok = hashlib.sha256(expect.data[: sink.received]).hexdigest() == sink.digest()
        self.log("reply_file_partial", announced=sink.announced, received=sink.received,
                 sha256=sink.digest(), ok=ok, step=i, **name_fields(self.steps[i].name))
        if ok:
            self._ok(i)
        else:
            self._problem(i, "partial content or announced size differs from the expected file")

"""Simulated Raspberry Pi boards on a virtual USB bus, exposed as a pyusb backend.

In your own tests (see docs/api.md)::

    from rpiboot import boot_one
    from rpiboot.sim import simulate

    with simulate("cm4") as sim:
        board = boot_one(sim.boot_dir, backend=sim.backend, timeout=10)

Lower level (see docs/simulator.md)::

    from rpiboot.sim import VirtualBus
    bus = VirtualBus(time_scale=0.01)
    board = bus.add_board({"id": "cm4", "port": "1-1", "rom": {"pid": "2711"},
                           "second_stage": {"steps": [{"op": "done"}]}})
    bus.start()
    usb.core.find(find_all=True, backend=bus.backend)   # sees the board's ROM
    bus.transcript.wait_event("done_ack", dev="cm4")
"""

from __future__ import annotations

from rpiboot.sim.board import Board
from rpiboot.sim.bus import VirtualBus
from rpiboot.sim.harness import Simulation, simulate
from rpiboot.sim.presets import PRESETS, preset
from rpiboot.sim.rom import ABSENT, ANYTHING, Expected
from rpiboot.sim.scenario import Scenario, build_bootdir
from rpiboot.sim.transcript import Transcript

__all__ = [
    "ABSENT", "ANYTHING", "PRESETS", "Board", "Expected", "Scenario", "Simulation",
    "Transcript", "VirtualBus", "build_bootdir", "preset", "simulate",
]

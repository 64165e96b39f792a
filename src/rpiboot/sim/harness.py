"""Simulated boards for your own tests: plug one in, boot it through the public API.

    from rpiboot import boot_one
    from rpiboot.sim import simulate

    def test_station_reads_the_mac(tmp_path):
        with simulate("recovery", workdir=tmp_path) as sim:
            board = boot_one(sim.boot_dir, backend=sim.backend, timeout=10)
        assert "MAC_ADDR" in board.metadata
        assert sim.problems() == []

The board is a :class:`~rpiboot.sim.board.Board` on a :class:`~rpiboot.sim.bus.VirtualBus`,
exposed to pyusb as a backend: the real engine, link and pyusb run against it.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rpiboot.sim.backend import SimBackend
from rpiboot.sim.bus import VirtualBus
from rpiboot.sim.presets import PRESETS, preset
from rpiboot.sim.scenario import Scenario
from rpiboot.sim.transcript import Transcript

DEFAULT_SPEED = 50.0  # board delays 50x shorter than on hardware: quick tests


@dataclass
class Simulation:
    """Plugged-in simulated boards: pass :attr:`backend` (and :attr:`boot_dir`) to the API."""

    scenario: Scenario
    served_dir: Path | None = None  # the caller's own boot directory, if one was given

    @property
    def bus(self) -> VirtualBus:
        """The virtual USB bus the boards sit on."""
        return self.scenario.bus

    @property
    def backend(self) -> SimBackend:
        """The pyusb backend to hand to :func:`rpiboot.boot_one` / :class:`rpiboot.Server`."""
        return self.scenario.bus.backend

    @property
    def boot_dir(self) -> Path:
        """The generated boot directory (synthetic files the board expects), or the one
        given to :func:`simulate`."""
        return self.served_dir or self.scenario.bootdir

    @property
    def transcript(self) -> Transcript:
        """Everything the boards saw, as events (see docs/simulator.md)."""
        return self.scenario.bus.transcript

    def wait_finished(self, timeout: float = 10.0) -> bool:
        """Wait until every board reached its final state; False on timeout."""
        return self.scenario.bus.wait_boards_finished(timeout)

    def problems(self) -> list[str]:
        """What the boards found wrong in what the host did, and board failures such as
        "cm4: board failed: start4.elf not found: ..." (empty: all as expected)."""
        return self.scenario.bus.problems()


@contextlib.contextmanager
def simulate(board: str | Mapping[str, Any] = "cm4", *, workdir: Path | None = None,
             speed: float = DEFAULT_SPEED, boot_dir: Path | None = None
             ) -> Iterator[Simulation]:
    """Plug in a simulated board for the duration of the ``with`` block.

    ``board``: a preset name (``rpiboot simulate --list``: cm4, cm5, cm3, pi-zero, recovery,
    recovery5, cm4-secure) or a bench-format scenario dict (docs/simulator.md) with any
    number of boards.
    ``workdir``: where the boot directory is generated (default: a temporary folder,
    removed afterwards).  ``speed``: how many times faster than real boards their own
    delays run.  ``boot_dir``: serve your own directory (the board then accepts whatever
    content it is sent, but still fails without a file its flow needs: see
    :meth:`Simulation.problems`).
    """
    if isinstance(board, str) and board not in PRESETS:
        raise ValueError(f"unknown simulated board {board!r}; choose one of: "
                         + ", ".join(PRESETS))
    spec = preset(board) if isinstance(board, str) else dict(board)
    if speed <= 0:
        raise ValueError("speed must be more than 0")
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(
                prefix="rpiboot-sim-")))
        scenario = Scenario.load(spec, Path(workdir), time_scale=1.0 / speed,
                                 boot_dir=boot_dir)
        stack.callback(scenario.bus.close)
        scenario.bus.start()
        yield Simulation(scenario, Path(boot_dir) if boot_dir is not None else None)

"""``rpiboot simulate BOARD [flags]``: boot a simulated board through the real engine.

The newcomer's demo: no hardware, no firmware.  Without ``-d`` a small demo boot directory
of synthetic files is generated in a temporary folder; with ``-d DIR`` the simulated board
asks for its usual files and accepts whatever DIR provides.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rpiboot.errors import ExitCode, InputError, UsageError

HELP = "boot a simulated board (no hardware needed)"


def build_parser(prog: str = "rpiboot simulate") -> argparse.ArgumentParser:
    """The boot flags, with BOARD positional and ``--list``."""
    from rpiboot.cli.boot_flags import build_parser as boot_parser

    return boot_parser(prog, simulate=True)


def run(args: argparse.Namespace) -> int:
    """``rpiboot simulate --list`` or ``rpiboot simulate BOARD [flags]``."""
    from rpiboot.sim import PRESETS

    if args.list_boards:
        for name, spec in PRESETS.items():
            print(f"{name:10} {spec['description']}")
        return 0
    from rpiboot.cli.serving import json_errors

    with json_errors(args):
        if not args.simulate:
            raise UsageError("which board? " + ", ".join(PRESETS),
                             hint="e.g. 'rpiboot simulate cm4'; 'rpiboot simulate --list'.")
        return run_simulation(args.simulate, args)


def main(argv: Sequence[str]) -> int:
    """In-process entry point: parse ``argv`` and run (errors raise RpibootError)."""
    return run(build_parser().parse_args(argv))


def run_simulation(board: str, args: argparse.Namespace) -> int:
    """Boot the preset ``board`` with the parsed boot flags ``args``; the exit status."""
    from rpiboot.cli.boot_flags import check_metadata_dir
    from rpiboot.sim import Scenario

    spec = _spec(board)
    check_metadata_dir(args)  # before the simulated board is even built
    with tempfile.TemporaryDirectory(prefix="rpiboot-sim-") as tmp:
        scenario = Scenario.load(spec, Path(tmp), time_scale=1.0 / (args.speed or 1.0),
                                 boot_dir=args.boot_dir)
        if args.boot_dir is None:
            args.boot_dir = scenario.bootdir
        has_metadata = any(step.get("op") == "meta" for device in spec["devices"]
                           for step in device.get("second_stage", {}).get("steps", []))
        if has_metadata and args.metadata_dir is None:
            args.metadata_dir = ""  # show the records: JSON on stdout
        return _boot_simulated(scenario, args)


def _spec(board: str) -> dict[str, Any]:
    """A preset's scenario, or a bench scenario file (``*.json``: several boards, hubs,
    ``attach_at`` times; docs/simulator.md)."""
    from rpiboot.sim import PRESETS, preset

    if board in PRESETS:
        return preset(board)
    if board.endswith(".json"):
        from rpiboot.fspaths import read_file

        try:
            spec = json.loads(read_file(board, what="scenario file"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"scenario file {board}: not JSON ({exc})") from None
        if not isinstance(spec, dict) or not isinstance(spec.get("devices"), list):
            raise InputError(f"scenario file {board}: no 'devices' list",
                             hint="See docs/simulator.md for the scenario format.")
        return spec
    raise UsageError(f"unknown simulated board {board!r}",
                     hint="Choose one of: " + ", ".join(PRESETS) + ", or a scenario .json")


def _boot_simulated(scenario: object, args: argparse.Namespace) -> int:
    from rpiboot.cli.boot_flags import build_options, configure_logging
    from rpiboot.cli.serving import run_boot
    from rpiboot.sim import Scenario

    assert isinstance(scenario, Scenario)
    configure_logging(args.verbose, args.quiet)
    options = build_options(args)
    bus = scenario.bus
    chatty = not (args.json_mode or args.quiet)
    if chatty:
        boards = ", ".join(f"{b.id} (0a5c:{b.pid:04x}) at USB path {b.port}" for b in bus.boards)
        print(f"rpiboot: simulating {boards}; serving {args.boot_dir}", file=sys.stderr)
    if args.verbose:
        print(f"rpiboot: using {bus.backend.description}", file=sys.stderr)
    stop = threading.Event()
    if options.loop:
        threading.Thread(target=_stop_when_boards_done, args=(bus, stop), daemon=True).start()
    bus.start()
    code = run_boot(options, bus.backend, args, stop=stop)
    if code == ExitCode.INTERRUPTED:
        bus.close()
        return code
    bus.wait_boards_finished(timeout=5.0 * bus.time_scale + 2.0)
    bus.close()
    problems = bus.problems()
    if chatty or problems:
        _print_board_verdict(bus, problems, Path(args.boot_dir))
    return code if code or not problems else int(ExitCode.FAILED)


def _stop_when_boards_done(bus: object, stop: threading.Event) -> None:
    from rpiboot.sim import VirtualBus

    assert isinstance(bus, VirtualBus)
    bus.wait_boards_finished(timeout=3600)
    stop.wait(1.0 * bus.time_scale + 0.2)
    stop.set()


def _print_board_verdict(bus: object, problems: list[str], boot_dir: Path) -> None:
    from rpiboot.sim import VirtualBus

    assert isinstance(bus, VirtualBus)
    for board in bus.boards:
        state = board.final_state or "still running"
        print(f"rpiboot: simulated board {board.id}: {state}", file=sys.stderr)
    if problems:
        print("rpiboot: the simulated board saw problems:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
    else:
        requests = len(bus.transcript.events("message"))
        print(f"rpiboot: simulated board check: {requests} requests, every answer as "
              "expected", file=sys.stderr)
    hints: set[str] = set()
    for board in bus.boards:
        for failure in board.failures():
            print(f"rpiboot: the simulated board {board.id} needs {failure.missing}: "
                  f"put it in {boot_dir}", file=sys.stderr)
            if failure.hint and failure.hint not in hints:
                hints.add(failure.hint)
                print(f"  {failure.hint}", file=sys.stderr)

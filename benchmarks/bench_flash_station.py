"""Many boards at once: the whole ``rpiboot flash`` flow for 1 and 8 simulated boards.

    .venv/bin/python benchmarks/bench_flash_station.py [--image-mib 64] [--usb-mb-s 40]

Each board boots (in-process simulator, real engine, real timings scaled 1:1), comes back as
a mass-storage gadget with a file-backed disk, gets the image written and read back.  A USB
2.0 link moves ~40 MB/s, far below what the host can write to a file: the benchmark holds each
board's write and verify at ``--usb-mb-s`` (the progress callback, in the board's own worker
thread, waits as a slow disk would), so the disks are not the bottleneck of the host — what
is measured is whether the host keeps 8 boards going as fast as one (goal: ≤ 1.3×).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench_core import print_table

from rpiboot import BootOptions
from rpiboot.events import Event, FlashProgress
from rpiboot.flash.flow import FlashOptions
from rpiboot.flash.station import Flasher
from rpiboot.sim import PRESETS, Scenario
from rpiboot.sim.disks import SimDisks

MIB = 1 << 20


def boards(count: int, disk_bytes: int) -> dict[str, Any]:
    spec = copy.deepcopy(PRESETS["cm5"])
    template = spec["devices"][0]
    spec["hubs"] = [{"id": "hub", "port": "1-3", "ports": 8}]
    spec["devices"] = []
    for n in range(1, count + 1):
        device = copy.deepcopy(template)
        device["id"], device["port"] = f"cm5-{n}", f"1-3.{n}"
        device["rom"]["serial"] = f"{n:08x}"
        device["second_stage"]["after"]["serial"] = f"{n:08x}"
        device["second_stage"]["after"]["disks"] = [
            {"name": "emmc", "bytes": disk_bytes, "fill": "zero"}]
        spec["devices"].append(device)
    return spec


class UsbPace:
    """Holds each board's phase to ``rate`` bytes/s, like a USB 2.0 disk would."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.started: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if not isinstance(event, FlashProgress) or event.board is None:
            return
        key = (event.board.port_path, event.phase)
        with self.lock:
            start = self.started.setdefault(key, time.monotonic())
        ahead = start + event.done / self.rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


def run(count: int, image: Path, tmp: Path, rate: float) -> tuple[float, int]:
    spec = boards(count, 2 * image.stat().st_size)
    scenario = Scenario.load(spec, tmp / f"work{count}", time_scale=1.0)
    disks = SimDisks(scenario.bus, tmp / f"disks{count}")
    done = threading.Event()
    pace = UsbPace(rate)
    finished: list[Event] = []

    def on_event(event: Event) -> None:
        pace(event)
        if event.kind in ("flashed", "error") and event.board is not None:
            finished.append(event)
            if len(finished) == count:
                done.set()

    options = BootOptions(boot_dir=scenario.bootdir, loop=True, wait_timeout=60)
    flasher = Flasher(options, FlashOptions(str(image), gadget_timeout=60), disks=disks,
                      on_event=on_event, backend=scenario.bus.backend)
    threading.Thread(target=lambda: (done.wait(600), flasher.stop()), daemon=True).start()
    scenario.bus.start()
    start = time.monotonic()
    try:
        report = flasher.run()
    finally:
        scenario.bus.close()
    elapsed = max(time.monotonic() - start, 1e-6)
    return elapsed, sum(1 for r in report.boards if r.ok)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-mib", type=int, default=64)
    parser.add_argument("--usb-mb-s", type=float, default=40.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rpiboot-flash-bench-") as name:
        tmp = Path(name)
        image = tmp / "os.img"
        with open(image, "wb") as handle:
            for _ in range(args.image_mib):
                handle.write(os.urandom(MIB))
        rate = args.usb_mb_s * 1e6
        one, ok_one = run(1, image, tmp, rate)
        eight, ok_eight = run(8, image, tmp, rate)
    print_table([
        (f"1 board: boot + write + verify {args.image_mib} MiB at {args.usb_mb_s:g} MB/s",
         f"{one:.2f} s", f"{ok_one}/1 ok"),
        ("8 boards at once, the same each", f"{eight:.2f} s", f"{ok_eight}/8 ok"),
        ("8 boards / 1 board", f"{eight / one:.2f}x", "≤ 1.3x"),
    ])
    return 0 if ok_one == 1 and ok_eight == 8 else 1


if __name__ == "__main__":
    sys.exit(main())

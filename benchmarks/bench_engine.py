"""Boot-engine figures, in-process through the simulator (rpiboot.sim) and the real libusb.

Run:  .venv/bin/python benchmarks/bench_engine.py [--quick]

Prints a table: transfer throughput (256 MiB file), peak RSS while serving a 1 GiB file,
idle CPU while waiting for boards, new-board detection latency, host time per boot with
zero device delays, and 8 boards versus 1.  Figures only: nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from rpiboot.boot import BootOptions, serve
from rpiboot.events import Event
from rpiboot.sim import Scenario

MiB = 1024 * 1024


def _write_file(path: Path, size: int) -> None:
    """A real (not sparse) file: sparse holes read far slower than cached data on ext4."""
    block = os.urandom(MiB)
    with open(path, "wb") as handle:
        for _ in range(size // MiB):
            handle.write(block)
        handle.write(block[: size % MiB])


def _big_file_scenario(work: Path, size: int) -> tuple[Scenario, Path]:
    boot = work / "bootdir"
    boot.mkdir(parents=True)
    (boot / "bootcode4.bin").write_bytes(os.urandom(4096))
    _write_file(boot / "big.img", size)
    spec = {"name": "big", "devices": [{
        "id": "b", "port": "1-1", "rom": {"pid": "2711", "serial_index": 3},
        "second_stage": {"steps": [{"op": "fetch", "name": "big.img", "expect": "any"},
                                   {"op": "done"}],
                         "after": {"action": "disappear", "delay": 0}}}]}
    return Scenario.load(spec, work, time_scale=0.0, boot_dir=boot), boot


def throughput(size: int) -> float:
    """MB/s of one ReadFile of ``size`` bytes (engine + simulated device)."""
    with tempfile.TemporaryDirectory() as tmp:
        scenario, boot = _big_file_scenario(Path(tmp), size)
        marks: dict[str, float] = {}

        def on_event(event: Event) -> None:
            if event.kind == "progress" and getattr(event, "name", "") == "big.img":
                marks.setdefault("start", time.perf_counter())
                marks["end"] = time.perf_counter()

        scenario.bus.start()
        serve(BootOptions(boot_dir=boot, status_wait=0), backend=scenario.bus.backend,
              on_event=on_event)
        scenario.bus.close()
        return size / (marks["end"] - marks["start"]) / 1e6


def peak_rss_mib(size: int) -> float:
    """Peak RSS (MiB) of a fresh process that serves a ``size``-byte file."""
    here = str(Path(__file__).parent)
    code = (f"import resource, sys; sys.path.insert(0, {here!r}); import bench_engine as b; "
            f"b.throughput({size}); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    return int(out.split()[-1]) / 1024


def idle_cpu_percent(seconds: float, backend: Any = None) -> float:
    """CPU % of serve() in loop mode while no board is attached (after start-up)."""
    stop = threading.Event()
    marks: list[tuple[float, float]] = []

    def sample() -> None:
        time.sleep(0.5)
        marks.append((time.process_time(), time.monotonic()))
        time.sleep(seconds)
        marks.append((time.process_time(), time.monotonic()))
        stop.set()

    threading.Thread(target=sample, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        serve(BootOptions(boot_dir=Path(tmp), loop=True), backend=backend, stop=stop)
    (cpu0, wall0), (cpu1, wall1) = marks
    return 100 * (cpu1 - cpu0) / (wall1 - wall0)


def _cm4_spec(port: str, serial: str, start4_size: int) -> dict[str, Any]:
    return {
        "id": f"cm4-{port}", "port": port,
        "rom": {"pid": "2711", "serial_index": 3, "serial": serial},
        "second_stage": {"serial_index": 4, "serial": serial, "steps": [
            {"op": "fetch", "name": "config.txt", "expect": "any"},
            {"op": "fetch", "name": "start4.elf", "expect": "any"},
            {"op": "fetch", "name": "fixup4.dat", "expect": "any"}, {"op": "done"}],
            "after": {"action": "disappear", "delay": 0.1}},
    }


def boot_boards(count: int, *, time_scale: float, status_wait: float,
                attach_at: float = 0.0) -> dict[str, float]:
    """Boot ``count`` CM4s (plugged together) in loop mode; wall time and detection."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        boot = work / "bootdir"
        boot.mkdir()
        (boot / "bootcode4.bin").write_bytes(os.urandom(105984))
        _write_file(boot / "start4.elf", 2 * MiB)
        devices = []
        for i in range(count):
            spec = _cm4_spec(f"1-{i + 1}", f"{i:08x}", 2 * MiB)
            spec["attach_at"] = attach_at
            devices.append(spec)
        scenario = Scenario.load({"name": "n", "devices": devices}, work,
                                 time_scale=time_scale, boot_dir=boot)
        stop = threading.Event()
        times: dict[str, float] = {}
        finished: list[float] = []
        lock = threading.Lock()

        def on_event(event: Event) -> None:
            with lock:
                if event.kind == "attached":
                    times.setdefault("attached", time.monotonic())
                if event.kind in ("finished", "error"):
                    finished.append(time.monotonic())
                    if len(finished) == count:
                        stop.set()

        start = time.monotonic()
        scenario.bus.start()
        serve(BootOptions(boot_dir=boot, loop=True, status_wait=status_wait),
              backend=scenario.bus.backend, on_event=on_event, stop=stop)
        scenario.bus.close()
        return {"wall": max(finished) - start, "detect": times["attached"] - start
                - attach_at * time_scale}


def detection_ms(rounds: int) -> list[float]:
    """Delay from a board's attach (at a random time) to the engine's BoardAttached event."""
    return [1000 * boot_boards(1, time_scale=1.0, status_wait=0.0,
                               attach_at=random.uniform(0.2, 0.3))["detect"]
            for _ in range(rounds)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter idle")
    args = parser.parse_args(argv)
    idle_s = 3.0 if args.quick else 10.0
    rows: list[tuple[str, str, str]] = []

    rows.append(("in-process throughput, 256 MiB file (sim)",
                 f"{throughput(256 * MiB):.0f} MB/s", ">= 400 MB/s"))
    rss_size = 256 * MiB if args.quick else 1024 * MiB
    rows.append((f"peak RSS serving a {rss_size // MiB} MiB file",
                 f"{peak_rss_mib(rss_size):.0f} MiB", "<= 100 MB"))
    from rpiboot.usb.backend import load_backend

    backend, description = load_backend()
    rows.append((f"idle CPU waiting {idle_s:g} s ({description.split(' (')[0]})",
                 f"{idle_cpu_percent(idle_s, backend):.2f} %", "<= 1 %"))
    detect = detection_ms(5 if args.quick else 15)
    rows.append(("new board detected after attach (median, sim)",
                 f"{statistics.median(detect):.0f} ms (max {max(detect):.0f})",
                 "<= 50 ms"))
    zero = boot_boards(1, time_scale=0.0, status_wait=0.0)
    rows.append(("host time per CM4 boot, 2 MiB start4.elf, zero device delays (sim)",
                 f"{zero['wall'] * 1000:.0f} ms", "<= 150 ms"))
    one = boot_boards(1, time_scale=1.0, status_wait=1.0)["wall"]
    eight = boot_boards(8, time_scale=1.0, status_wait=1.0)["wall"]
    rows.append(("1 CM4 board, real device delays + 1 s status wait (sim)", f"{one:.2f} s", ""))
    rows.append(("8 CM4 boards plugged together (sim)",
                 f"{eight:.2f} s ({eight / one:.2f}x)", "<= 1.5x"))

    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'measured':>22}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>22}  {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

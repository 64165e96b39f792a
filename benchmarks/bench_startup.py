"""Start-up on the boot path: from process start to the first USB request (prints a table).

    .venv/bin/python benchmarks/bench_startup.py [--runs 7]

The umockdev bench (../shared/bench) records when the tool started and when the board saw
its first request, so the figure is measured from the device side, through the real system
libusb, exactly as a board would see it.  The interpreter's own start-up (``python -c pass``
under the same umockdev preload) is printed beside it, and the reference C tool's figure
comes from the bench's golden transcript (its first request minus its fixed 1 s sleep).
Bytecode is compiled first, as on an installed system.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_core import BENCH, REPO, RPIBOOT, print_table, system_libusb

DEVICE_EVENTS_AFTER_START = ("claim_interface", "string_read", "vendor_out", "wire")


def first_request_ms(transcript: Path, *, skip_s: float = 0.0) -> float:
    """Milliseconds from ``tool_start`` to the board's first request (minus ``skip_s``)."""
    events = [json.loads(line) for line in transcript.read_text().splitlines()]
    start = next(e["t"] for e in events if e["ev"] == "tool_start")
    first = next(e["t"] for e in events if e.get("dev") not in (None, "_runner")
                 and e["ev"] in DEVICE_EVENTS_AFTER_START and e["t"] >= start)
    return (first - start - skip_s) * 1000


def bench_runs(runs: int, tmp: Path) -> list[float]:
    env = dict(os.environ, RPIBOOT_LIBUSB=system_libusb() or "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    found = []
    for i in range(runs):
        out = tmp / f"run{i}"
        subprocess.run([str(BENCH / "run-scenario"), "cm4-msd", "--tool", f"{RPIBOOT} {{args}}",
                        "--out", str(out), "--quiet"], env=env, check=False, timeout=120,
                       capture_output=True)
        found.append(first_request_ms(out / "transcript.jsonl"))
    return found


def interpreter_ms(runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(["umockdev-wrapper", sys.executable, "-c", "pass"], check=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    compileall.compile_dir(str(REPO / "src"), quiet=1)
    reference = first_request_ms(BENCH / "golden" / "reference" / "cm4-msd" / "transcript.jsonl",
                                 skip_s=1.0)
    with tempfile.TemporaryDirectory(prefix="rpiboot-startup-") as name:
        ours = bench_runs(args.runs, Path(name))
    interp = interpreter_ms(args.runs)
    median = statistics.median(ours)
    print_table([
        (f"bench cm4-msd: process start -> first USB request (median of {args.runs})",
         f"{median:.0f} ms", f"runs: {', '.join(f'{t:.0f}' for t in sorted(ours))}"),
        ("the interpreter alone (python -c pass under umockdev-wrapper, median)",
         f"{interp:.0f} ms", "start-up + exit, no rpiboot code"),
        ("rpiboot's own share (difference)", f"{median - interp:.0f} ms",
         "goal: a few tens of ms"),
        ("reference C rpiboot, same scenario, minus its fixed 1 s sleep", f"{reference:.0f} ms",
         "from the bench's golden transcript"),
    ])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

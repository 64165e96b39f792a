"""Start-up on the boot path: from process start to the first USB request (prints a table).

    .venv/bin/python benchmarks/bench_startup.py [--runs 7] [--baseline OTHER/bin/rpiboot]

The umockdev bench (../shared/bench) records when the tool started and when the board saw
its first request, so the figure is measured from the device side, through the real system
libusb, exactly as a board would see it.  The interpreter's own start-up (``python -c pass``
under the same umockdev preload) is printed beside it, and the reference C tool's figure
comes from the bench's golden transcript (its first request minus its fixed 1 s sleep).
Bytecode is compiled first, as on an installed system.  ``--baseline`` runs another
installation (e.g. an older commit's venv) interleaved with this one, run for run, so both
see the same machine load: on a shared 2-core VM single figures drift by 10-20 ms.
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


def bench_runs(tools: list[str], runs: int, tmp: Path) -> list[list[float]]:
    """First-request latencies of each tool, the tools taking turns run by run."""
    env = dict(os.environ, RPIBOOT_LIBUSB=system_libusb() or "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    found: list[list[float]] = [[] for _ in tools]
    for i in range(runs):
        for n, tool in enumerate(tools):
            out = tmp / f"tool{n}-run{i}"
            subprocess.run([str(BENCH / "run-scenario"), "cm4-msd", "--tool", f"{tool} {{args}}",
                            "--out", str(out), "--quiet"], env=env, check=False, timeout=120,
                           capture_output=True)
            found[n].append(first_request_ms(out / "transcript.jsonl"))
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
    parser.add_argument("--baseline", metavar="RPIBOOT",
                        help="another rpiboot executable to measure interleaved with this one")
    args = parser.parse_args()
    compileall.compile_dir(str(REPO / "src"), quiet=1)
    reference = first_request_ms(BENCH / "golden" / "reference" / "cm4-msd" / "transcript.jsonl",
                                 skip_s=1.0)
    tools = [RPIBOOT] + ([args.baseline] if args.baseline else [])
    with tempfile.TemporaryDirectory(prefix="rpiboot-startup-") as name:
        measured = bench_runs(tools, args.runs, Path(name))
    ours = measured[0]
    interp = interpreter_ms(args.runs)
    median = statistics.median(ours)
    rows = [
        (f"bench cm4-msd: process start -> first USB request (median of {args.runs})",
         f"{median:.0f} ms", f"runs: {', '.join(f'{t:.0f}' for t in sorted(ours))}"),
        ("the interpreter alone (python -c pass under umockdev-wrapper, median)",
         f"{interp:.0f} ms", "start-up + exit, no rpiboot code"),
        ("rpiboot's own share (difference)", f"{median - interp:.0f} ms",
         "goal: a few tens of ms"),
        ("reference C rpiboot, same scenario, minus its fixed 1 s sleep", f"{reference:.0f} ms",
         "from the bench's golden transcript"),
    ]
    if args.baseline:
        base = measured[1]
        rows.append((f"baseline {args.baseline}, interleaved (median of {args.runs})",
                     f"{statistics.median(base):.0f} ms",
                     f"runs: {', '.join(f'{t:.0f}' for t in sorted(base))}"))
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

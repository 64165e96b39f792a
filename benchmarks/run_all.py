"""Run every benchmark script in turn; each prints its own table (figures only, no asserts).

    .venv/bin/python benchmarks/run_all.py           # all (~3 minutes on 2 cores)
    .venv/bin/python benchmarks/run_all.py core signing   # a subset, by name
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = {
    "core": "bench_core.py",  # CLI + umockdev bench: host-added time, 8 boards, idle CPU, ...
    "startup": "bench_startup.py",  # process start -> first USB request, on the bench
    "engine": "bench_engine.py",  # in-process engine: throughput, RSS, detection latency
    "signing": "bench_signing.py",  # sign/verify 64 MiB vs sha256sum
    "bootimg": "bench_bootimg.py",  # build/list/extract a 40 MB boot.img
    "firmware": "bench_firmware.py",  # fetch the default set from loopback HTTP, re-verify it
    "flash": "bench_flash.py",  # write/verify raw, gz, xz, zst vs dd pipelines; 4 GiB RSS
    "flash_station": "bench_flash_station.py",  # 1 vs 8 boards through the whole flash flow
    "records": "bench_records.py",  # a record write: SQLite, PostgreSQL (loopback), outbox
}


def main(argv: list[str]) -> int:
    names = argv or list(SCRIPTS)
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(SCRIPTS)}",
              file=sys.stderr)
        return 2
    status = 0
    for name in names:
        print(f"\n=== {name} ({SCRIPTS[name]}) ===", flush=True)
        status |= subprocess.call([sys.executable, str(HERE / SCRIPTS[name])])
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

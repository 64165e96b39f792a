"""The firmware store: fetch of the full default set from a loopback server, and the
re-verification of an installed set (prints a table; figures only, no asserts).

    .venv/bin/python benchmarks/bench_firmware.py [--runs 3] [--boot-img-mib 64]

The server is the tests' loopback stand-in for GitHub (tests/fwstore/fwsite.py) serving the
real files of ../shared/firmware plus a generated mass-storage-gadget64/boot.img of the
given size.  Targets: fetch >= 100 MB/s (the host is never the bottleneck), verify >= 300 MB/s
(MB = 10^6 bytes).  Each fetch goes into an empty store, so every file is downloaded
(files the listing holds twice are hard-linked, not downloaded twice).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "fwstore"))

from fwsite import Site, serve  # noqa: E402

from rpiboot.fwstore import events as ev  # noqa: E402
from rpiboot.fwstore.fetch import FetchOptions, fetch_firmware  # noqa: E402
from rpiboot.fwstore.sets import verify_set  # noqa: E402

FIRMWARE = Path(os.environ.get("RPIBOOT_SHARED", REPO.parent / "shared")) / "firmware"
BENCH_REF = "bench-ref"
BENCH_COMMIT = hashlib.sha1(b"rpiboot bench ref").hexdigest()
MB = 1e6


def print_table(rows: list[tuple[str, str, str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def fetch_once(store: Path, raw: str, api: str) -> tuple[float, int, int]:
    """Seconds, bytes installed, bytes downloaded."""
    downloaded = 0

    def count(event: ev.FwEvent) -> None:
        nonlocal downloaded
        if isinstance(event, ev.FileInstalled) and event.how == "downloaded":
            downloaded += event.size

    start = time.perf_counter()
    manifest = fetch_firmware(store, FetchOptions(ref=BENCH_REF, mirror=raw, api=api), count)
    return time.perf_counter() - start, manifest.bytes, downloaded


def cli_fetch_once(store: Path, raw: str, api: str) -> float:
    env = dict(os.environ, XDG_DATA_HOME=str(store.parent))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rpiboot", "firmware", "fetch", "--ref", BENCH_REF,
                    "--mirror", raw, "--api", api], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--boot-img-mib", type=int, default=64)
    args = parser.parse_args(argv)
    site = Site.from_shared(FIRMWARE)
    site.add_test_ref(hashlib.shake_256(b"bench").digest(args.boot_img_mib << 20),
                      commit=BENCH_COMMIT, ref=BENCH_REF)
    fetches, clis, verifies = [], [], []
    with tempfile.TemporaryDirectory(prefix="rpiboot-bench-fw-") as tmp:
        for upstream in serve(site):
            for run in range(args.runs):
                store = Path(tmp) / f"lib{run}" / "rpiboot"
                fetches.append(fetch_once(store, upstream.raw, upstream.api))
                cli_store = Path(tmp) / f"cli{run}" / "rpiboot"
                clis.append(cli_fetch_once(cli_store, upstream.raw, upstream.api))
                shutil.rmtree(cli_store.parent)
        store = Path(tmp) / "lib0" / "rpiboot"
        for _ in range(args.runs):
            start = time.perf_counter()
            assert verify_set(store, BENCH_COMMIT) == []
            verifies.append(time.perf_counter() - start)
    seconds = statistics.median(f[0] for f in fetches)
    installed, downloaded = fetches[0][1], fetches[0][2]
    verify_s = statistics.median(verifies)
    print(f"full default set (9 folders, boot.img {args.boot_img_mib} MiB): "
          f"{installed / MB:.1f} MB installed, {downloaded / MB:.1f} MB downloaded; "
          f"median of {args.runs} runs")
    print_table([
        ("measure", "time", "rate"),
        ("fetch (library, loopback HTTP, blob ids checked)", f"{seconds:.3f} s",
         f"{downloaded / MB / seconds:.0f} MB/s downloaded, "
         f"{installed / MB / seconds:.0f} MB/s installed"),
        ("fetch (rpiboot firmware fetch, whole process)", f"{statistics.median(clis):.3f} s",
         f"{downloaded / MB / statistics.median(clis):.0f} MB/s downloaded"),
        ("verify (re-hash every installed file)", f"{verify_s:.3f} s",
         f"{installed / MB / verify_s:.0f} MB/s"),
    ])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

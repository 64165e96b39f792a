"""Benchmark: build a ~40 MB boot.img from a firmware-like tree, list it, extract it.

    .venv/bin/python benchmarks/bench_bootimg.py [--repeat N]

Prints a table (best and median of N runs).  When mkfs.fat and mcopy are installed the
same image is also built with them, for comparison.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rpiboot.bootimg.inspect import extract
from rpiboot.bootimg.layout import ImageOptions
from rpiboot.bootimg.reader import FatImage
from rpiboot.bootimg.writer import build_image

MiB = 1 << 20


def make_source(root: Path) -> int:
    """A Pi 4 boot folder's shape: kernel + initramfs + firmware + ~300 small files."""
    rng = os.urandom
    files = {"kernel8.img": 24 * MiB, "initramfs8": 10 * MiB, "start4.elf": 2_300_000,
             "fixup4.dat": 5_400, "config.txt": 300, "cmdline.txt": 120}
    for name, size in files.items():
        (root / name).write_bytes(rng(size))
    overlays = root / "overlays"
    overlays.mkdir()
    for index in range(280):
        (overlays / f"overlay-{index:03}.dtbo").write_bytes(rng(1_000 + index * 13))
    for index in range(60):
        (root / f"bcm2711-rpi-variant-{index:02}.dtb").write_bytes(rng(52_000))
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def timed(func: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-bootimg-"))
    try:
        source = work / "src"
        source.mkdir()
        total = make_source(source)
        image = work / "boot.img"
        rows: list[tuple[str, list[float]]] = []
        rows.append(("build (scan+plan+write)", timed(
            lambda: build_image(source, image, ImageOptions()), args.repeat)))
        size = image.stat().st_size
        with FatImage.open(image) as fs:
            rows.append(("list (walk all entries)", timed(lambda: list(fs.walk()), args.repeat)))

        def extract_all() -> None:
            out = work / "out"
            shutil.rmtree(out, ignore_errors=True)
            with FatImage.open(image) as fs:
                extract(fs, out)

        rows.append(("extract (all files)", timed(extract_all, args.repeat)))
        if shutil.which("mkfs.fat") and shutil.which("mcopy"):
            ref = work / "ref.img"

            def mkfs_mcopy() -> None:
                ref.unlink(missing_ok=True)
                subprocess.run(["mkfs.fat", "-C", "-F", "32", "-f", "1", "-s", "1",
                                str(ref), str(size // 1024 + 1024)], check=True,
                               capture_output=True)
                subprocess.run(["mcopy", "-i", str(ref), "-smpQ",
                                *[str(p) for p in sorted(source.iterdir())], "::/"],
                               check=True, capture_output=True)

            rows.append(("mkfs.fat + mcopy (same files)", timed(mkfs_mcopy, args.repeat)))
        print(f"boot.img benchmark: {total / MiB:.1f} MiB in"
              f" {sum(1 for _ in source.rglob('*'))} entries -> {size / MiB:.1f} MiB image"
              f" (FAT32, 512-byte clusters), best/median of {args.repeat}")
        print(f"{'operation':<32}{'best s':>9}{'median s':>10}{'MiB/s':>9}")
        for name, times in rows:
            best = min(times)
            print(f"{name:<32}{best:>9.3f}{statistics.median(times):>10.3f}"
                  f"{total / MiB / best:>9.0f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

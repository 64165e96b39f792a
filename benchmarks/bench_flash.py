"""rpiboot flash's write and verify phases against the shell pipeline that does the same
(prints a table; figures only, no asserts).

    .venv/bin/python benchmarks/bench_flash.py [--size-mib 512] [--runs 3] [--big-gib 4]

Same machine, same files, one run: the write of a raw, gzip, xz and zstd image into a
file-backed target (overwritten in place, like a disk) against ``cat | zcat | xz -dc |
zstd -dc FILE | dd bs=4M conv=fsync,notrunc``; the verify (read back with O_DIRECT, sha256
compared) against ``cmp`` of the same bytes.  The target sits on a tmpfs when we are root
(so the host's own cost is measured, not this machine's disk), else beside the images.
Goals: write >= 0.95x the pipeline for each format; raw >= 400 MB/s (10x the ~40 MB/s
USB 2.0 ceiling); peak RSS <= 100 MB while writing and verifying a --big-gib image (a
sparse one: quick to make).  Each of our runs is a fresh process (its peak RSS is its own);
best of --runs for everyone.  MB = 10^6 bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIB = 1 << 20
DECOMPRESS = {"raw": ["cat"], "gzip": ["zcat"], "xz": ["xz", "-dc"], "zstd": ["zstd", "-dc"]}
COMPRESS = {"gzip": ["gzip", "-c", "-6"], "xz": ["xz", "-c", "-6", "-T0"],
            "zstd": ["zstd", "-q", "-c", "-3"]}
SUFFIX = {"raw": "", "gzip": ".gz", "xz": ".xz", "zstd": ".zst"}


def make_image(path: Path, size: int, random_fraction: float = 0.25) -> None:
    """Random runs of 1-8 MiB filling ``random_fraction`` of ``size``; holes elsewhere."""
    rng = random.Random(2024)
    with open(path, "wb") as handle:
        handle.truncate(size)
        filled = 0
        while filled < size * random_fraction:
            length = rng.randrange(1, 9) * MIB
            handle.seek(rng.randrange(0, size - length) // MIB * MIB)
            handle.write(os.urandom(length))
            filled += length


def child(image: str, target: str, target_size: int, digest: bool) -> None:
    """One write (+ verify, with a digest) in this fresh process; its figures as JSON."""
    from rpiboot.flash.image import open_image
    from rpiboot.flash.writer import verify_image, write_image

    fd = os.open(target, os.O_WRONLY)
    with open_image(image) as source:
        written = write_image(source, fd, target_size=target_size, digest=digest)
    os.close(fd)
    checked = verify_image(target, written) if digest else None
    print(json.dumps({"write": written.seconds, "verify": checked.seconds if checked else 0,
                      "bytes": written.bytes_written,
                      "method": checked.method if checked else "-",
                      "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def ours(image: Path, target: Path, *, digest: bool = True) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", str(image), str(target),
                          str(target.stat().st_size), "digest" if digest else "no-digest"],
                         capture_output=True, text=True, check=True).stdout
    figures: dict[str, float] = json.loads(out)
    return figures


def pipeline(image: Path, kind: str, target: Path) -> float:
    start = time.perf_counter()
    with subprocess.Popen([*DECOMPRESS[kind], str(image)], stdout=subprocess.PIPE) as feed:
        subprocess.run(["dd", "bs=4M", "conv=fsync,notrunc", f"of={target}"], stdin=feed.stdout,
                       stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def cmp_seconds(image: Path, target: Path, size: int) -> float:
    start = time.perf_counter()
    subprocess.run(["cmp", "-n", str(size), str(image), str(target)], check=True)
    return time.perf_counter() - start


def target_folder(work: Path, size: int) -> tuple[Path, bool]:
    folder = work / "target"
    folder.mkdir()
    if os.geteuid() == 0:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                  str(folder)], capture_output=True, check=False)
        return folder, mounted.returncode == 0
    return folder, False


def compare_formats(work: Path, folder: Path, size: int, runs: int,
                    fraction: float) -> list[list[str]]:
    raw = work / "os.img"
    make_image(raw, size, fraction)
    files = {"raw": raw}
    for kind, command in COMPRESS.items():
        files[kind] = work / f"os.img{SUFFIX[kind]}"
        with open(files[kind], "wb") as sink:
            subprocess.run([*command, str(raw)], stdout=sink, check=True)
    target = folder / "disk"
    shutil.copyfile(raw, target)  # allocated once: every run overwrites it in place
    rows = [["phase", "format", "rpiboot MB/s", "reference", "reference MB/s", "ratio",
             "peak RSS MB", "read-back"]]
    verify_best, cmp_best = 1e9, 1e9
    for kind, path in files.items():
        best, ref = {"write": 1e9, "verify": 1e9, "rss": 0.0}, 1e9
        for _ in range(runs):
            ref = min(ref, pipeline(path, kind, target))
            run = ours(path, target)
            best = {"write": min(best["write"], run["write"]),
                    "verify": min(best["verify"], run["verify"]),
                    "rss": max(best["rss"], run["rss"]), "method": run["method"]}
            cmp_best = min(cmp_best, cmp_seconds(raw, target, size))
        verify_best = min(verify_best, best["verify"])
        reference = " ".join(DECOMPRESS[kind]) + " | dd bs=4M conv=fsync"
        rows.append(["write", kind, f"{size / best['write'] / 1e6:.0f}", reference,
                     f"{size / ref / 1e6:.0f}", f"{ref / best['write']:.2f}x",
                     f"{best['rss'] / 1e6:.0f}", str(best["method"])])
    rows.append(["verify", "any", f"{size / verify_best / 1e6:.0f}", "cmp image target",
                 f"{size / cmp_best / 1e6:.0f}", f"{cmp_best / verify_best:.2f}x", "", ""])
    bare, ref = 1e9, 1e9
    for _ in range(runs):
        ref = min(ref, pipeline(raw, "raw", target))
        bare = min(bare, ours(raw, target, digest=False)["write"])
    rows.append(["write", "raw, digest=False", f"{size / bare / 1e6:.0f}",
                 "cat | dd bs=4M conv=fsync", f"{size / ref / 1e6:.0f}", f"{ref / bare:.2f}x",
                 "", "(--no-verify)"])
    for path in files.values():
        path.unlink()
    target.unlink()
    return rows


def big_image(work: Path, folder: Path, gib: int) -> list[str]:
    image, target = work / "big.img", folder / "big-disk"
    make_image(image, gib << 30, random_fraction=1 / 64)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT, 0o600)
    os.posix_fallocate(fd, 0, gib << 30)
    os.close(fd)
    pipeline(image, "raw", target)  # a first write into fresh tmpfs pages is slow: warm up
    run = ours(image, target)
    ref = pipeline(image, "raw", target)
    image.unlink()
    target.unlink()
    return ["write+verify", f"raw {gib} GiB", f"{run['bytes'] / run['write'] / 1e6:.0f}",
            "cat | dd bs=4M conv=fsync", f"{run['bytes'] / ref / 1e6:.0f}",
            f"{ref / run['write']:.2f}x", f"{run['rss'] / 1e6:.0f}",
            f"{run['method']}, verify {run['bytes'] / run['verify'] / 1e6:.0f} MB/s"]


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        child(argv[1], argv[2], int(argv[3]), argv[4] == "digest")
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--big-gib", type=int, default=4)
    parser.add_argument("--random-percent", type=int, default=25,
                        help="share of the image that is random data (the rest: holes)")
    args = parser.parse_args(argv)
    size = args.size_mib * MIB
    with tempfile.TemporaryDirectory(prefix="rpiboot-bench-flash-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        folder, on_tmpfs = target_folder(work, (args.big_gib << 30) + size + 64 * MIB)
        try:
            rows = compare_formats(work, folder, size, args.runs, args.random_percent / 100)
            rows.append(big_image(work, folder, args.big_gib))
        finally:
            if on_tmpfs:
                subprocess.run(["umount", str(folder)], check=True)
    print(f"image {args.size_mib} MiB ({args.random_percent}% random, the rest holes), target on "
          f"{'tmpfs' if on_tmpfs else 'the images disk'}, best of {args.runs}, "
          f"{os.cpu_count()} CPUs")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

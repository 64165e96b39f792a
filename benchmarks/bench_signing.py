"""Benchmark: sign + verify a large file (.sig, RSA-2048) against `sha256sum` of the same file.

    .venv/bin/python benchmarks/bench_signing.py [--size-mib 64] [--repeat 5]

Prints a table (best of N wall-clock runs).  Target: sign+verify <= 1.5x sha256sum.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rpiboot.signing import signer_from_options
from rpiboot.signing.keys import generate_private_key, load_public_key, public_key_pem
from rpiboot.signing.rsa import sha256_file
from rpiboot.signing.sigfile import verify_sig, write_sig

CHUNK = 1 << 20


def best_of(repeat: int, func: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def make_file(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        remaining = size
        while remaining:
            chunk = os.urandom(min(CHUNK, remaining))
            handle.write(chunk)
            remaining -= len(chunk)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    if shutil.which("sha256sum") is None:
        print("sha256sum not found", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-signing-") as tmp:
        work = Path(tmp)
        data, key, pub, sig = (work / "data.bin", work / "key.pem", work / "pub.pem",
                               work / "data.sig")
        make_file(data, args.size_mib << 20)
        generate_private_key(key)
        pub.write_bytes(public_key_pem(load_public_key(key)))
        sha256sum_s = best_of(args.repeat, lambda: subprocess.run(
            ["sha256sum", str(data)], check=True, capture_output=True))
        hash_s = best_of(args.repeat, lambda: sha256_file(data))
        # the signer is built inside the timed call: key loading counts, as in the CLI
        sign_s = best_of(args.repeat, lambda: write_sig(
            data, sig, signer=signer_from_options(key=key), timestamp=0))
        verify_s = best_of(args.repeat, lambda: verify_sig(data, sig, key=pub))

        def sign_and_verify() -> None:
            write_sig(data, sig, signer=signer_from_options(key=key), timestamp=0)
            verify_sig(data, sig, key=pub)

        both_s = best_of(args.repeat, sign_and_verify)
    rows = [("sha256sum (coreutils, reference)", sha256sum_s),
            ("sha256 only (rpiboot, streaming)", hash_s),
            ("sign: write .sig with rsa2048", sign_s),
            ("verify: .sig with public key", verify_s),
            ("sign + verify", both_s)]
    print(f"{args.size_mib} MiB file, best of {args.repeat}, {os.cpu_count()} CPU(s)")
    print(f"| {'operation':<34} | {'time (ms)':>9} | {'x sha256sum':>11} |")
    print(f"|{'-' * 36}|{'-' * 10}:|{'-' * 12}:|")
    for name, seconds in rows:
        print(f"| {name:<34} | {seconds * 1000:9.1f} | {seconds / sha256sum_s:11.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

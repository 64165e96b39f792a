"""Seeded mutation fuzzing of every parser of external bytes, starting from real files.

    .venv/bin/python benchmarks/fuzz_parsers.py                     # 10,000 cases per parser
    .venv/bin/python benchmarks/fuzz_parsers.py --cases 500 --only fat,tar --seed 7
    .venv/bin/python benchmarks/fuzz_parsers.py --only sig --seed 7 --case 123 --dump x.sig

Parsers: eeprom (pieeprom-*.bin), sig (boot.sig), fat (secure-boot-msd/boot.img), tar
(mass-storage-gadget64/bootfiles.bin), messages (file-server messages), metadata
(``*KEY*VALUE`` records, FACTORY_UUID, metadata file names).  Each case takes a real input
(from ../shared/firmware, or $RPIBOOT_SHARED) and stacks 1-4 mutations: bit flips, bytes or
chunks replaced by interesting values (0, 0xFF.., 2^31, 2^32-1, huge lengths, long digit
runs, tar octal/base-256 sizes), truncation, extension, splicing, insertion and deletion.

A case ends as a valid result (whose invariants are checked), a project error
(RpibootError), or a failure: any other exception, a broken invariant, or a case running
longer than --case-timeout.  Failures are printed with the command that reproduces them.
Per parser the table shows the cases, outcomes, the slowest case, the largest peak of Python
allocations in one case (tracemalloc: what the parser allocated beyond its input) and how
much the parser raised the process's peak RSS.  Exit status 1 if any case failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
import traceback
import tracemalloc
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fuzz_targets import Target, targets

from rpiboot.errors import RpibootError

HERE = Path(__file__).resolve().parent
U32 = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 2**31 - 1, 2**31, 2**32 - 1)
HUGE = (2**40, 2**63 - 1, 2**64 - 1)
TOKENS = (b"\0", b"\xff", b"\x7f", b"\x80", b"\xff" * 4, b"\0" * 4, b"9" * 25, b"9" * 5000,
          b"0" * 4400, b"77777777777\0", b"\x80" + (2**40).to_bytes(11, "big"), b"\xff" * 12,
          b"-1", b"*", b"**", b"_", b"\n", b"\r\n", b" ", b"\xd8\x00", b"\x00\xd8", b"/",
          b"..", b"\xe5", b"\x0f", b"\x10", b"\x55\xaa", b"ustar\x0000", b"ustar  \0",
          b"ts: ", b"rsa2048: ", b"BUILD_TIMESTAMP=")


class CaseTimeout(Exception):
    """A case ran longer than --case-timeout (a hang)."""


# ------------------------------------------------------------------------------- mutations
def _number(rng: random.Random, size: int) -> int:
    value = rng.choice([*U32, *HUGE, size, size + 1, size - 1, rng.randrange(1 << 32)])
    return value


def _interesting(rng: random.Random, size: int) -> bytes:
    kind = rng.randrange(6)
    if kind in (0, 4):
        return rng.choice(TOKENS)
    if kind == 5:  # a run of one byte: digits, padding, high bytes
        return bytes([rng.choice(b"09\xff\0 7")]) * rng.choice((3, 11, 21, 300, 5000))
    width = rng.choice((1, 2, 4, 8))
    value = _number(rng, size) & ((1 << (8 * width)) - 1)
    if kind == 1:
        return value.to_bytes(width, "little")
    if kind == 2:
        return value.to_bytes(width, "big")
    return str(_number(rng, size)).encode()


def _where(rng: random.Random, data: bytearray, hot: list[int]) -> int:
    if hot and rng.random() < 0.6:  # on a structure field, or near one
        spread = 0 if rng.random() < 0.5 else rng.randrange(-8, 64)
        return min(len(data), max(0, rng.choice(hot) + spread))
    return rng.randrange(len(data) + 1)


def mutate(rng: random.Random, data: bytearray, hot: list[int], donors: list[bytes]) -> None:
    """Apply one random mutation to ``data`` in place."""
    at = _where(rng, data, hot)
    op = rng.randrange(9)
    if op == 0 and data:  # bit flips
        for _ in range(rng.randint(1, 8)):
            spot = min(len(data) - 1, at + rng.randrange(32))
            data[spot] ^= 1 << rng.randrange(8)
    elif op in (1, 2):  # overwrite with an interesting value
        value = _interesting(rng, len(data))
        data[at:at + len(value)] = value
    elif op == 3:  # truncate
        del data[at:]
    elif op == 4:  # extend
        filler = rng.choice([b"\0", b"\xff", bytes([rng.randrange(256)])])
        data += filler * rng.randint(1, 4096) if rng.random() < 0.7 else rng.randbytes(
            rng.randint(1, 4096))
    elif op == 5:  # splice a chunk from this or another input
        donor = rng.choice(donors) if donors and rng.random() < 0.5 else bytes(data)
        if donor:
            start = rng.randrange(len(donor))
            chunk = donor[start:start + rng.randint(1, 1024)]
            data[at:at + len(chunk)] = chunk
    elif op == 6:  # insert
        data[at:at] = _interesting(rng, len(data)) * rng.randint(1, 4)
    elif op == 7:  # delete
        del data[at:at + rng.randint(1, 512)]
    else:  # random bytes over a stretch
        data[at:at + rng.randint(1, 64)] = rng.randbytes(rng.randint(1, 64))


# ---------------------------------------------------------------------------------- runner
@dataclass
class Report:
    parser: str
    cases: int = 0
    valid: int = 0
    project_errors: int = 0
    failures: int = 0
    max_ms: float = 0.0
    mean_ms: float = 0.0
    peak_alloc_mb: float = 0.0
    rss_growth_mb: float = 0.0  # how much this parser raised the process's peak RSS
    largest_input: int = 0
    reproducers: list[str] = field(default_factory=list)


def make_case(target: Target, seed: int, case: int) -> bytes:
    """The input of one case: deterministic in (seed, parser, case)."""
    rng = random.Random(f"{seed}:{target.name}:{case}")
    if rng.random() < target.random_share:
        return rng.randbytes(rng.choice((0, 1, 4, 24, 260, 512, 1024, 4096)))
    which = rng.randrange(len(target.inputs))
    data = bytearray(target.inputs[which])
    for _ in range(rng.randint(1, 4)):
        mutate(rng, data, target.hot[which], target.inputs)
    if rng.random() < target.keep_size:  # fixed-size formats: shifts, not size errors
        size = len(target.inputs[which])
        data = data[:size] + b"\xff" * (size - len(data))
    if target.fixup is not None and rng.random() < 0.8:  # get past the first check
        target.fixup(data, target.hot[which])
    return bytes(data)


def _alarm(_signum: int, _frame: object) -> None:
    raise CaseTimeout


def run_case(target: Target, data: bytes, timeout: float) -> tuple[str, float, int, str]:
    """(outcome, seconds, peak allocated bytes, traceback) of one case."""
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    signal.setitimer(signal.ITIMER_REAL, timeout)
    started = time.perf_counter()
    outcome, detail = "valid", ""
    try:
        target.run(data)
    except RpibootError:
        outcome = "project_error"
    except CaseTimeout:
        outcome, detail = "failure", f"case ran longer than {timeout} s (a hang?)"
    except KeyboardInterrupt:
        raise
    except BaseException:  # every other exception (even SystemExit) is what we look for
        outcome, detail = "failure", traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] - before
    return outcome, elapsed, peak, detail


def _max_rss_mb() -> float:
    import resource

    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def fuzz(target: Target, cases: int, seed: int, timeout: float, first: int = 0) -> Report:
    report = Report(target.name)
    total = 0.0
    rss_before = _max_rss_mb()
    for case in range(first, first + cases):
        data = make_case(target, seed, case)
        outcome, elapsed, peak, detail = run_case(target, data, timeout)
        report.cases += 1
        total += elapsed
        report.max_ms = max(report.max_ms, elapsed * 1000)
        report.peak_alloc_mb = max(report.peak_alloc_mb, peak / 2**20)
        report.largest_input = max(report.largest_input, len(data))
        if outcome == "valid":
            report.valid += 1
        elif outcome == "project_error":
            report.project_errors += 1
        else:
            report.failures += 1
            command = (f"{sys.executable} {Path(__file__).name} --only {target.name} "
                       f"--seed {seed} --case {case}")
            report.reproducers.append(command)
            print(f"FAILURE {target.name} case {case}: reproduce with\n  {command}\n{detail}",
                  file=sys.stderr)
    report.mean_ms = total * 1000 / max(1, report.cases)
    report.rss_growth_mb = _max_rss_mb() - rss_before
    return report


def _table(reports: list[Report]) -> str:
    lines = [f"{'parser':<9} {'cases':>6} {'valid':>6} {'proj.err':>8} {'other':>5} "
             f"{'max ms':>7} {'mean ms':>7} {'peak MB':>7} {'RSS+ MB':>7} {'largest input':>13}"]
    for r in reports:
        lines.append(f"{r.parser:<9} {r.cases:>6} {r.valid:>6} {r.project_errors:>8} "
                     f"{r.failures:>5} {r.max_ms:>7.1f} {r.mean_ms:>7.2f} "
                     f"{r.peak_alloc_mb:>7.1f} {r.rss_growth_mb:>7.1f} {r.largest_input:>13}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases per parser")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", help="comma-separated parsers (default: all)")
    parser.add_argument("--case", type=int, help="run only this case number (a reproducer)")
    parser.add_argument("--dump", type=Path, help="with --case: write its input to this file")
    parser.add_argument("--case-timeout", type=float, default=10.0, help="seconds per case")
    parser.add_argument("--json", type=Path, help="also write the reports as JSON here")
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get(
        "RPIBOOT_SHARED", HERE.parent.parent / "shared")))
    args = parser.parse_args(argv)
    chosen = targets(args.shared)
    if args.only:
        names = args.only.split(",")
        unknown = sorted(set(names) - {t.name for t in chosen})
        if unknown:
            parser.error(f"unknown parser(s) {unknown}; choose from "
                         f"{', '.join(t.name for t in chosen)}")
        chosen = [t for t in chosen if t.name in names]
    if args.case is not None and args.dump is not None:
        args.dump.write_bytes(make_case(chosen[0], args.seed, args.case))
    tracemalloc.start()
    signal.signal(signal.SIGALRM, _alarm)
    reports = []
    for target in chosen:
        started = time.monotonic()
        if args.case is not None:
            report = fuzz(target, 1, args.seed, args.case_timeout, first=args.case)
        else:
            report = fuzz(target, args.cases, args.seed, args.case_timeout)
        reports.append(report)
        print(f"{target.name}: {report.cases} cases in {time.monotonic() - started:.1f} s",
              file=sys.stderr, flush=True)
    print(f"seed {args.seed}, Python {sys.version.split()[0]}")
    print(_table(reports))
    if args.json:
        args.json.write_text(json.dumps({"seed": args.seed, "cases": args.cases,
                                         "reports": [asdict(r) for r in reports]}, indent=2))
    return 1 if any(r.failures for r in reports) else 0


if __name__ == "__main__":
    raise SystemExit(main())

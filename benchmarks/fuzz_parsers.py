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
import contextlib
import io
import json
import os
import random
import signal
import sys
import time
import traceback
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

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


# --------------------------------------------------------------------------------- targets
@dataclass
class Target:
    name: str
    inputs: list[bytes]
    hot: list[list[int]]  # per input: offsets where structure lives
    run: Callable[[bytes], object]  # raises RpibootError, or checks invariants and returns
    random_share: float = 0.02  # cases that start from random bytes instead of a real file
    keep_size: float = 0.0  # share of cases cut or padded back to the input's size
    fixup: Callable[[bytearray, list[int]], None] | None = None  # e.g. redo checksums


def _run_eeprom(data: bytes) -> object:
    from rpiboot.eeprom.image import EepromImage
    from rpiboot.eeprom.info import describe

    image = EepromImage(data, source="fuzz.bin")
    info = describe(image)
    files = image.extractable_files()
    assert info.size == len(data) and all(s.end <= len(data) for s in image.sections)
    with contextlib.suppress(RpibootError):  # an edit may refuse; it must not crash
        image.replace_file("bootconf.txt", b"[all]\n")
    return files


def _run_sig(data: bytes) -> object:
    from rpiboot.signing.sigfile import parse_sig

    sig = parse_sig(data, source="fuzz.sig")
    assert len(sig.sha256) == 64 and parse_sig(sig.to_bytes()) == sig
    return sig


def _run_fat(data: bytes) -> object:
    from rpiboot.bootimg.inspect import check_total_size, image_info
    from rpiboot.bootimg.reader import FatImage, find_partition

    offset = find_partition(data[:512], None)
    image = FatImage(io.BytesIO(data), offset=offset, name="fuzz.img")
    info = image_info(image)
    entries = list(image.walk())
    check_total_size(image, entries)  # what extract checks before writing
    for entry in entries:
        if not entry.is_dir:
            got = sum(len(chunk) for chunk in image.iter_file(entry))
            assert got == entry.size
    if entries:
        image.find(entries[-1].path)
    assert info["image_bytes"] <= len(data) - offset
    return entries


def _run_tar(data: bytes) -> object:
    from rpiboot.tarreader import iter_members

    members = list(iter_members(io.BytesIO(data), len(data), "fuzz.tar"))
    for member in members:
        assert member.offset >= 0 and 0 <= member.size <= len(data) - member.offset
    return members


def _run_messages(data: bytes) -> object:
    from rpiboot.protocol.messages import (
        parse_boot_message,
        parse_file_message,
        parse_metadata_record,
        parse_status,
    )
    from rpiboot.sources import refusal_reason

    for parse in (parse_boot_message, parse_status):
        with contextlib.suppress(RpibootError):
            parse(data[:24] if parse is parse_boot_message else data[:4])
    message = parse_file_message(data)
    text = message.name_text()
    if message.is_metadata:
        return parse_metadata_record(message.name)
    return refusal_reason(text)


def _run_metadata(data: bytes) -> object:
    from rpiboot.metadata import MetadataCollector, metadata_stem
    from rpiboot.protocol.messages import parse_metadata_record

    record = parse_metadata_record(data)
    if record is None:
        return None
    collector = MetadataCollector()
    collector.add(*record)
    parsed = json.loads(collector.to_json())
    assert list(parsed) == [record[0]]
    stem = metadata_stem(record[1])  # a serial is as untrusted as a record
    assert stem and "/" not in stem and not stem.startswith(".") and len(stem) <= 96
    assert metadata_stem(record[1] + "x") != stem
    return parsed


def _eeprom_hot(data: bytes) -> list[int]:
    from rpiboot.eeprom.image import EepromImage

    offsets = [s.offset for s in EepromImage(data).sections]
    stamp = data.find(b"BUILD_TIMESTAMP=")
    return [*offsets, stamp + 16] if stamp >= 0 else offsets


def _fat_hot(data: bytes) -> list[int]:
    from rpiboot.bootimg.reader import FatImage

    image = FatImage(io.BytesIO(data), name="seed")
    g = image.geometry
    root = g.root_start * g.sector_size
    return [*range(0, 64, 2), g.fat_start * g.sector_size, *range(root, root + 256, 32),
            g.cluster_offset(2)]


def _tar_hot(data: bytes) -> list[int]:
    from rpiboot.tarreader import iter_members

    headers = [m.offset - 512 for m in iter_members(io.BytesIO(data), len(data), "seed")]
    return [h + field for h in headers for field in (0, 124, 148, 156, 257, 345)]


def _tar_checksums(data: bytearray, hot: list[int]) -> None:
    """Recompute the checksum of every block that held a header in the real archive."""
    for header in sorted({offset - offset % 512 for offset in hot}):
        block = data[header:header + 512]
        if len(block) == 512:
            block[148:156] = b" " * 8
            data[header + 148:header + 156] = b"%06o\0 " % sum(block)


def _messages() -> list[bytes]:
    from rpiboot.protocol.messages import pack_file_message

    return [pack_file_message(0, b"start4.elf"), pack_file_message(1, b"config.txt"),
            pack_file_message(2, b""), pack_file_message(0, b"*MAC_ADDR*dc:a6:32:01:02:03"),
            pack_file_message(0, b"*FACTORY_UUID*19a519a6_19ab520e_1ac0212b")]


def targets(shared: Path) -> list[Target]:
    fw = shared / "firmware"
    eeproms = [(fw / f"rpi-eeprom/{chip}").glob("pieeprom-*.bin") for chip in ("2711", "2712")]
    eeprom_inputs = [p.read_bytes() for found in eeproms for p in sorted(found)]
    fat = (fw / "usbboot/secure-boot-msd/boot.img").read_bytes()
    tar = (fw / "usbboot/mass-storage-gadget64/bootfiles.bin").read_bytes()
    sig = (fw / "usbboot/secure-boot-example/boot.sig").read_bytes()
    records = [b"*FACTORY_UUID*19a519a6_19ab520e_1ac0212b", b"*MAC_ADDR*dc:a6:32:01:02:03",
               b"*USER_SERIAL_NUM*c0ffee01", b"*CUSTOMER_KEY_HASH*say \"hi\" \\ bye"]
    messages = _messages()
    return [
        Target("eeprom", eeprom_inputs, [_eeprom_hot(d) for d in eeprom_inputs], _run_eeprom,
               random_share=0.0, keep_size=0.9),
        Target("sig", [sig], [list(range(0, len(sig), 8))], _run_sig),
        Target("fat", [fat], [_fat_hot(fat)], _run_fat),
        Target("tar", [tar], [_tar_hot(tar)], _run_tar, fixup=_tar_checksums),
        Target("messages", messages, [[0, 4, 5, 8] for _ in messages], _run_messages,
               keep_size=0.9),
        Target("metadata", records, [[0, 1, 14] for _ in records], _run_metadata),
    ]


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

"""Benchmark: how long writing a provisioning record takes, in SQLite and in PostgreSQL.

    .venv/bin/python benchmarks/bench_records.py [--boards N]

A board's record is written 4 times (start, two phase ends, the end), each time with one
more revision and a longer phase list.  Prints the median and p95 of one write and of a
board's 4 writes: SQLite (a temporary file, WAL), PostgreSQL (a throwaway server on
loopback started like the tests' fixture, tests/records/pgserver.py, with fsync ON), the
same through the QueueingStore a station uses, and a write queued in the outbox while the
server is down.  Targets (issue 11): <= 5 ms SQLite, <= 20 ms PostgreSQL.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))  # this checkout's rpiboot, installed or not

from rpiboot.records.model import BoardRecord, utc_now  # noqa: E402
from rpiboot.records.postgres import PostgresStore  # noqa: E402
from rpiboot.records.queue import QueueingStore  # noqa: E402
from rpiboot.records.sqlite import SqliteStore  # noqa: E402
from rpiboot.records.store import RecordFilter, Store  # noqa: E402

WRITES_PER_BOARD = 4


def load_pgserver() -> ModuleType:
    """tests/records/pgserver.py, imported by path (the tests' throwaway server)."""
    spec = importlib.util.spec_from_file_location(
        "pgserver", REPO / "tests" / "records" / "pgserver.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def board_writes(store: Store, index: int) -> list[float]:
    """Write one board's record 4 times; the time of each write (seconds)."""
    rec = BoardRecord(station="bench", port_path=f"1-1.{index % 8}", chip="bcm2711",
                      usb_serial=f"{index:08x}", operation="flash",
                      metadata={"mac": "dc:a6:32:00:00:01"}, rpiboot_version="bench")
    times = []
    for revision in range(WRITES_PER_BOARD):
        rec.revision = revision
        if revision > 0:
            rec.phases.append({"name": f"phase-{revision}", "started_at": utc_now(),
                               "ended_at": utc_now(), "result": "passed",
                               "bytes": 1 << 30})
        if revision == WRITES_PER_BOARD - 1:
            rec.result, rec.ended_at, rec.exit_code = "passed", utc_now(), 0
        began = time.perf_counter()
        store.put(rec)
        times.append(time.perf_counter() - began)
    return times


def measure(store: Store, boards: int) -> tuple[float, list[float], list[float]]:
    """The first write (connecting, migrating) and then every write and every board."""
    first = board_writes(store, -1)[0]
    writes: list[float] = []
    per_board: list[float] = []
    for index in range(boards):
        times = board_writes(store, index)
        writes += times
        per_board.append(sum(times))
    assert len(store.query(RecordFilter(station="bench"))) == boards + 1
    return first, writes, per_board


def captured_boot(tmp: Path) -> list[Any]:
    """The events of one simulated recovery boot (rom, file server, metadata, the end)."""
    from rpiboot import BootOptions, Server
    from rpiboot.sim import simulate

    events: list[Any] = []
    with simulate("recovery", workdir=tmp / "sim", speed=50.0) as sim:
        Server(BootOptions(boot_dir=sim.boot_dir, metadata=True, wait_timeout=10),
               backend=sim.backend, on_event=events.append).run()
    return events


def recorder_overhead(store: Store, events: list[Any], boards: int
                      ) -> tuple[float, list[float], list[float]]:
    """A whole board through the Recorder (its ~20 events, 3 writes, the file digests from
    the cache): the time spent in the recorder's callback per board."""
    from rpiboot.events import BoardRef
    from rpiboot.record import replace
    from rpiboot.records.recorder import Recorder

    recorder = Recorder(store, station="bench-recorder")
    per_board: list[float] = []
    first = 0.0
    for index in range(boards + 1):
        port = f"1-{index}"
        replayed = [replace(e, board=BoardRef(port, e.board.serial, e.board.chip))
                    if e.board is not None else e for e in events]
        began = time.perf_counter()
        for event in replayed:
            recorder(event)
        spent = time.perf_counter() - began
        if index == 0:
            first = spent  # hashes the files once
        else:
            per_board.append(spent)
    recorder.close()
    return first, per_board, per_board


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def row(name: str, result: tuple[float, list[float], list[float]], target: str
        ) -> tuple[str, str, str, str, str]:
    first, writes, per_board = result
    ms = 1000.0
    return (name, f"{statistics.median(writes) * ms:.2f} / {p95(writes) * ms:.2f}",
            f"{statistics.median(per_board) * ms:.2f} / {p95(per_board) * ms:.2f}",
            f"{first * ms:.1f}", target)


def print_table(rows: list[tuple[str, str, str, str, str]]) -> None:
    heads = ("store", "write ms (median / p95)", "board ms (median / p95)", "first write ms",
             "target")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    for line in (heads, tuple("-" * w for w in widths), *rows):
        print("| " + " | ".join(f"{c:<{w}}" for c, w in zip(line, widths, strict=True)) + " |")


def bench_postgres(tmp: Path, boards: int, rows: list[Any]) -> None:
    pgserver = load_pgserver()
    try:
        server = pgserver.PgServer.create(settings="fsync = on\nfull_page_writes = on")
    except pgserver.PgUnavailable as exc:
        print(f"PostgreSQL rows skipped: {exc}", file=sys.stderr)
        return
    try:
        direct = PostgresStore(server.create_database("bench_direct"))
        rows.append(row("PostgreSQL (loopback, fsync on)", measure(direct, boards),
                        "<= 20 ms per write"))
        direct.close()
        events = captured_boot(tmp)
        recorded = PostgresStore(server.create_database("bench_recorder"))
        rows.append(row("a whole board through the Recorder, PostgreSQL",
                        recorder_overhead(recorded, events, boards), "<= 20 ms per board"))
        recorded.close()
        queued = QueueingStore(PostgresStore(server.create_database("bench_queue")),
                               tmp / "outbox.db")
        rows.append(row("PostgreSQL via QueueingStore", measure(queued, boards),
                        "<= 20 ms per write"))
        server.stop()
        first = board_writes(queued, -2)[0]  # the write that finds the server down
        down = [board_writes(queued, index + boards) for index in range(boards)]
        rows.append(row("outbox, server down", (first, [t for b in down for t in b],
                                                [sum(b) for b in down]),
                        "no wait once known down"))
        queued.close(timeout=0.1)
    finally:
        server.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=300)
    args = parser.parse_args()
    rows: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="rpiboot-bench-records-") as name:
        tmp = Path(name)
        sqlite = SqliteStore(tmp / "records.db")
        rows.append(row("SQLite (WAL, synchronous=NORMAL)", measure(sqlite, args.boards),
                        "<= 5 ms per write"))
        sqlite.close()
        recorded = SqliteStore(tmp / "recorder.db")
        rows.append(row("a whole board through the Recorder, SQLite",
                        recorder_overhead(recorded, captured_boot(tmp), args.boards),
                        "<= 5 ms per board"))
        recorded.close()
        bench_postgres(tmp, args.boards, rows)
    print(f"{args.boards} boards x {WRITES_PER_BOARD} writes each, one thread")
    print_table(rows)


if __name__ == "__main__":
    main()

"""Stations in processes of their own (``rpiboot simulate SCENARIO -l``, the in-package
simulator) writing into one database: nothing lost, nothing twice, a server outage bridged
by the local queue, a station killed mid-board leaves that board interrupted."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from stations import board_serial, start_station, write_scenario

from rpiboot.records.model import BoardRecord, effective_result
from rpiboot.records.store import RecordFilter, open_store

BOARDS = 50
STATIONS = ("st1", "st2", "st3")
RUN_TIMEOUT_S = 240.0


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds (fail naming ``what`` after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


class Station:
    """One station process and the JSON events it printed so far."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self.stderr = b""
        self._out = threading.Thread(target=self._read, daemon=True)
        self._out.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                self.events.append(json.loads(line))

    def finished(self) -> int:
        return sum(1 for e in list(self.events) if e.get("event") == "finished")

    def wait(self) -> int:
        try:
            _, self.stderr = self.proc.communicate(timeout=RUN_TIMEOUT_S)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self._out.join(5)
        return self.proc.returncode


def run_stations(tmp_path: Path, db: str, env: dict[str, str] | None = None,
                 during: Callable[[list[Station]], None] | None = None,
                 spacing: float = 0.6) -> list[Station]:
    stations = [Station(start_station(write_scenario(tmp_path, name, BOARDS,
                                                     spacing=spacing), db, name, env))
                for name in STATIONS]
    try:
        if during is not None:
            during(stations)
    finally:
        codes = [s.wait() for s in stations]
    for station, code in zip(stations, codes, strict=True):
        assert code == 0, station.stderr.decode(errors="replace")[-3000:]
    return stations


def check_all_recorded(records: list[BoardRecord]) -> None:
    """150 records: one per board, none twice, each complete and passed."""
    expected = {board_serial(name, i) for name in STATIONS for i in range(BOARDS)}
    serials = [r.serial for r in records]
    assert len(records) == len(expected)
    assert len({r.id for r in records}) == len(records)
    assert set(serials) == expected
    for rec in records:
        assert rec.result == "passed" and rec.exit_code == 0, rec
        assert rec.station == rec.serial.split("-")[0]
        assert rec.operation == "recovery"
        assert [p["name"] for p in rec.phases] == ["rom", "fileserver"]
        assert rec.metadata["USER_SERIAL_NUM"] == rec.serial
        assert {f["name"] for f in rec.files} >= {"bootcode4.bin", "pieeprom.bin"}
        assert all(len(f["sha256"]) == 64 for f in rec.files)
    assert len({r.firmware["digest"] for r in records if r.firmware}) == 1


def test_three_stations_into_one_sqlite_file(tmp_path: Path) -> None:
    db = str(tmp_path / "shared.db")
    run_stations(tmp_path, db)
    store = open_store(db)
    try:
        check_all_recorded(store.query(RecordFilter()))
    finally:
        store.close()


def test_three_stations_into_postgresql_through_an_outage(tmp_path: Path, pg_server: Any,
                                                          pg_url: str) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}  # the stations' shared local outbox
    seen: dict[str, int] = {}

    def outage(stations: list[Station]) -> None:
        wait_for(lambda: sum(s.finished() for s in stations) >= 20, 120,
                 "20 boards served before the outage")
        pg_server.stop()
        seen["down_at"] = sum(s.finished() for s in stations)
        wait_for(lambda: sum(s.finished() for s in stations) >= seen["down_at"] + 15, 120,
                 "15 boards served while the server was down")
        seen["up_at"] = sum(s.finished() for s in stations)
        pg_server.start()

    run_stations(tmp_path, pg_url, env, during=outage, spacing=4.0)
    assert seen["up_at"] < len(STATIONS) * BOARDS  # the outage was mid-run
    store = open_store(pg_url)
    try:
        check_all_recorded(store.query(RecordFilter()))
    finally:
        store.close()


def test_a_station_killed_mid_board_leaves_that_board_interrupted(tmp_path: Path) -> None:
    db = str(tmp_path / "crash.db")
    scenario = write_scenario(tmp_path, "st9", 3, spacing=10.0, slow={2})
    proc = start_station(scenario, db, "st9")
    store = open_store(db)
    try:
        def stored() -> list[BoardRecord]:
            return store.query(RecordFilter(station="st9"))

        wait_for(lambda: [r.result for r in stored()] == ["passed", "passed", "running"]
                 and stored()[2].phases[-1]["name"] == "fileserver", 120,
                 "two boards passed and the third in its file server")
        before = stored()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        after = stored()
        assert [r.to_json() for r in after[:2]] == [r.to_json() for r in before[:2]]
        assert [effective_result(r) for r in after] == ["passed", "passed", "interrupted"]
        (cut,) = store.query(RecordFilter(result="interrupted"))
        # its metadata comes with the end of the file server, which it never reached: the
        # board is known by its second stage's USB serial
        assert cut.serial == cut.usb_serial == "u" + board_serial("st9", 2)
        assert cut.metadata == {} and cut.phases[-1]["ended_at"] is None
        # the station's next run writes the end of the board its killed run left running
        again = start_station(write_scenario(tmp_path, "st9b", 1), db, "st9")
        again.communicate(timeout=120)
        assert again.returncode == 0
        stored_cut = next(r for r in stored() if r.id == cut.id)
        assert (stored_cut.result, stored_cut.exit_code) == ("interrupted", 130)
        assert stored_cut.phases[-1]["result"] == "interrupted"
        assert f"pid {proc.pid}" in (stored_cut.error or "")
        assert [r.result for r in stored()] == ["passed", "passed", "interrupted", "passed"]
        assert store.query(RecordFilter(result="passed", station="st9"))[0].serial == \
            board_serial("st9", 0)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
        store.close()

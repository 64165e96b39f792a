"""The recorder in-process: a simulated board's boot and flash become records with every
field the issue names, written at each phase transition, hooks included."""

from __future__ import annotations

import copy
import hashlib
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

from rpiboot import BootOptions
from rpiboot.eeprom.image import EepromImage
from rpiboot.eeprom.info import describe
from rpiboot.engine.server import Server
from rpiboot.events import Event
from rpiboot.flash.flow import FlashOptions
from rpiboot.flash.station import Flasher
from rpiboot.records.hooks import Hook
from rpiboot.records.model import BoardRecord
from rpiboot.records.recorder import Recorder
from rpiboot.records.store import RecordFilter, open_store
from rpiboot.sim import PRESETS, Scenario, preset
from rpiboot.sim.disks import SimDisks

FAST = {"status_wait": 0.01, "wait_timeout": 10.0, "stage_timeout": 5.0,
        "poll_interval": 0.005}
MIB = 1 << 20


class CountingStore:
    """A real SQLite store that also keeps every revision it was given (to check when the
    recorder writes)."""

    def __init__(self, path: Path) -> None:
        self.inner = open_store(str(path))
        self.url = self.inner.url
        self.puts: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def put(self, rec: BoardRecord) -> None:
        with self.lock:
            self.puts.append(rec.to_json())
        self.inner.put(rec)

    def query(self, flt: RecordFilter) -> list[BoardRecord]:
        return self.inner.query(flt)

    def close(self) -> None:
        self.inner.close()


def serve(tmp_path: Path, spec: dict[str, Any], recorder_args: dict[str, Any] | None = None,
          boot_dir: Path | None = None) -> tuple[CountingStore, Recorder, Scenario]:
    scenario = Scenario.load(spec, tmp_path / "work", time_scale=0.02, boot_dir=boot_dir)
    store = CountingStore(tmp_path / "records.db")
    recorder = Recorder(store, station="bench-1", **(recorder_args or {}))
    options = BootOptions(boot_dir=boot_dir or scenario.bootdir, metadata=True, **FAST)
    scenario.bus.start()
    try:
        Server(options, backend=scenario.bus.backend, on_event=recorder).run()
    finally:
        scenario.bus.close()
    recorder.close()
    return store, recorder, scenario


def test_a_recovery_boot_is_one_record_with_every_field(tmp_path: Path) -> None:
    store, _, scenario = serve(tmp_path, preset("recovery"))
    (rec,) = store.query(RecordFilter())
    assert (rec.station, rec.port_path, rec.chip) == ("bench-1", "1-1", "BCM2711")
    assert (rec.rom_serial, rec.usb_serial, rec.serial) == ("dc626c31",) * 3
    assert rec.operation == "recovery" and rec.result == "passed" and rec.exit_code == 0
    assert [p["name"] for p in rec.phases] == ["rom", "fileserver"]
    assert all(p["result"] == "passed" and p["started_at"] <= p["ended_at"]
               for p in rec.phases)
    assert rec.metadata["MAC_ADDR"] == "d8:3a:dd:00:11:22"
    served = {f["name"]: f for f in rec.files}
    boot = scenario.bootdir
    for name in ("bootcode4.bin", "pieeprom.bin", "pieeprom.sig", "config.txt"):
        assert served[name]["sha256"] == hashlib.sha256((boot / name).read_bytes()).hexdigest()
        assert served[name]["size"] == (boot / name).stat().st_size
    assert rec.firmware is not None and rec.firmware["set"] == str(boot)
    assert rec.firmware["verified"] is False and len(rec.firmware["digest"]) == 64
    assert rec.error is None and rec.ended_at is not None and rec.rpiboot_version
    # written at each transition: rom started, fileserver started, the end
    assert [(p["revision"], p["result"]) for p in store.puts] == [
        (1, "running"), (2, "running"), (3, "passed")]


def test_a_failed_boot_records_the_error_the_exit_code_and_the_diagnosis(
        tmp_path: Path) -> None:
    spec = preset("cm4")
    spec["devices"][0]["rom"]["unresponsive"] = True
    store, _, _ = serve(tmp_path, spec)
    (rec,) = store.query(RecordFilter())
    assert rec.result == "failed" and rec.exit_code in (1, 4)
    assert rec.error and rec.diagnosis and rec.diagnosis["stage"] and rec.diagnosis["causes"]
    assert rec.phases[-1]["result"] == "failed"


def test_hooks_run_with_the_record_and_their_output_is_recorded(tmp_path: Path) -> None:
    script = ("import json, os, sys; rec = json.load(sys.stdin); "
              "print(rec['serial'], os.environ['RPIBOOT_RESULT'], rec['result'])")
    hooks = [Hook(f"{sys.executable} -c \"{script}\"", "done"),
             Hook(f"{sys.executable} -c \"import sys; sys.exit(3)\"", "failed")]
    store, recorder, _ = serve(tmp_path, preset("recovery"), {"hooks": hooks})
    (rec,) = store.query(RecordFilter())
    assert len(rec.hooks) == 1  # the board passed: the "failed" hook did not run
    assert rec.hooks[0]["exit_code"] == 0
    assert rec.hooks[0]["stdout"].split() == ["dc626c31", "passed", "passed"]
    assert recorder.records[0].hooks == rec.hooks


def test_a_flashed_board_records_the_flash_phases_and_the_image(tmp_path: Path) -> None:
    data = hashlib.shake_256(b"image").digest(3 * MIB)
    (tmp_path / "os.img").write_bytes(data)
    spec = copy.deepcopy(PRESETS["cm5"])
    spec["devices"][0]["second_stage"]["after"]["disks"] = [
        {"name": "emmc", "bytes": 8 * MIB, "fill": "zero"}]
    scenario = Scenario.load(spec, tmp_path / "work", time_scale=0.02)
    disks = SimDisks(scenario.bus, tmp_path / "disks")
    store = CountingStore(tmp_path / "records.db")
    recorder = Recorder(store, operation="flash", image="os.img")
    seen: list[Event] = []
    recorder.forward = seen.append
    scenario.bus.start()
    try:
        report = Flasher(BootOptions(boot_dir=scenario.bootdir, **FAST),
                         FlashOptions(str(tmp_path / "os.img"), gadget_timeout=10),
                         disks=disks, on_event=recorder, backend=scenario.bus.backend).run()
    finally:
        scenario.bus.close()
    recorder.close()
    assert report.ok, report.errors
    (rec,) = store.query(RecordFilter())
    assert rec.operation == "flash" and rec.result == "passed"
    assert [p["name"] for p in rec.phases] == ["rom", "fileserver", "gadget", "write",
                                               "verify"]
    assert rec.image == {"name": "os.img", "sha256": hashlib.sha256(data).hexdigest(),
                         "bytes": len(data), "verified": True}
    assert rec.serial == rec.metadata.get("USER_SERIAL_NUM", rec.usb_serial)
    assert len(seen) > 5  # every event still reaches the next callback


def test_a_board_that_fails_before_it_is_opened_still_gets_a_failed_record(
        tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    store, recorder, _ = serve(tmp_path, preset("cm4"), boot_dir=empty)
    (rec,) = store.query(RecordFilter())
    assert rec.result == "failed" and rec.exit_code == 1 and rec.chip == "BCM2711"
    assert "bootcode4.bin" in (rec.error or "") and rec.phases == []
    assert recorder.records[0].id == rec.id


def recovery_dir_with(tmp_path: Path, eeprom: bytes) -> Path:
    """The recovery preset's boot folder with ``eeprom`` as its pieeprom.bin."""
    generated = Scenario.load(preset("recovery"), tmp_path / "gen", time_scale=0.02)
    folder = tmp_path / "recovery"
    shutil.copytree(generated.bootdir, folder)
    generated.bus.close()
    (folder / "pieeprom.bin").write_bytes(eeprom)
    return folder


def test_an_eeprom_image_with_a_key_gives_the_fingerprint_and_secure_boot(
        tmp_path: Path, vectors_dir: Path) -> None:
    signed = vectors_dir / "eeprom" / "update-pieeprom-2711-signed" / "outputs" / "pieeprom.bin"
    key_hash = describe(EepromImage.load(signed)).pubkey_hash
    assert key_hash is not None
    # the image as update-pieeprom.sh signed it: a recovery that embeds the key
    folder = recovery_dir_with(tmp_path / "a", signed.read_bytes())
    store, _, _ = serve(tmp_path / "a", preset("recovery"), boot_dir=folder)
    (rec,) = store.query(RecordFilter())
    assert (rec.operation, rec.key_fingerprint) == ("recovery", key_hash)
    # the same image whose boot config also programs the key into OTP: secure boot
    image = EepromImage.load(signed)
    config = (image.read_file("bootconf.txt") or b"").rstrip(b"\n")
    image.replace_file("bootconf.txt", config + b"\nprogram_pubkey=1\n")
    folder = recovery_dir_with(tmp_path / "b", image.to_bytes())
    store, _, _ = serve(tmp_path / "b", preset("recovery"), boot_dir=folder)
    (rec,) = store.query(RecordFilter())
    assert (rec.operation, rec.key_fingerprint) == ("secure-boot", key_hash)

"""The whole flash flow in-process: simulated boards boot, come back as mass-storage gadgets
with file-backed disks (rpiboot.sim.disks), and each gets the image written and read back —
one failing board never stops the others."""

from __future__ import annotations

import copy
import hashlib
import lzma
import threading
from pathlib import Path
from typing import Any

import pytest

from rpiboot import BootOptions, ExitCode
from rpiboot.events import BoardFailed, Event, Flashed, FlashProgress, GadgetFound
from rpiboot.flash.flow import FlashOptions
from rpiboot.flash.station import Flasher
from rpiboot.sim import PRESETS, Scenario
from rpiboot.sim.disks import SimDisks

TIME_SCALE = 0.02
FAST = {"status_wait": 0.01, "wait_timeout": 10.0, "stage_timeout": 5.0,
        "poll_interval": 0.005}
MIB = 1 << 20


def image_bytes(size: int, seed: str = "image") -> bytes:
    """A realistic image: random data with zero runs (so compressors have work to do)."""
    out = bytearray()
    block = 0
    while len(out) < size:
        chunk = hashlib.shake_256(f"{seed}:{block}".encode()).digest(MIB)
        out += chunk if block % 3 else bytes(MIB)
        block += 1
    return bytes(out[:size])


def cm5(port: str = "1-1", board_id: str = "cm5", disk_bytes: int = 32 * MIB) -> dict[str, Any]:
    device = copy.deepcopy(PRESETS["cm5"]["devices"][0])
    device["id"], device["port"] = board_id, port
    device["rom"]["serial"] = f"{board_id}-rom"
    after = device["second_stage"]["after"]
    after["serial"] = board_id
    after["disks"] = [{"name": "emmc", "bytes": disk_bytes, "fill": "zero"}]
    return device


def scenario(*devices: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(PRESETS["cm5"])
    spec["devices"] = list(devices)
    if any("." in d["port"].split("-", 1)[1] for d in devices):
        spec["hubs"] = [{"id": "hub", "port": "1-3", "ports": 4}]
    return spec


class Station:
    """A simulated station: the scenario's boards, their disks, and the events seen."""

    def __init__(self, tmp: Path, spec: dict[str, Any]) -> None:
        self.scenario = Scenario.load(spec, tmp / "work", time_scale=TIME_SCALE)
        self.disks = SimDisks(self.scenario.bus, tmp / "disks")
        self.events: list[Event] = []
        self.lock = threading.Lock()

    def record(self, event: Event) -> None:
        with self.lock:
            self.events.append(event)

    def run(self, flash: FlashOptions, **options: Any) -> Any:
        boot = BootOptions(boot_dir=self.scenario.bootdir, **{**FAST, **options})
        self.scenario.bus.start()
        try:
            return Flasher(boot, flash, disks=self.disks, on_event=self.record,
                           backend=self.scenario.bus.backend).run()
        finally:
            self.scenario.bus.close()

    def disk(self, board_id: str) -> bytes:
        return (self.disks.folder / f"{board_id}-emmc.img").read_bytes()

    def kinds(self, cls: type) -> list[Any]:
        with self.lock:
            return [e for e in self.events if isinstance(e, cls)]


def test_one_board_written_and_verified_from_a_raw_image(tmp_path: Path) -> None:
    data = image_bytes(6 * MIB)
    (tmp_path / "os.img").write_bytes(data)
    station = Station(tmp_path, scenario(cm5()))
    report = station.run(FlashOptions(str(tmp_path / "os.img"), gadget_timeout=10))
    assert report.exit_code == ExitCode.OK, report.errors
    (result,) = report.boards
    assert result.ok and result.verified and result.bytes_written == len(data)
    disk = station.disk("cm5")
    assert disk[:len(data)] == data and disk[len(data):] == bytes(len(disk) - len(data))
    (gadget,) = station.kinds(GadgetFound)
    assert gadget.disks[0]["lun"] == 0 and gadget.board.port_path == "1-1"
    (flashed,) = station.kinds(Flashed)
    assert flashed.verified and flashed.sha256 == hashlib.sha256(data).hexdigest()
    phases = {e.phase for e in station.kinds(FlashProgress)}
    assert phases == {"write", "verify"}
    assert station.scenario.bus.problems() == []


def test_an_xz_image_is_decompressed_on_the_fly(tmp_path: Path) -> None:
    data = image_bytes(5 * MIB, "xz")
    (tmp_path / "os.img.xz").write_bytes(lzma.compress(data))
    station = Station(tmp_path, scenario(cm5()))
    report = station.run(FlashOptions(str(tmp_path / "os.img.xz"), gadget_timeout=10))
    assert report.exit_code == ExitCode.OK, report.errors
    assert station.disk("cm5")[:len(data)] == data


def test_boards_at_once_and_one_too_small_does_not_stop_the_others(tmp_path: Path) -> None:
    data = image_bytes(6 * MIB, "many")
    (tmp_path / "os.img").write_bytes(data)
    station = Station(tmp_path, scenario(
        cm5("1-3.1", "a"), cm5("1-3.2", "b"), cm5("1-3.3", "small", disk_bytes=4 * MIB)))
    stop_after = threading.Event()

    def enough(event: Event) -> None:
        station.record(event)
        if len(station.kinds(Flashed)) + len(station.kinds(BoardFailed)) == 3:
            stop_after.set()

    boot = BootOptions(boot_dir=station.scenario.bootdir, loop=True, **FAST)
    station.scenario.bus.start()
    try:
        flasher = Flasher(boot, FlashOptions(str(tmp_path / "os.img"), gadget_timeout=10),
                          disks=station.disks, on_event=enough,
                          backend=station.scenario.bus.backend)
        threading.Thread(target=lambda: (stop_after.wait(60), flasher.stop()),
                         daemon=True).start()
        report = flasher.run()
    finally:
        station.scenario.bus.close()
    by_port = {r.board.port_path: r for r in report.boards}
    assert by_port["1-3.1"].ok and by_port["1-3.2"].ok
    assert station.disk("a")[:len(data)] == data and station.disk("b")[:len(data)] == data
    small = by_port["1-3.3"]
    assert small.error is not None and small.diagnosis is not None
    assert station.disk("small") == bytes(4 * MIB)  # refused before the first byte
    assert report.exit_code == ExitCode.FAILED


def test_a_mismatch_found_by_verify_names_the_first_bad_offset(tmp_path: Path) -> None:
    data = image_bytes(3 * MIB, "bad")
    (tmp_path / "os.img").write_bytes(data)
    station = Station(tmp_path, scenario(cm5()))
    bad = 1_234_567

    def corrupt_after_write(event: Event) -> None:
        station.record(event)
        if isinstance(event, FlashProgress) and event.phase == "write" and \
                event.done == event.total == len(data):
            with open(station.disks.folder / "cm5-emmc.img", "r+b") as disk:
                disk.seek(bad)
                disk.write(bytes([data[bad] ^ 0xFF]))

    boot = BootOptions(boot_dir=station.scenario.bootdir, **FAST)
    station.scenario.bus.start()
    try:
        report = Flasher(boot, FlashOptions(str(tmp_path / "os.img"), gadget_timeout=10),
                         disks=station.disks, on_event=corrupt_after_write,
                         backend=station.scenario.bus.backend).run()
    finally:
        station.scenario.bus.close()
    (result,) = report.boards
    assert result.error is not None and result.diagnosis.stage == "verify"
    assert str(bad) in str(result.error)
    (failed,) = station.kinds(BoardFailed)
    assert failed.stage == "verify"
    assert report.exit_code != ExitCode.OK


def test_a_board_that_never_becomes_a_disk_fails_in_the_gadget_stage(tmp_path: Path) -> None:
    (tmp_path / "os.img").write_bytes(image_bytes(MIB))
    device = cm5()
    device["second_stage"]["after"] = {"action": "disappear", "delay": 0.1}
    station = Station(tmp_path, scenario(device))
    report = station.run(FlashOptions(str(tmp_path / "os.img"), gadget_timeout=0.5))
    (result,) = report.boards
    assert result.diagnosis is not None and result.diagnosis.stage == "gadget"
    assert report.exit_code == ExitCode.TIMEOUT


@pytest.mark.parametrize("target", [1, "nvme"])
def test_target_picks_the_lun(tmp_path: Path, target: int | str) -> None:
    data = image_bytes(2 * MIB, "lun")
    (tmp_path / "os.img").write_bytes(data)
    device = cm5()
    device["second_stage"]["after"]["disks"] = [
        {"name": "emmc", "bytes": 8 * MIB, "fill": "zero"},
        {"name": "nvme", "bytes": 8 * MIB, "fill": "zero", "model": "NVMe Drive"}]
    station = Station(tmp_path, scenario(device))
    report = station.run(FlashOptions(str(tmp_path / "os.img"), target=target,
                                      gadget_timeout=10))
    assert report.exit_code == ExitCode.OK, report.errors
    assert (station.disks.folder / "cm5-nvme.img").read_bytes()[:len(data)] == data
    assert station.disk("cm5") == bytes(8 * MIB)


def test_per_board_files_land_in_the_boot_partition(tmp_path: Path) -> None:
    """--customize: a Raspberry Pi OS-like image (MBR, FAT32 boot partition) gets a templated
    cloud-init user-data with the board's serial; fsck.fat and mtools agree."""
    from flash_fat_helpers import fsck_clean, mbr_disk, mkfs, mtype

    fs = mkfs(tmp_path / "boot.fs", fat=32, size_kib=40 * 1024,
              files={"config.txt": b"[all]\n", "cmdline.txt": b"console=serial0\n"})
    image = tmp_path / "os.img"
    offset, _ = mbr_disk(image, fs.read_bytes())
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "user-data").write_text("#cloud-config\nhostname: cm5-{serial}\n")
    station = Station(tmp_path, scenario(cm5(disk_bytes=64 * MIB)))
    report = station.run(FlashOptions(str(image), customize=custom, gadget_timeout=10))
    assert report.exit_code == ExitCode.OK, report.errors
    (result,) = report.boards
    assert result.customized and "customize" in result.phases
    disk = station.disks.folder / "cm5-emmc.img"
    fsck_clean(disk, offset)
    serial = result.board.serial  # no USER_SERIAL_NUM record: the second stage's serial
    assert serial and mtype(disk, "user-data", offset) == (
        f"#cloud-config\nhostname: cm5-{serial}\n".encode())
    assert mtype(disk, "config.txt", offset) == b"[all]\n"
    (flashed,) = station.kinds(Flashed)
    assert flashed.customized


def test_a_template_field_the_board_lacks_fails_the_customize_stage(tmp_path: Path) -> None:
    from flash_fat_helpers import mbr_disk, mkfs

    fs = mkfs(tmp_path / "boot.fs", fat=32, size_kib=40 * 1024)
    image = tmp_path / "os.img"
    mbr_disk(image, fs.read_bytes())
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "id.txt").write_text("{NO_SUCH_RECORD}\n")
    station = Station(tmp_path, scenario(cm5(disk_bytes=64 * MIB)))
    report = station.run(FlashOptions(str(image), customize=custom, gadget_timeout=10))
    (result,) = report.boards
    assert result.diagnosis is not None and result.diagnosis.stage == "customize"
    assert "NO_SUCH_RECORD" in str(result.error)
    assert result.verified  # the image itself was written and verified

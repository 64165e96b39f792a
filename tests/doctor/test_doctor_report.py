"""The report's pieces without hardware: stages, device checks and their fixes, firmware sets,
the JSON schema, the human rendering, the CLI's exit status, and the package's layering."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from rpiboot.cli.doctor_render import render
from rpiboot.cli.main import main as rpiboot_main
from rpiboot.doctor import checks, diagnose
from rpiboot.doctor.firmware_check import firmware_section, firmware_sets
from rpiboot.doctor.host import LibusbInfo, UserInfo, host_problems, os_family
from rpiboot.doctor.report import Device, Hub, Problem, Report, stage_of

TESTS = Path(__file__).resolve().parents[1]
SRC = TESTS.parent / "src"


@pytest.mark.parametrize(("vid", "pid", "index", "stage"), [
    (0x0A5C, 0x2711, 3, "rom"), (0x0A5C, 0x2711, 4, "fileserver"), (0x0A5C, 0x2712, 3, "rom"),
    (0x0A5C, 0x2764, 0, "rom"), (0x0A5C, 0x2764, 1, "fileserver"), (0x0A5C, 0x2763, 0, "rom"),
    (0x0A5C, 0x2711, None, "rom"), (0x0525, 0xA4A5, 5, "gadget"), (0x0A5C, 0x21E8, 0, "other"),
])
def test_stages(vid: int, pid: int, index: int | None, stage: str) -> None:
    assert stage_of(vid, pid, index) == stage


def _board(port: str = "1-1", pid: int = 0x2711, speed: float | None = 480,
           hubs: tuple[Hub, ...] = (), **kwargs: object) -> Device:
    return Device(port_path=port, vid=0x0A5C, pid=pid, serial_index=3, speed=speed, hubs=hubs,
                  **kwargs)  # type: ignore[arg-type]


def test_full_speed_names_a_slow_hub() -> None:
    slow_hub = Hub("1-3", "05e3:0608", "USB1.1 Hub", 12, True)
    (problem,) = checks.full_speed(_board("1-3.2", speed=12, hubs=(slow_hub,)))
    assert problem.id == "full-speed" and problem.device == "1-3.2"
    assert "the hub at 1-3 (05e3:0608) itself runs at 12 Mb/s" in problem.what
    assert checks.full_speed(_board(speed=480)) == []
    assert checks.full_speed(_board(speed=None)) == []
    gadget = Device(port_path="1-2", vid=0x0525, pid=0xA4A5, speed=1.5)
    assert checks.full_speed(gadget)[0].what.startswith("1-2 (0525:a4a5), gadget: runs at 1.5")


def test_a_bus_powered_hub_matters_most_for_cm5() -> None:
    weak = Hub("1-4", "05e3:0608", None, 480, False)
    (cm5,) = checks.weak_hubs(_board("1-4.1", pid=0x2712, hubs=(weak,)))
    (cm4,) = checks.weak_hubs(_board("1-4.2", hubs=(weak,)))
    assert (cm5.severity, cm4.severity) == ("warning", "info")
    assert "900 mA" in cm5.fix and "900 mA" not in cm4.fix
    assert checks.weak_hubs(_board(hubs=(Hub("1-4", "x", None, 480, None),))) == []


def test_no_board_only_when_nothing_of_a_pi_is_there() -> None:
    other = Device(port_path="1-7", vid=0x0A5C, pid=0x21E8)
    assert [p.id for p in checks.no_board([other])] == ["no-board"]
    assert checks.no_board([_board()]) == []
    gadget = Device(port_path="1-2", vid=0x0525, pid=0xA4A5, driver=None)
    assert checks.no_board([gadget]) == []
    (disks,) = checks.stage_notes(gadget)
    assert disks.id == "gadget-without-disks" and "modprobe usb-storage" in disks.fix


def test_host_problems() -> None:
    missing = LibusbInfo(False, error="no usable libusb-1.0 library found", hint="Install it.")
    assert [(p.id, p.severity, p.fix) for p in host_problems("linux", missing)] == [
        ("libusb-missing", "error", "Install it.")]
    polling = LibusbInfo(True, "some libusb", "1.0.20", False)
    assert [p.id for p in host_problems("darwin", polling)] == ["no-hotplug"]
    assert host_problems("win32", polling) == []
    assert (os_family("linux2"), os_family("win32"), os_family("cygwin")) == (
        "linux", "win32", "win32")


@pytest.mark.parametrize("pointer", ["link", "file", "data-link"])
def test_firmware_sets_and_their_current_pointer(tmp_path: Path, pointer: str) -> None:
    sets = tmp_path / "sets"
    for name in ("a", "b"):
        (sets / name / "mass-storage-gadget64").mkdir(parents=True)
    (sets / "b" / "mass-storage-gadget64" / "bootfiles.bin").write_bytes(b"tar")
    if pointer == "link":
        (sets / "current").symlink_to("b")
    elif pointer == "file":
        (sets / "current").write_text("b\n")
    else:
        (tmp_path / "current").symlink_to(sets / "b")
    found = firmware_sets(tmp_path)
    assert found["current"] == "b" and [s["name"] for s in found["sets"]] == ["a", "b"]
    assert found["sets"][1]["gadget_dir"] == str(sets / "b" / "mass-storage-gadget64")
    assert firmware_sets(tmp_path / "nothing") == {
        "path": str(tmp_path / "nothing" / "sets"), "exists": False, "current": None, "sets": []}


def test_firmware_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           firmware_dir: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("RPIBOOT_FIRMWARE_DIR", str(tmp_path / "gone"))
    section, problems = firmware_section()
    ids = [p.id for p in problems]
    assert ids[0] == "firmware-env-missing" and str(tmp_path / "gone") in problems[0].what
    assert ("no-default-firmware" in ids) == (not any(section["default"].values()))
    msd_only = tmp_path / "msd-only"
    (msd_only / "msd").mkdir(parents=True)
    (msd_only / "msd" / "bootcode.bin").write_bytes(b"x")
    monkeypatch.setenv("RPIBOOT_FIRMWARE_DIR", str(msd_only))
    section, problems = firmware_section()
    assert section["default"]["BCM2835"] == str(msd_only / "msd")
    if section["default"]["BCM2711"] is None:
        assert "BCM2711" in next(p.what for p in problems if p.id == "partial-default-firmware")
    section, _ = firmware_section(firmware_dir / "usbboot")
    assert section["roots"][0]["origin"] == "--firmware-dir"
    assert all(section["default"].values())


def _report(*problems: Problem, devices: tuple[Device, ...] = ()) -> Report:
    host = {"os": "linux", "os_release": None, "kernel": "6.1", "machine": "x86_64",
            "python": {"version": "3.11", "implementation": "CPython", "executable": "py"},
            "rpiboot": "0.1.0",
            "libusb": {"loaded": True, "description": "system libusb", "version": "1.0.26",
                       "hotplug": True, "error": None, "hint": None},
            "user": {"name": "alice", "uid": 1000, "groups": ["alice"], "root": False,
                     "pending_groups": ["plugdev"]}, "usb_driver": "none"}
    firmware = {"env": None, "roots": [], "default": {"BCM2711": None},
                "sets": {"path": "/s", "exists": False, "current": None, "sets": []}}
    return Report(host=host, permissions=None, devices=devices, firmware=firmware,
                  problems=problems)


def test_json_schema_of_a_report() -> None:
    board = _board(serial="af04b2da", hubs=(Hub("1-3", "05e3:0608", "Hub", 480, True),))
    problem = Problem("full-speed", "warning", "slow", "use a good cable", "1-1")
    data = json.loads(json.dumps(_report(problem, devices=(board,)).to_json()))
    assert set(data) == {"version", "host", "permissions", "devices", "firmware", "problems"}
    (device,) = data["devices"]
    assert {"port_path", "vid_pid", "chip", "stage", "speed", "serial"} <= set(device)
    assert (device["vid_pid"], device["chip"], device["stage"]) == ("0a5c:2711", "BCM2711", "rom")
    assert device["hubs"] == [{"port_path": "1-3", "vid_pid": "05e3:0608", "product": "Hub",
                               "speed": 480, "self_powered": True}]
    assert data["problems"] == [{"id": "full-speed", "severity": "warning", "what": "slow",
                                 "fix": "use a good cable", "device": "1-1"}]


def test_render_and_the_worst_severity() -> None:
    empty = _report()
    text = render(empty)
    assert "Raspberry Pi USB devices: none" in text and "No problems found." in text
    assert "(not in this session yet: plugdev)" in text and empty.worst is None
    report = _report(Problem("a", "info", "i", "f"), Problem("b", "error", "e", "g"))
    assert report.worst == "error" and "Problems (1 error, 1 info)" in render(report)


def test_the_cli_exit_status_follows_the_worst_problem(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    status = rpiboot_main(["doctor", "--json"])
    data = json.loads(capsys.readouterr().out)
    errors = [p for p in data["problems"] if p["severity"] == "error"]
    assert status == (1 if errors else 0)


def test_layers_doctor_and_udev_stay_in_place() -> None:
    path = TESTS / "arch" / "import_graph.py"
    spec = importlib.util.spec_from_file_location("import_graph", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    graph = module.import_graph(SRC)

    def deps(prefix: str) -> set[str]:
        return {dep for module, found in graph.items() if module.startswith(prefix)
                for dep in found if dep.startswith("rpiboot.")}
    above_usb = ("rpiboot.doctor", "rpiboot.udev", "rpiboot.cli")
    assert not [d for d in deps("rpiboot.usb") if d.startswith(above_usb)]
    assert not [d for d in deps("rpiboot.udev") if d.startswith(
        ("rpiboot.usb", "rpiboot.doctor", "rpiboot.cli", "rpiboot.engine", "rpiboot.sim"))]
    assert not [d for d in deps("rpiboot.doctor") if d.startswith(
        ("rpiboot.cli", "rpiboot.engine", "rpiboot.sim", "rpiboot.protocol", "rpiboot.boot"))]


def test_a_board_the_loaded_libusb_does_not_list() -> None:
    hidden = _board(libusb_visible=False)
    (problem,) = checks.libusb_blind(hidden, "libusb-package bundled libusb (/x/libusb-1.0.so)")
    assert problem.id == "libusb-cannot-see" and "RPIBOOT_LIBUSB=" in problem.fix
    assert checks.libusb_blind(_board(libusb_visible=None), "x") == []


def test_a_doctor_run_with_sudo_says_whose_permissions_it_checked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    root = UserInfo("root", 0, ("root",), True)
    monkeypatch.setenv("SUDO_USER", "alice")
    report = diagnose(platform="linux", user=root)
    (note,) = [p for p in report.problems if p.id == "ran-as-root"]
    assert "alice" in note.what and "without sudo" in note.fix
    monkeypatch.delenv("SUDO_USER")
    assert not [p for p in diagnose(platform="linux", user=root).problems
                if p.id == "ran-as-root"]

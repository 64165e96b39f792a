"""The INSTALLED ``rpiboot doctor`` through the real system libusb, against umockdev testbeds
built from the bench's device models (``umockdev_bed.py``): boards sitting at each stage, a
board stuck at full speed, a CM5 behind a bus-powered hub, a node the user cannot open, a
gadget with its disk, unrelated devices, and an empty bus.  The boards log every transfer:
the doctor must not cause a single one.

Needs umockdev-wrapper, Debian's python3 with the umockdev bindings and a udev-enabled
system libusb (as tests/e2e); without them the tests skip, except under ``CI``, where they
fail.  The permission cases run the doctor as ``nobody`` (setpriv), so they need root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rpiboot.udev.install import RULE_FILE, rule_text

HERE = Path(__file__).resolve().parent
TOOL = Path(sys.executable).with_name("rpiboot")
SYSTEM_PYTHON = "/usr/bin/python3"
MiB = 1024 * 1024


def missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the umockdev doctor tests must run)")
    pytest.skip(reason)


def system_libusb() -> str | None:
    for folder in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
                   "/usr/lib"):
        if os.path.exists(f"{folder}/libusb-1.0.so.0"):
            return f"{folder}/libusb-1.0.so.0"
    return None


@pytest.fixture(scope="module")
def bed(shared_dir: Path) -> dict[str, str]:
    """What a testbed run needs; skips (or fails under CI) when it cannot run."""
    if shutil.which("umockdev-wrapper") is None:
        missing("umockdev-wrapper is not installed (apt-get install umockdev "
                "gir1.2-umockdev-1.0 python3-gi)")
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('UMockdev', "
                            "'1.0')"], capture_output=True, check=False)
    if probe.returncode != 0:
        missing(f"{SYSTEM_PYTHON} has no umockdev bindings (python3-gi, gir1.2-umockdev-1.0)")
    libusb = system_libusb()
    if libusb is None:
        missing("the system libusb-1.0 (udev-enabled, e.g. Debian's libusb-1.0-0) is missing")
    if not TOOL.is_file():
        missing(f"the installed rpiboot CLI is not at {TOOL} (pip install -e .)")
    return {"bench": str(shared_dir / "bench"), "libusb": str(libusb),
            "firmware": str(shared_dir / "firmware" / "usbboot")}


def run_bed(bed: dict[str, str], tmp: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """Build the testbed, run ``spec["runs"]`` against it, return the builder's report."""
    spec = {"bench": bed["bench"], **spec}
    path = tmp / "spec.json"
    path.write_text(json.dumps(spec))
    done = subprocess.run(["umockdev-wrapper", SYSTEM_PYTHON, str(HERE / "umockdev_bed.py"),
                           str(path)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def doctor_run(bed: dict[str, str], name: str, *, env: dict[str, str] | None = None,
               as_nobody: bool = False, text: bool = False) -> dict[str, Any]:
    base = {"RPIBOOT_LIBUSB": bed["libusb"], "SSH_CONNECTION": "", "RPIBOOT_FIRMWARE_DIR": "",
            "HOME": "/nonexistent", "XDG_DATA_HOME": "/nonexistent/share"}
    return {"name": name, "argv": [str(TOOL), "doctor", *([] if text else ["--json"])],
            "env": {**base, **(env or {})}, "as_nobody": as_nobody}


BOARDS: dict[str, Any] = {
    "hubs": [{"port": "1-3"}, {"port": "1-4", "self_powered": False}],
    "devices": [
        {"kind": "rom", "port": "1-1", "pid": "2711", "serial": "af04b2da", "mode": "0600"},
        {"kind": "gadget", "port": "1-2", "serial": "cafe0001",
         "disks": [{"name": "emmc", "bytes": 8 * MiB}]},
        {"kind": "fileserver", "port": "1-3.1", "pid": "2711", "serial": "b29d2da0"},
        {"kind": "rom", "port": "1-4.1", "pid": "2712", "serial": "5a5a5a5a"},
        {"kind": "rom", "port": "1-5", "pid": "2711", "serial": "f0f0f0f0", "speed": "full"},
        {"kind": "other", "port": "1-6", "vid": "046d", "pid": "c31c", "product": "Keyboard"},
        {"kind": "other", "port": "1-7", "vid": "0a5c", "pid": "21e8", "product": "BCM20702A0"},
    ],
}


@pytest.fixture(scope="module")
def public_dir() -> Iterator[Path]:
    """A temporary folder ``nobody`` can read (pytest's own are private to their owner)."""
    folder = Path(tempfile.mkdtemp(prefix="rpiboot-doctor-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.fixture(scope="module")
def boards(bed: dict[str, str], tmp_path_factory: pytest.TempPathFactory,
           public_dir: Path) -> dict[str, Any]:
    """One testbed with every board; the doctor run as root, and (when we are root) as
    nobody without udev rules, with rpiboot's uaccess rule, with a group rule, and with a
    rules folder it cannot read."""
    tmp = tmp_path_factory.mktemp("doctor-boards")
    data = tmp / "data"
    for name in ("2025-01-10", "2025-03-04"):
        (data / "rpiboot" / "sets" / name / "msd").mkdir(parents=True)
        (data / "rpiboot" / "sets" / name / "msd" / "bootcode4.bin").write_bytes(b"x")
    (data / "rpiboot" / "sets" / "current").symlink_to("2025-03-04")
    rules = {}
    for name, text in (("none", None), ("uaccess", rule_text()), ("group", rule_text("plugdev"))):
        folder = public_dir / f"rules-{name}"
        folder.mkdir()
        if text is not None:
            (folder / RULE_FILE).write_text(text)
        rules[name] = str(folder)
    rules["private"] = str(tmp)  # below pytest's folder, which only root may enter
    root_env = {"RPIBOOT_UDEV_RULES_DIRS": rules["none"], "XDG_DATA_HOME": str(data),
                "RPIBOOT_FIRMWARE_DIR": bed["firmware"]}
    runs = [doctor_run(bed, "root", env=root_env)]
    if os.geteuid() == 0:
        runs += [doctor_run(bed, f"nobody-{name}", env={"RPIBOOT_UDEV_RULES_DIRS": folder},
                            as_nobody=True) for name, folder in rules.items()]
        runs.append(doctor_run(bed, "nobody-text", env={"RPIBOOT_UDEV_RULES_DIRS": rules["none"]},
                               as_nobody=True, text=True))
    return run_bed(bed, tmp, {**BOARDS, "runs": runs})


def _report(result: dict[str, Any], run: str) -> dict[str, Any]:
    if run not in result["runs"]:
        pytest.skip("running the doctor as another user needs root (CI runs as root)")
    done = result["runs"][run]
    assert done["stderr"] == "", done["stderr"][-3000:]
    report: dict[str, Any] = json.loads(done["stdout"])
    report["rc"] = done["rc"]
    return report


def _problems(report: dict[str, Any], problem_id: str) -> list[dict[str, Any]]:
    return [p for p in report["problems"] if p["id"] == problem_id]


def test_every_board_is_named_with_its_stage_chip_and_speed(boards: dict[str, Any]) -> None:
    report = _report(boards, "root")
    assert report["version"] == 1 and report["rc"] == 0
    devices = {d["port_path"]: d for d in report["devices"]}
    assert sorted(devices) == ["1-1", "1-2", "1-3.1", "1-4.1", "1-5", "1-7"]  # no hub, no keyboard
    summary = {port: (d["vid_pid"], d["chip"], d["stage"], d["speed"], d["serial"])
               for port, d in devices.items()}
    assert summary == {
        "1-1": ("0a5c:2711", "BCM2711", "rom", 480, "af04b2da"),
        "1-2": ("0525:a4a5", None, "gadget", 480, "cafe0001"),
        "1-3.1": ("0a5c:2711", "BCM2711", "fileserver", 480, "b29d2da0"),
        "1-4.1": ("0a5c:2712", "BCM2712", "rom", 480, "5a5a5a5a"),
        "1-5": ("0a5c:2711", "BCM2711", "rom", 12, "f0f0f0f0"),
        "1-7": ("0a5c:21e8", None, "other", 480, None),
    }
    assert all(d["libusb_visible"] is True for d in devices.values())
    assert [(h["port_path"], h["vid_pid"], h["self_powered"]) for h in devices["1-3.1"]["hubs"]] \
        == [("1-3", "05e3:0608", True)]
    assert devices["1-4.1"]["hubs"][0]["self_powered"] is False
    assert (devices["1-2"]["driver"], devices["1-1"]["driver"]) == ("usb-storage", None)
    (disk,) = devices["1-2"]["block_devices"]
    assert (disk["name"], disk["path"], disk["size"], disk["model"], disk["removable"]) == (
        "sda", "/dev/sda", 8 * MiB, "File-Stor Gadget", True)
    assert devices["1-1"]["node"]["mode"] == "0600" and devices["1-1"]["node"]["writable"]


def test_problems_carry_fixes_full_speed_and_a_weak_hub(boards: dict[str, Any]) -> None:
    report = _report(boards, "root")
    assert all(p["severity"] in ("error", "warning", "info") and p["what"] and p["fix"]
               for p in report["problems"])
    (slow,) = _problems(report, "full-speed")
    assert slow["device"] == "1-5" and "12 Mb/s" in slow["what"]
    assert "cable" in slow["fix"] and "hub" in slow["fix"] and "front-panel" in slow["fix"]
    (hub,) = _problems(report, "bus-powered-hub")
    assert (hub["device"], hub["severity"]) == ("1-4.1", "warning")
    assert "900 mA" in hub["what"] and "900 mA" in hub["fix"]
    assert {p["device"] for p in _problems(report, "waiting-in-rom")} == {"1-1", "1-4.1", "1-5"}
    assert [p["device"] for p in _problems(report, "waiting-for-files")] == ["1-3.1"]
    assert not _problems(report, "permission-denied") and not _problems(report, "no-board")
    (rule,) = _problems(report, "no-udev-rule")
    assert rule["severity"] == "info" and "sudo rpiboot udev install" in rule["fix"]


def test_host_and_firmware_sections(boards: dict[str, Any], bed: dict[str, str]) -> None:
    report = _report(boards, "root")
    host = report["host"]
    assert host["os"] == "linux" and host["rpiboot"] and host["python"]["version"]
    assert host["libusb"]["loaded"] and bed["libusb"] in host["libusb"]["description"]
    assert host["libusb"]["hotplug"] is True and host["libusb"]["version"].startswith("1.0.")
    assert host["user"]["root"] is True
    firmware = report["firmware"]
    assert firmware["roots"][0] == {
        "origin": "$RPIBOOT_FIRMWARE_DIR", "path": bed["firmware"], "exists": True,
        "msd_dir": f"{bed['firmware']}/msd", "msd_files": sorted(firmware["roots"][0]["msd_files"]),
        "gadget_dir": f"{bed['firmware']}/mass-storage-gadget64"}
    assert all(firmware["default"][family] for family in ("BCM2835", "BCM2711", "BCM2712"))
    assert firmware["sets"]["current"] == "2025-03-04"
    assert [s["name"] for s in firmware["sets"]["sets"]] == ["2025-01-10", "2025-03-04"]
    assert firmware["sets"]["sets"][0]["msd_files"] == ["bootcode4.bin"]


def test_the_doctor_never_touches_a_device(boards: dict[str, Any]) -> None:
    assert {event["ev"] for event in boards["events"]} == {"attach", "disk_attach"}


def test_a_node_the_user_cannot_open_is_an_error_with_the_udev_fix(
        boards: dict[str, Any]) -> None:
    report = _report(boards, "nobody-none")
    assert report["rc"] == 1 and report["host"]["user"]["name"] == "nobody"
    (denied,) = _problems(report, "permission-denied")
    assert (denied["device"], denied["severity"]) == ("1-1", "error")
    assert "/dev/bus/usb/001/" in denied["what"] and "mode 0600, root:root" in denied["what"]
    assert "sudo rpiboot udev install" in denied["fix"] and "replug" in denied["fix"]
    devices = {d["port_path"]: d for d in report["devices"]}
    assert devices["1-1"]["node"]["readable"] is False
    assert devices["1-5"]["node"]["writable"] is True  # 0666: no problem there
    (rule,) = _problems(report, "no-udev-rule")
    assert rule["severity"] == "warning"
    (disk,) = _problems(report, "disk-not-writable")
    assert disk["device"] == "1-2" and "/dev/sda" in disk["what"]


def test_with_the_rule_installed_the_fix_is_to_replug(boards: dict[str, Any]) -> None:
    report = _report(boards, "nobody-uaccess")
    (denied,) = _problems(report, "permission-denied")
    assert f"{RULE_FILE}:4" in denied["fix"] and "made before they were loaded" in denied["fix"]
    assert not _problems(report, "no-udev-rule")
    coverage = {c["vid_pid"]: c for c in report["permissions"]["coverage"]}
    assert coverage["0a5c:2711"]["uaccess"] and coverage["0a5c:2711"]["grants_you"]
    assert report["permissions"]["rules"][0]["matches"] == [
        "0a5c:2711", "0a5c:2712", "0a5c:2763", "0a5c:2764"]


def test_with_a_group_rule_the_fix_is_to_join_the_group(boards: dict[str, Any]) -> None:
    report = _report(boards, "nobody-group")
    (denied,) = _problems(report, "permission-denied")
    assert "sudo usermod -aG plugdev nobody" in denied["fix"]
    coverage = {c["vid_pid"]: c for c in report["permissions"]["coverage"]}
    assert (coverage["0a5c:2712"]["mode"], coverage["0a5c:2712"]["group"]) == ("0660", "plugdev")
    assert coverage["0a5c:2712"]["grants_you"] is False


def test_an_unreadable_rules_folder_is_reported_not_fatal(boards: dict[str, Any]) -> None:
    report = _report(boards, "nobody-private")
    assert report["permissions"]["rules_dirs"][0]["state"] == "unreadable"
    (unreadable,) = _problems(report, "rules-unreadable")
    assert "sudo" in unreadable["fix"]
    assert [p["device"] for p in _problems(report, "permission-denied")] == ["1-1"]


def test_the_human_report_reads_well(boards: dict[str, Any]) -> None:
    if "nobody-text" not in boards["runs"]:
        pytest.skip("running the doctor as another user needs root (CI runs as root)")
    done = boards["runs"]["nobody-text"]
    out = done["stdout"]
    assert done["rc"] == 1 and done["stderr"] == ""
    for expected in ("Host\n", "Raspberry Pi USB devices (6)\n", "udev rules\n", "Firmware\n",
                     "  1-1      0a5c:2711  BCM2711  boot ROM, 480 Mb/s, serial af04b2da\n",
                     "0600 root:root  you: NO ACCESS", "mass-storage gadget",
                     "/dev/sda 8 MiB Linux File-Stor Gadget", "(bus-powered, 480 Mb/s)",
                     "  [error] 1-1 (0a5c:2711), rom: you (nobody) cannot open",
                     "    fix: Run sudo rpiboot udev install"):
        assert expected in out, expected


def test_no_board_gives_the_checklist(bed: dict[str, str], tmp_path: Path) -> None:
    spec = {"devices": [{"kind": "other", "port": "1-1", "vid": "046d", "pid": "c31c"}],
            "runs": [doctor_run(bed, "root")]}
    result = run_bed(bed, tmp_path, spec)
    report = _report(result, "root")
    assert report["devices"] == [] and report["rc"] == 0
    (none,) = _problems(report, "no-board")
    for advice in ("nRPIBOOT", "EMMC-DISABLE", "carry data", "900 mA", "unpowered hubs",
                   "front-panel"):
        assert advice in none["fix"], advice

"""End to end on the REAL umockdev bench (../shared/bench): the installed rpiboot boots the
simulated boards through the system libusb, the bench publishes each gadget's disks as
block devices (sysfs chain, udev records, /dev/sdX answering the BLK* ioctls) next to a
decoy disk of the host, and tests/flash/bench_driver.py (the bench's "tool") finds them
with LinuxDiskFinder and opens them through safety.open_for_writing.  The bench accounts
for every disk's bytes: only the disk written on purpose may change.

Needs umockdev-wrapper and a udev-enabled system libusb; skipped without them, except
under CI, where that is a failure (as tests/e2e).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from benchkit import find_bench

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "bench_driver.py"


@pytest.fixture(scope="module")
def bench(shared_dir: Path) -> dict[str, str]:
    """The umockdev bench, or a skip (a failure under CI): tests/e2e's own look-up."""
    return find_bench(shared_dir)


def run(bench: dict[str, str], scenario: str, out: Path, extra: str = "") -> dict:
    """Run the scenario with the driver as the tool; every "must" expectation has to hold.
    Returns the driver's report."""
    env = dict(os.environ, RPIBOOT_LIBUSB=bench["libusb"])
    env.pop("RPIBOOT_FIRMWARE_DIR", None)
    tool = f"{sys.executable} {DRIVER} {{args}} {extra}"
    proc = subprocess.run([f"{bench['dir']}/run-scenario", scenario, "--tool", tool,
                           "--out", str(out), "--quiet"],
                          env=env, capture_output=True, text=True, timeout=180)
    verdict_path = out / "verdict.json"
    assert verdict_path.is_file(), f"run-scenario failed ({proc.returncode}):\n{proc.stderr}"
    verdict = json.loads(verdict_path.read_text())
    stderr = (out / "stderr.txt").read_text(errors="replace")
    failed = [e for e in verdict["expectations"] if not e["ok"] and e["severity"] == "must"]
    assert failed == [], f"{json.dumps(failed, indent=1)}\ntool stderr:\n{stderr[-3000:]}"
    assert proc.returncode == 0 and verdict["pass"]
    return json.loads((out / "stdout.txt").read_text())


def accounts(out: Path) -> dict[str, dict]:
    return json.loads((out / "result.json").read_text())["disks"]


def test_two_gadgets_only_the_chosen_lun_is_written(bench: dict[str, str], tmp_path: Path
                                                    ) -> None:
    out = tmp_path / "two"
    report = run(bench, str(HERE / "scenarios" / "flash-two-gadgets.json"), out)
    assert report["boot_rc"] == [0, 0]
    found = {port: [(d["name"], d["lun"], d["size"], d["model"], d["serial"], d["dev"])
                    for d in disks] for port, disks in report["disks"].items()}
    assert found == {
        "1-1": [("sdb", 0, 8 << 20, "File-Stor Gadget", "b29d2da0", "8:16"),
                ("sdc", 1, 4 << 20, "NVMe Gadget", "b29d2da0", "8:32")],
        "1-3.2": [("sdd", 0, 4 << 20, "File-Stor Gadget", "c0ffee02", "8:48")]}
    assert report["disks"]["1-3.2"][0]["sysfs"] == \
        "1-3.2:1.0/host2/target2:0:0/2:0:0:0/block/sdd"
    assert report["owners"] == {"/dev/sda": None, "/dev/sdb": "1-1", "/dev/sdc": "1-1",
                                "/dev/sdd": "1-3.2"}
    assert report["refusals"] == {"host_disk": "other-port", "1-3.2/lun0": "other-port",
                                  "1-3.2/lun0/forged": "other-port", "too_big": "too-small"}
    assert report["written"] == {"disk": "/dev/sdb", "bytes": 3 << 20, "size": 8 << 20,
                                 "logical_sector": 512}
    disks = accounts(out)
    # the size and sector size came from the kernel's answers (the bench's ioctls) ...
    assert disks["cm4/emmc"]["ioctls"] == {"BLKROGET": 1, "BLKGETSIZE64": 1, "BLKSSZGET": 1}
    # ... and nothing else was even opened: every refusal came before the open
    for key in ("hostdisk", "cm4/nvme", "stick/emmc"):
        assert disks[key]["unchanged"] and disks[key]["ioctls"] == {}, key
    assert disks["cm4/emmc"]["overflow_bytes"] == 0


def test_the_visible_disk_scenario_finds_the_emmc_and_refuses_the_host_disk(
        bench: dict[str, str], tmp_path: Path) -> None:
    """cm4-msd-disk: the gadget appears after the boot, its 64 MiB eMMC 1 s later."""
    out = tmp_path / "visible"
    report = run(bench, "cm4-msd-disk", out, "--port 1-1")
    assert report["boot_rc"] == [0]
    (emmc,) = report["disks"]["1-1"]
    assert (emmc["name"], emmc["lun"], emmc["size"], emmc["vendor"], emmc["model"],
            emmc["serial"], emmc["read_only"], emmc["removable"], emmc["mounted"]) == \
        ("sdb", 0, 64 << 20, "Linux", "File-Stor Gadget", "b29d2da0", False, True, [])
    assert report["owners"] == {"/dev/sda": None, "/dev/sdb": "1-1"}
    assert report["refusals"] == {"host_disk": "other-port", "too_big": "too-small"}
    assert "written" not in report
    disks = accounts(out)
    assert disks["hostdisk"]["unchanged"] and disks["cm4/emmc"]["unchanged"]
    assert disks["hostdisk"]["ioctls"] == {} == disks["cm4/emmc"]["ioctls"]

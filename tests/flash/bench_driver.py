"""The "tool" the bench runs for tests/flash/test_flash_disks_e2e.py: boots the boards with
the installed rpiboot (real libusb, through umockdev), then uses LinuxDiskFinder on what
the bench publishes (sysfs, udev records, /dev/sdX), tries to open disks that are not the
board's (each must be refused), optionally writes an image to one LUN, and reports JSON
(stdout, and --out FILE for the bench's own file expectations).

    bench_driver.py -d BOOTDIR [--boot PORT]... --port PORT... [--write PORT:LUN:IMAGE]
                    [--out FILE]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rpiboot.errors import RpibootError
from rpiboot.flash.disks import Disk, LinuxDiskFinder, select_target
from rpiboot.flash.safety import WriteRefused, open_for_writing
from rpiboot.record import asdict, replace

WAIT_S = 20.0


def boot(bootdir: str, ports: list[str]) -> list[int]:
    """rpiboot -d BOOTDIR [-p PORT], once per port (once without -p when none)."""
    codes = []
    for port in ports or [None]:
        argv = [sys.executable, "-m", "rpiboot", "-d", bootdir, "--timeout", "30", "-q"]
        done = subprocess.run(argv + (["-p", port] if port else []), check=False,
                              stdin=subprocess.DEVNULL, timeout=60)
        codes.append(done.returncode)
    return codes


def shown(disk: Disk) -> dict[str, object]:
    record = asdict(disk)
    record["path"] = str(disk.path)
    record["sysfs"] = "/".join(str(disk.sysfs).split("/")[-6:])  # .../1-1:1.0/host0/...
    return record


def attempt(finder: LinuxDiskFinder, disk: Disk, port: str, image_size: int | None) -> str:
    """Try to open ``disk`` for the board at ``port``: the refusal's reason, or "OPENED"
    (closed at once, nothing written)."""
    try:
        with open_for_writing(disk, finder=finder, port_path=port, image_size=image_size,
                              unmount=False):
            return "OPENED"
    except WriteRefused as exc:
        return exc.reason


def host_disk_record(template: Disk, node: str) -> Disk:
    """A forged record: the host's disk, claimed to be below the board's port."""
    info = os.stat(node)
    return replace(template, path=Path(node), name=os.path.basename(node),
                   dev=f"{os.major(info.st_rdev)}:{os.minor(info.st_rdev)}")


def write(finder: LinuxDiskFinder, disks: list[Disk], port: str, lun: int, image: Path
          ) -> dict[str, object]:
    target = select_target(disks, lun)
    data = image.read_bytes()
    with open_for_writing(target, finder=finder, port_path=port, image_size=len(data),
                          unmount=False) as opened:
        done = 0
        while done < len(data):
            done += os.write(opened.fd, data[done:done + (1 << 20)])
        os.fsync(opened.fd)
        return {"disk": str(target.path), "bytes": done, "size": opened.size,
                "logical_sector": opened.logical_sector}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-d", dest="bootdir", required=True)
    ap.add_argument("--boot", action="append", default=[])
    ap.add_argument("--port", action="append", default=[])
    ap.add_argument("--write")
    ap.add_argument("--out")
    a = ap.parse_args()
    report: dict[str, object] = {"boot_rc": boot(a.bootdir, a.boot)}
    finder = LinuxDiskFinder()
    below: dict[str, list[Disk]] = {}
    for port in a.port:
        start = time.monotonic()
        below[port] = finder.wait_for_disks(port, deadline=start + WAIT_S, settle=0.5)
        report.setdefault("waited_s", {})[port] = round(time.monotonic() - start, 2)  # type: ignore[index]
    report["disks"] = {port: [shown(d) for d in disks] for port, disks in below.items()}
    report["owners"] = {node: finder.owner_port(Path(node))
                        for node in sorted(glob.glob("/dev/sd*"))}
    mine = below.get(a.port[0], []) if a.port else []
    refusals: dict[str, str] = {}
    if mine:
        port = a.port[0]
        refusals["host_disk"] = attempt(finder, host_disk_record(mine[0], "/dev/sda"), port, None)
        for other in a.port[1:]:
            for disk in below[other]:
                refusals[f"{other}/lun{disk.lun}"] = attempt(finder, disk, port, None)
                refusals[f"{other}/lun{disk.lun}/forged"] = attempt(
                    finder, replace(disk, port_path=port), port, None)
        refusals["too_big"] = attempt(finder, mine[-1], port, mine[-1].size + 512)
    report["refusals"] = refusals
    if a.write:
        port, lun, image = a.write.split(":", 2)
        try:
            report["written"] = write(finder, below[port], port, int(lun), Path(image))
        except RpibootError as exc:
            report["written"] = {"error": str(exc)}
    text = json.dumps(report, indent=1, sort_keys=True)
    print(text)
    if a.out:
        Path(a.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmarks of the boot engine + CLI (prints a table; not a test).

    .venv/bin/python benchmarks/bench_core.py            # everything (~1.5 minutes)
    .venv/bin/python benchmarks/bench_core.py --no-bench # skip the umockdev bench rows

Figures: bench scenario wall time and host-added time per boot (run-scenario on cm4-msd and
cm5-msg64 through the real system libusb), 8 boards behind a hub vs 1, CPU while idle
waiting 10 s (bundled and system libusb, and with polling forced), in-process throughput
through the simulator backend (256 MiB), peak RSS while serving 1 GiB, and
``rpiboot --version`` start-up time.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("RPIBOOT_SHARED", REPO.parent / "shared")) / "bench"
RPIBOOT = str(Path(sys.executable).with_name("rpiboot"))
MIB = 1024 * 1024


def system_libusb() -> str | None:
    found = sorted(glob.glob("/usr/lib/*/libusb-1.0.so.0"))
    return found[0] if found else None


def run_bench_scenario(scenario: str, out: Path) -> dict:
    env = dict(os.environ, RPIBOOT_LIBUSB=system_libusb() or "")
    subprocess.run([str(BENCH / "run-scenario"), scenario, "--tool", f"{RPIBOOT} {{args}}",
                    "--out", str(out), "--quiet"], env=env, check=False, timeout=300,
                   capture_output=True)
    return json.loads((out / "verdict.json").read_text())


# ------------------------------------------------------------------ bench rows
def bench_boot_rows(tmp: Path) -> list[tuple[str, str, str]]:
    rows = []
    for name in ("cm4-msd", "cm5-msg64"):
        spec = json.loads((BENCH / "scenarios" / f"{name}.json").read_text())
        status_delay = float(spec["devices"][0]["rom"].get("status_delay", 0.0))
        verdict = run_bench_scenario(name, tmp / name)
        timing = next(iter(verdict["devices"].values()))["timings"]
        net = timing["host_added_s"] - max(0.0, 1.0 - status_delay)
        transfer = timing["segments_s"]["first_message->done"]
        ok = "pass" if verdict["pass"] else "FAIL"
        rows.append((f"bench {name}: wall time ({ok})", f"{verdict['tool']['wall_s']:.2f} s", ""))
        rows.append((f"bench {name}: host-added per boot", f"{timing['host_added_s']:.3f} s",
                     "incl. the 1 s status wait and transfers"))
        rows.append((f"bench {name}: host-added beyond the 1 s status wait",
                     f"{net:.3f} s", f"of which file transfers (umockdev ~16 MiB/s) "
                     f"{transfer:.3f} s"))
        rows.append((f"bench {name}: host-added beyond status wait and transfers",
                     f"{net - transfer:.3f} s", "≤ 0.15 s"))
    return rows


def hub_scenario(boards: int) -> dict:
    def board(i: int) -> dict:
        serial = f"{0xB0A4D000 + i:08x}"
        return {"id": f"b{i}", "port": f"1-3.{i}",
                "rom": {"pid": "2711", "serial_index": 3, "serial": serial,
                        "expect_bootcode": "file:bootcode4.bin"},
                "second_stage": {"serial_index": 4, "serial": serial, "steps": [
                    {"op": "fetch", "name": "config.txt", "expect": "absent"},
                    {"op": "fetch", "name": "start4.elf", "expect": "present"},
                    {"op": "done"}], "after": {"action": "disappear", "delay": 0.3}}}

    return {"name": f"hub{boards}", "tool_args": "-d {bootdir} -l", "time_limit": 60,
            "end": {"after_devices_done": 1.0}, "hubs": [{"id": "hub", "port": "1-3",
                                                          "ports": 8}],
            "bootdir": {"bootcode4.bin": {"random": 105984}, "start4.elf": {"random": 307200}},
            "devices": [board(i) for i in range(1, boards + 1)],
            "expect": {"concurrent_makespan": {"factor": 1.5, "severity": "should"}}}


def makespan(verdict: dict) -> float:
    timings = [d["timings"]["t"] for d in verdict["devices"].values() if "timings" in d]
    return max(t["done"] for t in timings) - min(t["rom_attach"] for t in timings)


def bench_many_rows(tmp: Path) -> list[tuple[str, str, str]]:
    spans = {}
    for count in (1, 8):
        path = tmp / f"hub{count}.json"
        path.write_text(json.dumps(hub_scenario(count)))
        verdict = run_bench_scenario(str(path), tmp / f"hub{count}")
        spans[count] = (makespan(verdict), verdict["pass"])
    ratio = spans[8][0] / spans[1][0]
    return [("bench: 1 board behind a hub, plug-in -> Done", f"{spans[1][0]:.2f} s", ""),
            ("bench: 8 boards plugged together, first plug-in -> last Done",
             f"{spans[8][0]:.2f} s", "all pass" if spans[8][1] else "FAILED"),
            ("bench: 8 boards / 1 board", f"{ratio:.2f}x", "≤ 1.5x")]


# ------------------------------------------------------------------ local rows
def timed_wait(boot_dir: Path, seconds: float, env: dict[str, str]) -> tuple[float, float]:
    """(wall s, child CPU s) of ``rpiboot --timeout SECONDS`` with no board attached."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    subprocess.run([RPIBOOT, "-d", str(boot_dir), "--timeout", str(seconds), "--quiet"],
                   check=False, capture_output=True, stdin=subprocess.DEVNULL,
                   env={**os.environ, **env})
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def idle_cpu_row(boot_dir: Path, label: str = "",
                 env: dict[str, str] | None = None) -> tuple[str, str, str]:
    """Steady-state idle CPU: a 10 s wait minus a 0.5 s wait (start-up cost cancels out)."""
    short_wall, short_cpu = timed_wait(boot_dir, 0.5, env or {})
    wall, cpu = timed_wait(boot_dir, 10, env or {})
    steady = 100 * (cpu - short_cpu) / (wall - short_wall)
    return (f"CPU while idle waiting 10 s (rpiboot --timeout 10, no board{label})",
            f"{steady:.2f} %", f"≤ 1 % (whole run incl. start-up: {cpu:.2f} s CPU in "
            f"{wall:.1f} s = {100 * cpu / wall:.1f} %)")


def idle_cpu_rows(boot_dir: Path) -> list[tuple[str, str, str]]:
    """Bundled libusb (hotplug), the system libusb, and forced polling (no-hotplug hosts)."""
    rows = [idle_cpu_row(boot_dir, "; bundled libusb")]
    if system_libusb():
        rows.append(idle_cpu_row(boot_dir, "; system libusb",
                                 {"RPIBOOT_LIBUSB": system_libusb() or ""}))
    rows.append(idle_cpu_row(boot_dir, "; RPIBOOT_NO_HOTPLUG=1: polling every 20 ms",
                             {"RPIBOOT_NO_HOTPLUG": "1"}))
    return rows


def serve_big_file(size: int, workdir: Path) -> float:
    """Serve one ``size``-byte file to a simulated board in-process; seconds for the file."""
    from rpiboot.boot import BootOptions, serve
    from rpiboot.sim import Scenario

    boot = workdir / "boot"
    boot.mkdir(parents=True, exist_ok=True)
    (boot / "bootcode4.bin").write_bytes(b"\x5a" * 4096)
    with open(boot / "big.bin", "wb") as handle:
        block = os.urandom(MIB)
        for _ in range(size // MIB):
            handle.write(block)
    spec = {"name": "big", "devices": [{"id": "b", "port": "1-1", "rom": {"pid": "2711"},
            "second_stage": {"steps": [{"op": "fetch", "name": "big.bin",
                                        "expect": {"size": size}}, {"op": "done"}]}}]}
    scenario = Scenario.load(spec, workdir / "sim", time_scale=0.001, boot_dir=boot)
    scenario.bus.start()
    result = serve(BootOptions(boot_dir=boot, wait_timeout=10), backend=scenario.bus.backend)
    scenario.bus.close()
    assert not result.failed, result.failed
    events = scenario.bus.transcript
    asked = events.events("message", command="ReadFile")[0]["t"]
    got = events.events("reply_file")[0]
    assert got["size"] == size, got
    return got["t"] - asked


def throughput_row(tmp: Path) -> tuple[str, str, str]:
    seconds = serve_big_file(256 * MIB, tmp / "tp")
    return ("in-process throughput, 256 MiB file through the sim backend",
            f"{256 * MIB / seconds / 1e6:.0f} MB/s", "≥ 400 MB/s (device side hashes it too)")


def rss_row() -> tuple[str, str, str]:
    proc = subprocess.run([sys.executable, __file__, "--rss-child"], capture_output=True,
                          text=True, check=True)
    kib = int(proc.stdout.strip().splitlines()[-1])
    return ("peak RSS while serving a 1 GiB file (subprocess, ru_maxrss)",
            f"{kib / 1024:.0f} MB", "≤ 100 MB")


def startup_row() -> tuple[str, str, str]:
    times = []
    for _ in range(7):
        start = time.perf_counter()
        subprocess.run([RPIBOOT, "--version"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return ("rpiboot --version start-up (median of 7)",
            f"{1000 * statistics.median(times):.0f} ms", "≤ 150 ms")


def print_table(rows: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"| {'figure':<{width}} | measured | target / note |")
    print(f"|{'-' * (width + 2)}|----------|---------------|")
    for name, value, note in rows:
        print(f"| {name:<{width}} | {value} | {note} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-bench", action="store_true", help="skip the umockdev rows")
    parser.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rpiboot-bench-") as name:
        tmp = Path(name)
        if args.rss_child:
            serve_big_file(1024 * MIB, tmp)
            print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
            return 0
        rows: list[tuple[str, str, str]] = []
        can_bench = (shutil.which("umockdev-wrapper") and system_libusb()
                     and (BENCH / "run-scenario").is_file())
        if not args.no_bench and can_bench:
            rows += bench_boot_rows(tmp)
            rows += bench_many_rows(tmp)
        elif not args.no_bench:
            print("(umockdev bench not available: skipping the bench rows)", file=sys.stderr)
        (tmp / "empty").mkdir()
        rows += idle_cpu_rows(tmp / "empty")
        rows.append(throughput_row(tmp))
        rows.append(rss_row())
        rows.append(startup_row())
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

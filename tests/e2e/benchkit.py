"""Running the umockdev bench (../shared/bench) from the end-to-end tests: the ``bench``
fixture (in conftest.py) and :func:`run_scenario`."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the end-to-end bench must run)")
    pytest.skip(reason)


def system_libusb() -> str | None:
    """Debian's udev-enabled libusb for this machine's multiarch triplet, if installed."""
    for pattern in ("/usr/lib/*/libusb-1.0.so.0", "/usr/lib64/libusb-1.0.so.0",
                    "/usr/lib/libusb-1.0.so.0"):
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def find_bench(shared_dir: Path) -> dict[str, str]:
    """Paths the scenarios need; skips (or fails under CI) when the bench cannot run."""
    bench_dir = shared_dir / "bench"
    if not (bench_dir / "run-scenario").is_file():
        missing(f"{bench_dir}/run-scenario not found")
    if shutil.which("umockdev-wrapper") is None:
        missing("umockdev-wrapper is not installed (apt-get install umockdev "
                "gir1.2-umockdev-1.0 python3-gi)")
    libusb = system_libusb()
    if libusb is None:
        missing("the system libusb-1.0 (udev-enabled, e.g. Debian's libusb-1.0-0) is missing")
    tool = Path(sys.executable).with_name("rpiboot")
    if not tool.is_file():
        missing(f"the installed rpiboot CLI is not at {tool} (pip install -e .)")
    return {"dir": str(bench_dir), "libusb": str(libusb), "tool": str(tool)}


def run_scenario(bench: dict[str, str], scenario: str, out: Path,
                 workdir: Path | None = None) -> dict:
    env = dict(os.environ, RPIBOOT_LIBUSB=bench["libusb"])
    env.pop("RPIBOOT_FIRMWARE_DIR", None)
    keep = ["--workdir", str(workdir)] if workdir is not None else []
    proc = subprocess.run(
        [f"{bench['dir']}/run-scenario", scenario, "--tool", f"{bench['tool']} {{args}}",
         "--out", str(out), "--quiet", *keep],
        env=env, capture_output=True, text=True, timeout=120,
    )
    verdict_path = out / "verdict.json"
    assert verdict_path.is_file(), f"run-scenario failed ({proc.returncode}):\n{proc.stderr}"
    verdict = json.loads(verdict_path.read_text())
    stderr = (out / "stderr.txt").read_text(errors="replace")
    # our scenarios may name bench expectations that must fail there ("allow_failed": a
    # ROM that never answers its status cannot have its status read)
    spec_path = Path(scenario)
    allowed = (set(json.loads(spec_path.read_text()).get("allow_failed", []))
               if spec_path.is_file() else set())
    failed = [e for e in verdict["expectations"] if not e["ok"] and e["severity"] == "must"]
    assert {e["id"] for e in failed} == allowed, (
        f"{scenario}: failed {json.dumps(failed, indent=1)}\n"
        f"protocol errors: {verdict['protocol_errors']}\ntool stderr:\n{stderr[-3000:]}")
    assert proc.returncode == (1 if allowed else 0)  # run-scenario: 1 = an expectation failed
    return verdict

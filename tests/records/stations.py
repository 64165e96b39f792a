"""Simulated provisioning stations for the records tests: scenario files with many boards
(the ``recovery`` preset's board, each on its own hub port with its own serials, plugged in
one after another), and ``rpiboot simulate SCENARIO -l`` processes serving them."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from rpiboot.sim import preset

HUB_PORTS = 7
SPEED = 20  # the boards' own delays run this many times faster


def board_serial(station: str, index: int) -> str:
    return f"{station}-{index:03d}"


def station_scenario(station: str, boards: int, *, spacing: float = 0.6,
                     slow: set[int] | None = None) -> dict[str, Any]:
    """``boards`` recovery boards on hub ports ``1-H.P``, board i plugged in at
    ``i * spacing`` (board time: divided by SPEED); boards in ``slow`` pause 600 board-
    seconds (30 s) at the end of their file server, before Done (a board being served)."""
    spec = preset("recovery")
    template = spec["devices"][0]
    devices = []
    for i in range(boards):
        device = copy.deepcopy(template)
        hub, port = divmod(i, HUB_PORTS)
        device["id"] = f"b{i}"
        device["port"] = f"1-{hub + 1}.{port + 1}"
        device["attach_at"] = i * spacing
        serial = board_serial(station, i)
        device["rom"]["serial"] = f"r{serial}"
        stage = device["second_stage"]
        stage["serial"] = f"u{serial}"
        for step in stage["steps"]:
            if step.get("op") == "meta" and step["record"].startswith("USER_SERIAL_NUM*"):
                step["record"] = f"USER_SERIAL_NUM*{serial}"
        if slow and i in slow:
            stage["steps"].insert(-1, {"op": "delay", "seconds": 600.0})  # before Done
        devices.append(device)
    spec["devices"] = devices
    spec["hubs"] = [{"id": f"hub{h}", "port": f"1-{h + 1}", "ports": HUB_PORTS}
                    for h in range(-(-boards // HUB_PORTS))]
    return spec


def write_scenario(folder: Path, station: str, boards: int, **kwargs: Any) -> Path:
    path = folder / f"{station}.json"
    path.write_text(json.dumps(station_scenario(station, boards, **kwargs)))
    return path


def start_station(scenario: Path, db: str, station: str, env: dict[str, str] | None = None,
                  *extra: str) -> subprocess.Popen[bytes]:
    """``rpiboot simulate SCENARIO -l --db DB --station STATION`` in a process of its own."""
    run_env = {**os.environ, **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "rpiboot", "simulate", str(scenario), "-l", "--json",
         "--speed", str(SPEED), "--timeout", "60", "--db", db, "--station", station,
         *extra],
        env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

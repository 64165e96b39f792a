"""Stall diagnosis: every failed boot says the last stage the board reached and the likely
causes, in the error's hint, the error event and the board's result."""

from __future__ import annotations

from typing import Any

import pytest

from rpiboot.diagnosis import STAGES, BootProgress, diagnose
from rpiboot.errors import BootError, DeviceGone, ExitCode, TimeoutExpired
from rpiboot.events import (
    BoardAttached,
    BoardFailed,
    BoardRef,
    BootcodeSent,
    FileServed,
    ServeFailed,
    TransferProgress,
)

BOARD = BoardRef("1-1")


def _board(steps: list[dict[str, Any]] | None, *, bootdir: dict[str, Any] | None = None,
           **rom: Any) -> dict[str, Any]:
    device: dict[str, Any] = {"id": "b", "port": "1-1",
                              "rom": {"pid": "2711", "serial_index": 3, "serial": "d1a90000",
                                      **rom}}
    if steps is not None:
        device["second_stage"] = {"serial_index": 4, "serial": "d1a9", "steps": steps,
                                  "after": {"action": "disappear", "delay": 0.1}}
    return {"name": "diag", "devices": [device],
            "bootdir": bootdir or {"bootcode4.bin": {"random": 4096}}}


def _failure(run: Any) -> tuple[Any, BoardFailed]:
    (result,) = [r for r in run.result.boards if r.error is not None]
    (event,) = run.kinds("error")
    assert isinstance(event, BoardFailed)
    return result, event


@pytest.mark.parametrize(("spec", "options", "stage"), [
    (_board([{"op": "done"}], unresponsive=True), {}, "rom"),
    (_board([{"op": "done"}], status=-1, after_reject="stay"), {}, "rom-status"),
    (_board(None), {"stage_timeout": 0.3}, "reenumeration"),
    (_board([{"op": "fetch", "name": "config.txt", "expect": "absent"},
             {"op": "delay", "seconds": 500}, {"op": "done"}]),
     {"stage_timeout": 0.3}, "fileserver"),
    (_board([{"op": "fetch", "name": "start4.elf", "expect": "present",
              "disconnect_after_bytes": 65536}],
            bootdir={"bootcode4.bin": {"random": 4096}, "start4.elf": {"random": 300_000}}),
     {}, "transfer"),
], ids=["rom", "rom-status", "reenumeration", "fileserver", "transfer"])
def test_each_stall_names_its_stage(boot: Any, spec: dict[str, Any], options: dict[str, Any],
                                    stage: str) -> None:
    run = boot(spec, **options)
    result, event = _failure(run)
    assert result.diagnosis is not None and result.diagnosis.stage == stage
    assert event.stage == stage and event.causes == result.diagnosis.causes
    assert f"Last stage reached: {stage}" in (result.error.hint or "")
    assert event.to_json()["stage"] == stage  # in --json too


def test_the_file_server_stall_lists_the_last_requests(boot: Any) -> None:
    run = boot(_board([{"op": "fetch", "name": "config.txt", "expect": "absent"},
                       {"op": "fetch", "name": "start4.elf", "expect": "absent"},
                       {"op": "delay", "seconds": 500}, {"op": "done"}]), stage_timeout=0.3)
    result, _ = _failure(run)
    assert "config.txt (MISSING), start4.elf (MISSING)" in result.diagnosis.detail
    assert "answered as missing" in result.error.hint


def test_no_board_is_the_waiting_stage(boot: Any) -> None:
    run = boot({"name": "empty", "devices": []}, wait_timeout=0.2)
    assert run.result.exit_code == ExitCode.TIMEOUT
    assert run.result.diagnosis is not None and run.result.diagnosis.stage == "waiting"
    (event,) = run.kinds("error")
    assert isinstance(event, ServeFailed) and event.stage == "waiting"
    assert "nRPIBOOT" in (run.result.error.hint or "")


def test_a_rejection_keeps_its_own_causes_once(boot: Any) -> None:
    run = boot(_board([{"op": "done"}], status=-1, after_reject="stay"))
    result, _ = _failure(run)
    assert result.error.hint.count("Likely causes") == 1


def _progress(*events: Any) -> BootProgress:
    progress = BootProgress()
    for event in events:
        progress.observe(event)
    return progress


def test_diagnose_follows_the_furthest_stage_seen() -> None:
    rom = BoardAttached(BOARD, stage="rom")
    sent = BootcodeSent(BOARD, status=0)
    fs = BoardAttached(BOARD, stage="fileserver")
    assert diagnose(_progress(), BootError("x")).stage == "rom"
    assert diagnose(_progress(rom), TimeoutExpired("x")).stage == "rom"
    assert diagnose(_progress(rom, sent), TimeoutExpired("x")).stage == "reenumeration"
    assert diagnose(_progress(rom, sent, fs), TimeoutExpired("x")).stage == "fileserver"
    moving = _progress(rom, sent, fs, FileServed(BOARD, name="boot.img", size=10),
                       TransferProgress(BOARD, name="boot.img", done=4, total=10))
    assert diagnose(moving, DeviceGone("x")).stage == "transfer"
    finished = _progress(rom, sent, fs, TransferProgress(BOARD, name="a", done=10, total=10))
    assert diagnose(finished, DeviceGone("x")).stage == "fileserver"


def test_every_stage_has_causes_and_is_in_the_troubleshooting_doc() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.md").read_text()
    for stage in STAGES:
        assert stage.causes and f"`{stage.name}`" in doc


def test_the_boot_flow_picture_and_table_are_up_to_date() -> None:
    """docs/boot-flow.svg and the table in docs/troubleshooting.md are generated from the
    script and rpiboot.diagnosis.STAGES; the SVG is well-formed."""
    import subprocess
    import sys
    import xml.etree.ElementTree as ET
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs"
    check = subprocess.run([sys.executable, str(docs / "diagrams" / "boot_flow.py"), "--check"],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout
    root = ET.parse(docs / "boot-flow.svg").getroot()
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert all(f"stage {s.name}" in texts for s in STAGES if s.name != "permission")

"""Output and input paths a user names, through the installed commands (issue 8, item 1).

An OS error on a user-named path is an error naming that path and what to do (exit 1, or 5
for permission), never "internal error", never a traceback, never a temporary file's name;
outputs are checked before any work (before a board is waited for); nothing is left behind.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from output_fixtures import *  # noqa: F403  (pytest fixtures)
from output_fixtures import leftovers, tool

# (tool, argv, the output the error must name): {out} is the output folder under test,
# {eeprom} etc. are inputs (see output_fixtures.inputs).
WRITERS = [
    ("rpiboot", "eeprom config {eeprom} -o {out}/boot.conf", "{out}/boot.conf"),
    ("rpiboot", "eeprom edit {eeprom} -o {out}/new.bin --config {conf}", "{out}/new.bin"),
    ("rpiboot", "eeprom extract {eeprom} -d {out}/files", "{out}/files"),
    ("rpi-eeprom-config", "{eeprom} --out {out}/boot.conf", "{out}/boot.conf"),
    ("rpi-eeprom-config", "--config {conf} --out {out}/new.bin {eeprom}", "{out}/new.bin"),
    ("rpi-eeprom-digest", "-i {eeprom} -o {out}/pieeprom.sig", "{out}/pieeprom.sig"),
    ("rpi-eeprom-digest", "-k {key} -i {conf} -o {out}/bootconf.sig", "{out}/bootconf.sig"),
    ("rpiboot", "bootimg create {tree} -o {out}/boot.img", "{out}/boot.img"),
    ("rpiboot", "bootimg create {tree} -o {out}/boot.img -k {key}", "{out}/boot.img"),
    ("rpiboot", "bootimg extract {image} {out}/files", "{out}/files"),
    ("rpiboot", "bootimg sign {image} -k {key} --sig {out}/boot.sig", "{out}/boot.sig"),
    ("rpi-make-boot-image", "-d {tree} -o {out}/boot.img", "{out}/boot.img"),
    ("rpiboot", "keys generate {out}/key.pem", "{out}/key.pem"),
    ("rpiboot", "keys to-bin {pub} -o {out}/pubkey.bin", "{out}/pubkey.bin"),
    ("rpi-bootloader-key-convert", "{pub} --output {out}/pubkey.bin", "{out}/pubkey.bin"),
    ("rpiboot", "sign file {eeprom} -o {out}/x.sig -k {key}", "{out}/x.sig"),
    ("rpiboot", "sign bootcode {bootcode} -o {out}/b.bin -k {key}", "{out}/b.bin"),
    ("rpi-sign-bootcode", "-c 2712 -i {bootcode} -k {key} -o {out}/b.bin", "{out}/b.bin"),
    ("rpiboot", "simulate cm4 -j {out}/meta", "{out}/meta"),
    ("rpiboot", "-j {out} --timeout 30", "{out}"),
]


def _argv(template: str, out: Path, inputs: dict[str, Path]) -> list[str]:
    return [part.format(out=out, **inputs) for part in template.split()]


Run = subprocess.CompletedProcess[str]


def _assert_clean_error(result: Run, named: str, codes: tuple[int, ...] = (1, 5)) -> None:
    stderr = result.stderr
    assert result.returncode in codes, stderr
    assert named in stderr
    assert "internal error" not in stderr and "Traceback" not in stderr
    assert ".rpiboot-tmp" not in stderr and "error:" in stderr


@pytest.mark.parametrize(("name", "template", "target"), WRITERS,
                         ids=[f"{t[0]} {t[1].split()[0]}-{i}" for i, t in enumerate(WRITERS)])
def test_a_read_only_folder_is_named_and_nothing_is_written(
        name: str, template: str, target: str, readonly_dir: Path,
        inputs: dict[str, Path]) -> None:
    result = tool(name, *_argv(template, readonly_dir, inputs))
    _assert_clean_error(result, target.format(out=readonly_dir))
    assert list(readonly_dir.iterdir()) == []
    # checked before any work: no board awaited, no image planned, no key generated
    assert "Waiting for" not in result.stderr and "simulating" not in result.stderr
    assert "Using IMAGE_SIZE" not in result.stdout


MISSING = [w for w in WRITERS if "-j" not in w[1] and "extract" not in w[1]]


@pytest.mark.parametrize(("name", "template", "target"), MISSING,
                         ids=[f"{t[0]} {t[1].split()[0]}-{i}" for i, t in enumerate(MISSING)])
def test_a_missing_output_folder_is_named(name: str, template: str, target: str,
                                          tmp_path: Path, inputs: dict[str, Path]) -> None:
    missing = tmp_path / "no" / "such"
    result = tool(name, *_argv(template, missing, inputs))
    _assert_clean_error(result, target.format(out=missing), codes=(1,))
    assert "does not exist" in result.stderr and "mkdir" in result.stderr
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize(("name", "argv"), [
    ("rpiboot", ["eeprom", "config", "{tree}", "-o", "{out}/x"]),
    ("rpiboot", ["bootimg", "create", "{tree}", "-o", "{tree}"]),
    ("rpi-eeprom-digest", ["-i", "{eeprom}", "-o", "{tree}"]),
    ("rpiboot", ["keys", "to-pem", "{tree}"]),
    ("rpiboot", ["sign", "file", "{tree}"]),
    ("rpiboot", ["eeprom", "edit", "{eeprom}", "-o", "{out}/x", "--config", "{tree}"]),
    ("rpi-bootloader-key-convert", ["--inform", "bin", "{tree}"]),
])
def test_a_folder_where_a_file_belongs_is_named(name: str, argv: list[str], tmp_path: Path,
                                               inputs: dict[str, Path]) -> None:
    result = tool(name, *[a.format(out=tmp_path, **inputs) for a in argv])
    _assert_clean_error(result, str(inputs["tree"]), codes=(1,))
    assert leftovers(tmp_path) == [] and not (tmp_path / "x").exists()


def test_extracting_into_a_read_only_current_folder_is_refused_first(
        readonly_dir: Path, inputs: dict[str, Path]) -> None:
    result = tool("rpi-eeprom-config", "-x", inputs["eeprom"], cwd=readonly_dir)
    _assert_clean_error(result, "current folder")
    assert list(readonly_dir.iterdir()) == []


def test_a_device_output_is_written_in_place_and_a_full_one_reported(
        inputs: dict[str, Path]) -> None:
    assert tool("rpi-eeprom-digest", "-i", inputs["eeprom"], "-o", "/dev/null").returncode == 0
    result = tool("rpiboot", "sign", "file", inputs["eeprom"], "-o", "/dev/full")
    _assert_clean_error(result, "/dev/full", codes=(1,))
    assert "no space left" in result.stderr


def test_an_unwritable_j_folder_is_reported_before_a_board_is_awaited(
        readonly_dir: Path) -> None:
    meta = readonly_dir / "meta"
    for argv in (["simulate", "recovery", "-j", str(meta)],
                 ["--simulate", "recovery", "-j", str(meta)],
                 ["-j", str(meta), "--timeout", "30", "--json"]):
        result = tool("rpiboot", *argv)
        _assert_clean_error(result, str(meta), codes=(1,))
        assert "Waiting for" not in result.stderr and '"waiting"' not in result.stdout
        assert "simulating" not in result.stderr  # not even the simulated board was built


SERIAL = "dc626c31"  # the simulated recovery board's file-server serial (sim presets)


def _metadata_on_stdout(result: Run, path: Path, json_mode: bool) -> dict[str, str]:
    """The board's records, which must be on stdout since ``path`` could not be written."""
    assert result.returncode == 0, result.stderr
    stderr = result.stderr
    assert f"warning: cannot write {path}" in stderr and "standard output" in stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    stdout = result.stdout
    if not json_mode:
        records: dict[str, str] = json.loads(stdout)
        return records
    events = [json.loads(line) for line in stdout.splitlines()]
    (metadata,) = [e for e in events if e["event"] == "metadata"]
    assert metadata["path"] is None
    data: dict[str, str] = metadata["data"]
    return data


def test_a_folder_in_the_way_of_a_metadata_file_gets_another_name(tmp_path: Path) -> None:
    """``DIR/<serial>.json`` is a folder (it passes the -j check): nothing is overwritten,
    the board's records go to the next free name and a warning says so."""
    meta = tmp_path / "meta"
    (meta / f"{SERIAL}.json").mkdir(parents=True)
    result = tool("rpiboot", "simulate", "recovery", "--speed", "20", "-j", meta)
    assert result.returncode == 0, result.stderr
    written = json.loads((meta / f"{SERIAL}~2.json").read_text())
    assert written["USER_SERIAL_NUM"] == SERIAL
    assert f"written to {meta / (SERIAL + '~2.json')} instead" in result.stderr
    assert (meta / f"{SERIAL}.json").is_dir() and leftovers(meta) == []


@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
def test_metadata_that_cannot_be_written_mid_run_goes_to_stdout(
        full_dir: Path, json_mode: bool) -> None:
    """The -j folder passed the check, then its disk filled up: the records go to stdout
    (a metadata event without a path under --json), a warning names the file."""
    result = tool("rpiboot", "simulate", "recovery", "--speed", "20", "-j", full_dir,
                  *(["--json"] if json_mode else []))
    records = _metadata_on_stdout(result, full_dir / f"{SERIAL}.json", json_mode)
    assert records["USER_SERIAL_NUM"] == SERIAL and records["MAC_ADDR"] == "d8:3a:dd:00:11:22"
    assert leftovers(full_dir) == []


def test_metadata_on_a_disk_that_filled_up_goes_to_stdout(full_dir: Path) -> None:
    result = tool("rpiboot", "simulate", "recovery", "--speed", "20", "-j", full_dir)
    records = _metadata_on_stdout(result, full_dir / f"{SERIAL}.json", json_mode=False)
    assert records["USER_SERIAL_NUM"] == SERIAL
    assert sorted(p.name for p in full_dir.iterdir()) == ["filler"]

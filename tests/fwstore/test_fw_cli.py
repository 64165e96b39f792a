"""``rpiboot firmware list|verify|use|remove|path`` on sets fetched from the loopback
upstream: what they print, and their exit statuses."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fwsite import PINNED, TEST_COMMIT, TEST_REF, FakeUpstream

from rpiboot.cli.main import main
from rpiboot.fwstore.layout import read_current


def _fetch(upstream: FakeUpstream, *more: str) -> None:
    assert main(["firmware", "fetch", "--mirror", upstream.raw, "--api", upstream.api,
                 *more]) == 0


@pytest.fixture
def two_sets(store: Path, upstream: FakeUpstream, capsys: pytest.CaptureFixture[str]) -> Path:
    _fetch(upstream, "--only", "msd,recovery")
    _fetch(upstream, "--ref", TEST_REF, "--only", "msd,mass-storage-gadget64")
    capsys.readouterr()
    return store


def test_list_shows_the_sets_the_current_one_and_each_chips_folder(
        two_sets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["firmware", "list"]) == 0
    out = capsys.readouterr().out
    assert f"* {TEST_COMMIT}  (current)" in out and f"  {PINNED}\n" in out
    assert "verified: listing pinned in rpiboot" in out and "folders: msd, recovery" in out
    gadget = two_sets / "sets" / TEST_COMMIT / "mass-storage-gadget64"
    assert f"BCM2712 (CM5, Pi 5/500): {gadget}  (current firmware set {TEST_COMMIT[:12]})" in out
    assert f"BCM2837 (CM3/3+, Zero 2 W, 3A+): {gadget.parent / 'msd'}" in out


def test_verify_reports_each_damaged_or_missing_file(
        two_sets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["firmware", "verify"]) == 0
    assert capsys.readouterr().out.count(": OK (") == 2
    start = two_sets / "sets" / PINNED / "msd" / "start.elf"
    os.chmod(start, 0o644)
    start.write_bytes(b"damaged")
    (two_sets / "sets" / PINNED / "recovery" / "boot.conf").unlink()
    assert main(["firmware", "verify"]) == 1
    captured = capsys.readouterr()
    assert f"{PINNED}: 2 problem(s)" in captured.out
    assert "  msd/start.elf: changed: git blob" in captured.out
    assert "  recovery/boot.conf: missing" in captured.out
    assert f"{TEST_COMMIT}: OK" in captured.out
    assert "1 firmware set(s) failed verification" in captured.err
    assert main(["firmware", "verify", TEST_COMMIT[:8], "--json"]) == 0
    (event,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert event["event"] == "verified" and event["problems"] == []


def test_use_remove_and_path(two_sets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["firmware", "path", "msd"]) == 0
    assert capsys.readouterr().out.strip() == str(two_sets / "sets" / TEST_COMMIT / "msd")
    assert main(["firmware", "use", PINNED[:7]]) == 0
    assert read_current(two_sets) == PINNED
    assert main(["firmware", "path", "mass-storage-gadget64"]) == 1
    assert "has no folder 'mass-storage-gadget64'" in capsys.readouterr().err
    assert main(["firmware", "remove", PINNED]) == 1
    assert "is the current firmware set" in capsys.readouterr().err
    assert main(["firmware", "remove", TEST_COMMIT]) == 0
    assert sorted(p.name for p in (two_sets / "sets").iterdir()) == [PINNED]
    assert main(["firmware", "use", "ffff"]) == 1
    assert "no installed firmware set is 'ffff'" in capsys.readouterr().err
    assert main(["firmware", "remove", PINNED, "--force"]) == 0
    assert read_current(two_sets) is None and list((two_sets / "sets").iterdir()) == []
    assert main(["firmware", "path"]) == 1
    assert "rpiboot firmware fetch" in capsys.readouterr().err


def test_a_damaged_manifest_is_reported_not_a_crash(
        two_sets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (two_sets / "sets" / PINNED / "manifest.json").write_text("{not json")
    assert main(["firmware", "list"]) == 0
    assert f"{PINNED}  DAMAGED:" in capsys.readouterr().out
    assert main(["firmware", "verify"]) == 1
    assert main(["firmware", "use", PINNED]) == 1
    assert "is not JSON" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["firmware"], ["firmware", "fetch", "--only", "nope"], ["firmware", "fetch", "--mirror",
                                                            "ftp://x"],
    ["firmware", "fetch", "--timeout", "0"], ["firmware", "frobnicate"]])
def test_bad_command_lines_exit_2(store: Path, argv: list[str],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("rpiboot firmware: error: ")


def test_the_mirror_and_ref_come_from_the_environment(
        store: Path, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RPIBOOT_FIRMWARE_MIRROR", upstream.raw)
    monkeypatch.setenv("RPIBOOT_GITHUB_API", upstream.api)
    monkeypatch.setenv("RPIBOOT_FIRMWARE_REF", TEST_REF)
    assert main(["firmware", "fetch", "--only", "msd"]) == 0
    assert read_current(store) == TEST_COMMIT


def test_a_full_disk_is_named_and_leaves_nothing_half_installed(
        full_dir: Path, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(full_dir))
    assert main(["firmware", "fetch", "--mirror", upstream.raw, "--only", "msd"]) == 1
    err = capsys.readouterr().err
    assert "no space left" in err and str(full_dir / "rpiboot") in err
    assert "internal error" not in err and read_current(full_dir / "rpiboot") is None
    sets = full_dir / "rpiboot" / "sets"
    assert not sets.exists() or list(sets.iterdir()) == []


def test_a_read_only_store_is_named(readonly_dir: Path, upstream: FakeUpstream,
                                    monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(readonly_dir))
    status = main(["firmware", "fetch", "--mirror", upstream.raw, "--only", "msd"])
    err = capsys.readouterr().err
    assert status in (1, 5) and str(readonly_dir / "rpiboot") in err
    assert "internal error" not in err


def test_a_second_command_changing_the_store_waits_its_turn_with_a_clear_error(
        store: Path, upstream: FakeUpstream, capsys: pytest.CaptureFixture[str]) -> None:
    from rpiboot.fwstore.install import Store

    with Store(store):  # another command holds the lock
        assert main(["firmware", "fetch", "--mirror", upstream.raw, "--only", "msd"]) == 1
    assert "another rpiboot firmware command is changing" in capsys.readouterr().err
    assert main(["firmware", "fetch", "--mirror", upstream.raw, "--only", "msd"]) == 0


def test_json_mode_ends_a_failure_with_an_error_event(
        store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["firmware", "fetch", "--mirror", "http://127.0.0.1:1", "--only", "msd",
                 "--json"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["event"] == "plan" and lines[-1]["event"] == "error"
    assert lines[-1]["exit_code"] == 1 and "rpiboot firmware import" in lines[-1]["hint"]

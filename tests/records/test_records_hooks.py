"""Hooks run as real processes: the record on stdin, RPIBOOT_* variables, the time-out ending
the whole process group, bounded output, no shell unless asked, selection by result."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path

import pytest
from records_helpers import board

from rpiboot.errors import UsageError
from rpiboot.records import hooks as hooks_mod
from rpiboot.records.hooks import Hook, check_hooks, run_hooks

PY = sys.executable
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups, sh")


def py_hook(code: str, *args: str, **options: object) -> Hook:
    """A hook running ``python -c code args...`` (no shell)."""
    return Hook(shlex.join([PY, "-c", code, *args]), **options)  # type: ignore[arg-type]


def test_the_record_arrives_as_json_on_stdin() -> None:
    rec = board("10000000abcdef01")
    code = ("import json, sys; d = json.load(sys.stdin); "
            "print(json.dumps([d['serial'], d['result'], d['schema'], d['files'][0]['name']]))")
    [entry] = run_hooks([py_hook(code)], rec)
    assert entry["exit_code"] == 0, entry
    assert json.loads(entry["stdout"]) == ["10000000abcdef01", "passed", 1, "bootcode4.bin"]
    assert entry["error"] is None and entry["timed_out"] is False
    assert entry["command"].startswith(shlex.quote(PY)) and entry["when"] == "done"
    assert 0 < entry["seconds"] < 60


def test_key_fields_arrive_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RPIBOOT_DB", raising=False)  # the test session's own (conftest)
    rec = board("10000000abcdef01", result="failed", station="line-7", port_path="3-2.1")
    code = ("import json, os; print(json.dumps({k: v for k, v in os.environ.items() "
            "if k.startswith('RPIBOOT_')}))")
    [entry] = run_hooks([py_hook(code)], rec)
    assert json.loads(entry["stdout"]) == {
        "RPIBOOT_RESULT": "failed", "RPIBOOT_SERIAL": "10000000abcdef01",
        "RPIBOOT_PORT_PATH": "3-2.1", "RPIBOOT_CHIP": "BCM2711", "RPIBOOT_OPERATION": "flash",
        "RPIBOOT_EXIT_CODE": "1", "RPIBOOT_STATION": "line-7", "RPIBOOT_RECORD_ID": rec.id,
        "RPIBOOT_MAC": "d8:3a:dd:00:11:22", "RPIBOOT_ERROR": "verify: mismatch at 0x1000"}


def test_unknown_fields_are_empty_strings_and_the_rest_of_the_environment_is_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATION_PRINTER", "zebra-3")
    rec = board("x", serial=None, chip=None, exit_code=None, metadata={})
    code = ("import os; print(repr((os.environ['RPIBOOT_SERIAL'], os.environ['RPIBOOT_CHIP'],"
            " os.environ['RPIBOOT_EXIT_CODE'], os.environ['RPIBOOT_MAC'], "
            "os.environ['STATION_PRINTER'])))")
    [entry] = run_hooks([py_hook(code)], rec)
    assert entry["stdout"].strip() == repr(("", "", "", "", "zebra-3"))


def test_without_a_shell_nothing_is_interpreted() -> None:
    code = "import sys; print(sys.argv[1:])"
    hook = Hook(shlex.join([PY, "-c", code]) + " 'a;b' $HOME ';' echo 'two words'")
    [entry] = run_hooks([hook], board("s1"))
    assert entry["stdout"].strip() == repr(["a;b", "$HOME", ";", "echo", "two words"])


@posix_only
def test_with_a_shell_the_shell_interprets_it() -> None:
    hook = Hook('echo "serial $RPIBOOT_SERIAL"; echo second >&2; exit 3', shell=True)
    [entry] = run_hooks([hook], board("s1"))
    assert entry["stdout"] == "serial s1\n" and entry["stderr"] == "second\n"
    assert entry["exit_code"] == 3 and entry["error"] is None


@pytest.mark.parametrize(("result", "ran"), [
    ("passed", ["done", "passed"]), ("failed", ["done", "failed"]),
    ("interrupted", ["done", "failed"]), ("running", [])])
def test_the_result_selects_the_hooks(result: str, ran: list[str]) -> None:
    hooks = [py_hook(f"print({when!r})", when=when) for when in ("done", "passed", "failed")]
    entries = run_hooks(hooks, board("s1", result=result))
    assert [e["when"] for e in entries] == ran
    assert [e["stdout"].strip() for e in entries] == ran


def test_a_missing_program_is_recorded_not_raised() -> None:
    [entry] = run_hooks([Hook("rpiboot-no-such-program-x --flag")], board("s1", result="failed"))
    assert entry["error"] == "no such program: rpiboot-no-such-program-x"
    assert entry["exit_code"] is None and entry["timed_out"] is False


@posix_only
def test_a_file_that_is_not_executable_is_recorded(tmp_path: Path) -> None:
    script = tmp_path / "label.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    [entry] = run_hooks([Hook(str(script))], board("s1"))
    assert entry["error"] == f"not executable: {script}" and entry["exit_code"] is None
    with pytest.raises(UsageError, match="not executable"):
        check_hooks([Hook(str(script))])
    script.chmod(0o755)
    check_hooks([Hook(str(script))])
    [entry] = run_hooks([Hook(str(script))], board("s1"))
    assert (entry["exit_code"], entry["stdout"]) == (0, "hi\n")


def test_check_hooks_names_what_is_wrong() -> None:
    check_hooks([py_hook("pass"), Hook("anything | at all; $X", shell=True, when="failed")])
    cases = [(Hook("rpiboot-no-such-program-x"), "rpiboot-no-such-program-x"),
             (Hook("python3 'unbalanced", when="passed"), "--on-board-passed"),
             (Hook("   "), "empty"), (Hook("true", when="sometimes"), "sometimes"),
             (Hook("true", timeout=0), "more than 0")]
    for hook, named in cases:
        with pytest.raises(UsageError, match=named) as caught:
            check_hooks([py_hook("pass"), hook])
        assert caught.value.exit_code == 2


def test_output_is_bounded_to_its_tail_and_decoded_leniently() -> None:
    code = ("import sys; out = sys.stdout.buffer; out.write(b'a' * 100000); "
            "out.write(b'b' * 100000 + b'\\xff END')")
    [entry] = run_hooks([py_hook(code)], board("s1"))
    cut = 200000 + len(b"\xff END") - hooks_mod.OUTPUT_LIMIT
    assert entry["stdout"].startswith(f"[rpiboot: {cut} earlier bytes cut]\n")
    kept = entry["stdout"].split("\n", 1)[1]
    assert kept.endswith("b\ufffd END") and set(kept[:-5]) == {"b"}
    assert len(kept) == hooks_mod.OUTPUT_LIMIT


def test_a_hook_that_ignores_a_large_record_on_stdin_does_not_block() -> None:
    rec = board("s1", metadata={"BIG": "x" * 300_000})
    [entry] = run_hooks([py_hook("print('ignored stdin')")], rec)
    assert (entry["exit_code"], entry["stdout"]) == (0, "ignored stdin\n")


def _gone(pid: int, within: float) -> bool:
    """True once ``pid`` no longer runs (gone, or a zombie awaiting its reaper)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)  # polling a condition with a deadline
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_time_out_ends_the_hook_and_its_children() -> None:
    code = ("import subprocess, sys, time; "
            "child = subprocess.Popen(['sleep', '300']); print(child.pid, flush=True); "
            "time.sleep(300)")
    started = time.monotonic()
    [entry] = run_hooks([py_hook(code, timeout=1.0)], board("s1"))
    took = time.monotonic() - started
    assert entry["timed_out"] is True and entry["exit_code"] is None
    assert entry["error"] == "timed out after 1 s; its processes were ended"
    assert 1.0 <= took < 1.0 + hooks_mod.TERM_GRACE_S + 10
    assert _gone(int(entry["stdout"]), within=10)


@posix_only
def test_a_hook_ignoring_sigterm_is_killed() -> None:
    code = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(300)")
    started = time.monotonic()
    [entry] = run_hooks([py_hook(code, timeout=0.5)], board("s1"))
    assert entry["timed_out"] is True and entry["stdout"] == "ready\n"
    assert time.monotonic() - started < 0.5 + hooks_mod.TERM_GRACE_S + 10


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_children_left_holding_the_output_do_not_hang_the_station() -> None:
    hook = Hook("sleep 300 & echo $!; exit 0", shell=True, timeout=120)
    started = time.monotonic()
    [entry] = run_hooks([hook], board("s1"))
    assert time.monotonic() - started < 30  # not the hook's 120 s, not the child's 300 s
    assert entry["exit_code"] == 0 and entry["timed_out"] is False
    assert "held its output open" in entry["error"]
    assert _gone(int(entry["stdout"]), within=10)


@posix_only
def test_a_background_child_with_its_output_redirected_is_left_alone(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    hook = Hook(f"sleep 300 >/dev/null 2>&1 </dev/null & echo $! > {pid_file}", shell=True)
    [entry] = run_hooks([hook], board("s1"))
    pid = int(pid_file.read_text())
    try:
        assert entry["exit_code"] == 0 and entry["error"] is None
        os.kill(pid, 0)  # still running
    finally:
        os.kill(pid, 9)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_during_a_hook_ends_its_processes_too(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    code = ("import os, signal, subprocess, sys, time; "
            "child = subprocess.Popen(['sleep', '300']); "
            f"open({str(pid_file)!r}, 'w').write(str(child.pid)); "
            "sys.stdin.read(); os.kill(os.getppid(), signal.SIGINT); time.sleep(300)")
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_hooks([py_hook(code, timeout=120)], board("s1"))
    assert time.monotonic() - started < 30
    assert _gone(int(pid_file.read_text()), within=10)

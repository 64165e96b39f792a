"""``rpiboot`` without -d and no firmware: non-interactive runs name the command; on a
terminal (a real pty) rpiboot offers to fetch, defaulting to no."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fwsite import TEST_COMMIT, TEST_REF, FakeUpstream

from rpiboot.cli.main import main
from rpiboot.fwstore.layout import read_current
from rpiboot.fwstore.upstream import API_ENV, MIRROR_ENV, REF_ENV


def test_without_a_terminal_the_error_names_the_command(
        store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--timeout", "0.5"]) == 1
    err = capsys.readouterr().err
    assert "no installed default firmware found" in err
    assert "Run 'rpiboot firmware fetch'" in err and "rpiboot firmware import PATH" in err
    assert main(["--timeout", "0.5", "--json"]) == 1
    (event,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert event["event"] == "error" and event["exit_code"] == 1
    assert "rpiboot firmware fetch" in event["hint"]


def _run_on_a_terminal(env: dict[str, str], answer: bytes) -> tuple[int, str]:
    """``rpiboot --timeout 0.5`` with stdin and stderr on a pty; ``answer`` typed at the
    question.  Its exit status and everything it wrote to the terminal."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "rpiboot", "--timeout", "0.5"], env=env,
                            stdin=slave, stderr=slave, stdout=subprocess.DEVNULL)
    os.close(slave)
    seen = b""
    answered = False
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the process closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if not answered and b"[y/N]" in seen:
                os.write(master, answer)
                answered = True
            if not ready and proc.poll() is not None:
                break
        status = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert answered, seen.decode(errors="replace")
    return status, seen.decode(errors="replace")


def _env(store: Path) -> dict[str, str]:
    env = dict(os.environ, XDG_DATA_HOME=str(store.parent), TERM="xterm", COLUMNS="100")
    env.pop("CI", None)
    return env


def test_on_a_terminal_no_is_the_default(store: Path) -> None:
    status, seen = _run_on_a_terminal(_env(store), b"\n")
    assert status == 1
    assert "Download Raspberry Pi's usbboot firmware" in seen
    assert "rpiboot firmware fetch" in seen and read_current(store) is None


def test_on_a_terminal_yes_fetches_then_boots(store: Path, upstream: FakeUpstream) -> None:
    env = _env(store)
    env.update({MIRROR_ENV: upstream.raw, API_ENV: upstream.api, REF_ENV: TEST_REF})
    status, seen = _run_on_a_terminal(env, b"y\n")
    assert read_current(store) == TEST_COMMIT, seen
    assert "installed firmware set" in seen and "Waiting for a Raspberry Pi" in seen
    assert status == 4  # no board appeared within --timeout: the boot itself went on

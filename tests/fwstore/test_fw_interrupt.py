"""A fetch that is killed (SIGKILL) or stopped (SIGTERM) in the middle of a download: the
previous set stays current and usable, and the next fetch resumes the partial file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fwsite import (
    BOOT_IMG,
    PINNED,
    TEST_COMMIT,
    TEST_REF,
    USBBOOT,
    FakeUpstream,
    blob_id,
    synthetic_boot_img,
)

from rpiboot.chips import CHIPS
from rpiboot.firmware import find_default_firmware
from rpiboot.fwstore.fetch import FetchOptions, fetch_firmware
from rpiboot.fwstore.httpget import HttpOptions
from rpiboot.fwstore.layout import read_current

STALL_AT = 1_500_000  # the client has written one 1 MiB chunk when the server stalls
CHUNK = 1 << 20


def _start_fetch(store: Path, upstream: FakeUpstream) -> subprocess.Popen[bytes]:
    env = dict(os.environ, XDG_DATA_HOME=str(store.parent), PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "rpiboot", "firmware", "fetch", "--ref",
                             TEST_REF, "--api", upstream.api, "--mirror", upstream.raw],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_size(path: Path, size: int, proc: subprocess.Popen[bytes]) -> None:
    """Poll until the partial download holds ``size`` bytes (the condition, not a delay)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.is_file() and path.stat().st_size >= size:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    pytest.fail(f"{path} never reached {size} bytes")


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_an_interrupted_fetch_keeps_the_previous_set_and_the_next_one_resumes(
        store: Path, upstream: FakeUpstream, how: str) -> None:
    fast = HttpOptions(timeout=10, retries=1, backoff=0.01)
    fetch_firmware(store, FetchOptions(folders=("msd",), mirror=upstream.raw, http=fast))
    stall = upstream.url_path(USBBOOT, TEST_COMMIT, BOOT_IMG)
    release = threading.Event()
    upstream.faults.stall[stall] = (STALL_AT, release)
    part = store / "downloads" / f"{blob_id(synthetic_boot_img())}.part"
    proc = _start_fetch(store, upstream)
    try:
        _wait_for_size(part, CHUNK, proc)
        proc.send_signal(getattr(signal, how))
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        release.set()
    if how == "SIGTERM":  # unwinds like Ctrl-C: exit 130, its staging folder removed
        assert proc.returncode == 130, err.decode()
        assert [p.name for p in (store / "sets").iterdir()] == [PINNED]
    else:  # its staging folder stays until the next command that takes the lock
        assert proc.returncode == -signal.SIGKILL
        assert any(p.name.startswith(".staging-") for p in (store / "sets").iterdir())
    assert read_current(store) == PINNED
    assert find_default_firmware(CHIPS[0x2764]).boot_dir == store / "sets" / PINNED / "msd"
    kept = part.stat().st_size
    assert kept >= CHUNK
    del upstream.faults.stall[stall]
    fetch_firmware(store, FetchOptions(ref=TEST_REF, mirror=upstream.raw, api=upstream.api,
                                       http=fast))
    assert upstream.ranges(stall)[-1] == f"bytes={kept}-"
    assert read_current(store) == TEST_COMMIT
    assert sorted(p.name for p in (store / "sets").iterdir()) == sorted([PINNED, TEST_COMMIT])
    assert (store / "sets" / TEST_COMMIT / BOOT_IMG).read_bytes() == synthetic_boot_img()

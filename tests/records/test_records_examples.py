"""The example hooks of docs/records.md (docs/examples/hooks/) run through run_hooks against a
real record: the label printer (to a file and to a TCP printer port on 127.0.0.1), the MES
POST (to a real http.server on 127.0.0.1) and the rig LED script."""

from __future__ import annotations

import http.server
import json
import shlex
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from records_helpers import board

from rpiboot.records.hooks import Hook, check_hooks, run_hooks

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "hooks"
PY = shlex.quote(sys.executable)


def example(name: str, *args: str) -> Hook:
    """A hook running the example ``name`` (Python ones with this interpreter)."""
    path = shlex.quote(str(EXAMPLES / name))
    runner = PY if name.endswith(".py") else "/bin/sh"
    hook = Hook(" ".join([runner, path, *map(shlex.quote, args)]))
    check_hooks([hook])
    return hook


def test_the_label_example_writes_zpl(tmp_path: Path) -> None:
    rec = board("10000000abcdef01")
    [entry] = run_hooks([example("print_label.py", "--out", str(tmp_path / "labels"))], rec)
    label = tmp_path / "labels" / "10000000abcdef01.zpl"
    assert entry["exit_code"] == 0 and entry["stdout"] == f"label written to {label}\n"
    zpl = label.read_text(encoding="utf-8")
    assert zpl.startswith("^XA\n") and zpl.endswith("^XZ\n")
    assert "^BCN,60,N,N,N^FD10000000abcdef01^FS" in zpl
    assert "^FDMAC d8:3a:dd:00:11:22^FS" in zpl and "^FDPASSED  BCM2711  2026-12-02^FS" in zpl


def test_the_label_example_sends_to_a_printer_port() -> None:
    received = bytearray()
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def printer() -> None:
            conn, _ = server.accept()
            with conn:
                while chunk := conn.recv(4096):
                    received.extend(chunk)

        thread = threading.Thread(target=printer, daemon=True)
        thread.start()
        rec = board("ser^ial~1")  # ZPL's command characters never reach the printer raw
        [entry] = run_hooks([example("print_label.py", "--printer", f"127.0.0.1:{port}")],
                            rec)
        thread.join(30)
    assert entry["exit_code"] == 0, entry
    assert entry["stdout"] == f"label for ser^ial~1 sent to 127.0.0.1:{port}\n"
    assert received.startswith(b"^XA") and b"^FDser_ial_1^FS" in received


class MesHandler(http.server.BaseHTTPRequestHandler):
    """Keeps what was POSTed; answers with the server's ``status``."""

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        server: Any = self.server
        server.posts.append((dict(self.headers), json.loads(self.rfile.read(length))))
        body = b'{"accepted": true}' if server.status < 400 else b"line 3 is closed"
        self.send_response(server.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    server: Any = http.server.ThreadingHTTPServer(("127.0.0.1", 0), MesHandler)
    server.posts, server.status = [], 201
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("MES_URL", f"http://127.0.0.1:{server.server_port}/api/boards")
    monkeypatch.delenv("MES_TOKEN", raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # a proxy set for the rest of the net
    yield server
    server.shutdown()
    server.server_close()
    thread.join(30)


def test_the_mes_example_posts_the_record(mes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MES_TOKEN", "s3cret")
    rec = board("10000000abcdef01", result="failed")
    [entry] = run_hooks([example("post_to_mes.py")], rec)
    assert entry["exit_code"] == 0, entry
    assert entry["stdout"] == 'MES 201: {"accepted": true}\n'
    [(headers, posted)] = mes.posts
    assert posted == rec.to_json()
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["X-Rpiboot-Record-Id"] == rec.id


def test_the_mes_example_reports_a_refusal(mes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    mes.status = 503
    [entry] = run_hooks([example("post_to_mes.py")], board("s1"))
    assert entry["exit_code"] == 1
    assert entry["stderr"] == "post_to_mes: MES answered 503: line 3 is closed\n"
    monkeypatch.delenv("MES_URL")
    [entry] = run_hooks([example("post_to_mes.py")], board("s1"))
    assert entry["exit_code"] == 2 and "set MES_URL" in entry["stderr"]


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell script")
def test_the_led_example_without_gpioset(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no gpioset there
    [entry] = run_hooks([example("rig_led.sh")], board("s1", result="failed"))
    assert entry["exit_code"] == 0, entry
    assert entry["stdout"] == ("no gpioset here: would light gpiochip0 line 27 for s1 on port "
                               "1-1.3 (failed)\n")


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell script")
def test_the_led_example_with_libgpiod_2(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "gpioset"  # this computer has no GPIO lines to set
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\n[ "$1" = --version ] && echo "gpioset v2.1" && exit 0\n'
                    f'echo "$@" >> {shlex.quote(str(calls))}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    monkeypatch.setenv("RIG_LED_PASSED", "22")
    [entry] = run_hooks([example("rig_led.sh")], board("s1"))
    assert entry["exit_code"] == 0 and entry["error"] is None, entry
    assert entry["stdout"] == "LED gpiochip0 line 22 on for s1 on port 1-1.3 (passed)\n"
    deadline = time.monotonic() + 30  # gpioset runs in the background
    while not (calls.exists() and calls.read_text().endswith("\n")) \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    assert calls.read_text() == "-c gpiochip0 -t 5s,0 22=1\n"

"""The user's commands run when a board is done: ``--on-board-done CMD`` and its per-result
variants (docs/records.md, "Hooks").

Each hook gets the board's record as JSON on stdin and its key fields in ``RPIBOOT_*``
environment variables.  It runs without a shell unless ``shell=True``, in a process group
of its own (POSIX), with a time-out after which the whole group is ended (SIGTERM, then
SIGKILL).  What it printed (the last 64 KiB of each stream), its exit status and how long it
took are returned for the record; a hook that cannot start is recorded, never raised.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Any

from rpiboot.errors import UsageError
from rpiboot.record import record
from rpiboot.records.model import BoardRecord

# when -> the end results that run it ("failed" includes a board whose run was interrupted)
WHEN_RESULTS: dict[str, tuple[str, ...]] = {
    "done": ("passed", "failed", "interrupted"),
    "passed": ("passed",),
    "failed": ("failed", "interrupted"),
}
DEFAULT_TIMEOUT_S = 60.0
OUTPUT_LIMIT = 64 * 1024  # bytes of stdout and of stderr kept (the tail)
TERM_GRACE_S = 2.0  # after SIGTERM, before SIGKILL
DRAIN_S = 1.0  # after the hook exits, how long its leftover children may hold its output
MAC_KEYS = ("MAC_ADDR", "MAC_WIFI_ADDR")  # RPIBOOT_MAC: the first the board reported
SERIAL_KEY = "USER_SERIAL_NUM"
_log = logging.getLogger("rpiboot.records.hooks")


@record
class Hook:
    """One command to run when a board ends with a result ``when`` selects."""

    command: str
    when: str = "done"  # "done" (any end), "passed", "failed" (failed or interrupted)
    shell: bool = False  # run through /bin/sh -c (cmd.exe on Windows) instead of argv
    timeout: float = DEFAULT_TIMEOUT_S  # seconds, then the hook's process group is ended


def selects(hook: Hook, result: str) -> bool:
    """True when ``hook`` runs for a board that ended with ``result``."""
    return result in WHEN_RESULTS.get(hook.when, ())


def split_command(command: str) -> list[str]:
    """The argv of a hook run without a shell (shell-like quoting, no expansion)."""
    if sys.platform != "win32":
        return shlex.split(command)
    return [part[1:-1] if len(part) > 1 and part[0] == part[-1] == '"' else part
            for part in shlex.split(command, posix=False)]


def check_hooks(hooks: list[Hook]) -> None:
    """Before any board is served: each hook is well-formed and (without a shell) its
    program exists and is executable; UsageError naming the hook otherwise."""
    for hook in hooks:
        flag = f"--on-board-{hook.when}"
        if hook.when not in WHEN_RESULTS:
            raise UsageError(f"hook {hook.command!r}: unknown 'when' {hook.when!r}",
                             hint="Use one of: " + ", ".join(WHEN_RESULTS) + ".")
        if not 0 < hook.timeout < float("inf"):
            raise UsageError(f"--hook-timeout {hook.timeout:g}: must be more than 0 seconds")
        if not hook.command.strip():
            raise UsageError(f"{flag}: the command is empty")
        if hook.shell:
            continue
        try:
            argv = split_command(hook.command)
        except ValueError as exc:
            raise UsageError(f"{flag} {hook.command!r}: {exc}",
                             hint="Quote the command as a shell would.") from None
        if shutil.which(argv[0]) is None:
            raise UsageError(
                f"{flag} {hook.command!r}: no such program (or not executable): {argv[0]}",
                hint="Give a program on PATH or its path (e.g. 'python3 label.py'), or add "
                "--hook-shell to run the command through the shell.")


def hook_environment(rec: BoardRecord) -> dict[str, str]:
    """The ``RPIBOOT_*`` variables a hook gets (empty strings for what is unknown)."""
    mac = next((rec.metadata[key] for key in MAC_KEYS if rec.metadata.get(key)), "")
    values = {
        "RPIBOOT_RESULT": rec.result, "RPIBOOT_SERIAL": rec.serial or "",
        "RPIBOOT_PORT_PATH": rec.port_path, "RPIBOOT_CHIP": rec.chip or "",
        "RPIBOOT_OPERATION": rec.operation,
        "RPIBOOT_EXIT_CODE": "" if rec.exit_code is None else str(rec.exit_code),
        "RPIBOOT_STATION": rec.station, "RPIBOOT_RECORD_ID": rec.id, "RPIBOOT_MAC": mac,
        "RPIBOOT_ERROR": (rec.error or "").split("\n", 1)[0],
    }
    return {name: value.replace("\0", "") for name, value in values.items()}


def run_hooks(hooks: list[Hook], rec: BoardRecord) -> list[dict[str, Any]]:
    """Run, one after the other, the hooks that ``rec.result`` selects; one entry each
    (see :func:`run_hook`) for ``rec.hooks``."""
    chosen = [hook for hook in hooks if selects(hook, rec.result)]
    if not chosen:
        return []
    payload = (json.dumps(rec.to_json(), ensure_ascii=False) + "\n").encode("utf-8")
    env = {**os.environ, **hook_environment(rec)}
    return [run_hook(hook, payload, env) for hook in chosen]


def run_hook(hook: Hook, payload: bytes, env: dict[str, str]) -> dict[str, Any]:
    """Run one hook with ``payload`` on stdin: ``{"command", "when", "exit_code" (None when
    it did not start or timed out), "stdout", "stderr", "seconds", "timed_out", "error"}``."""
    entry: dict[str, Any] = {"command": hook.command, "when": hook.when, "exit_code": None,
                             "stdout": "", "stderr": "", "seconds": 0.0, "timed_out": False,
                             "error": None}
    started = time.monotonic()
    proc, entry["error"] = _start(hook, env)
    if proc is not None:
        _supervise(proc, hook, payload, entry)
    entry["seconds"] = round(time.monotonic() - started, 3)
    if entry["error"] or entry["timed_out"] or entry["exit_code"] != 0:
        _log.warning("hook %r: %s", hook.command, entry["error"] or
                     ("timed out" if entry["timed_out"] else f"exit status {entry['exit_code']}"))
    return entry


def _start(hook: Hook, env: dict[str, str]) -> tuple[subprocess.Popen[bytes] | None, str | None]:
    """The started hook, or None and why it could not start."""
    program = "/bin/sh" if hook.shell else "?"
    try:
        args: str | list[str]
        if hook.shell:
            args = hook.command if sys.platform == "win32" else ["/bin/sh", "-c", hook.command]
        else:
            args = split_command(hook.command)
            program = args[0] if args else "?"
        if not args:
            return None, "the command is empty"
        pipe = subprocess.PIPE
        if sys.platform == "win32":
            proc = subprocess.Popen(args, shell=hook.shell, env=env, stdin=pipe, stdout=pipe,
                                    stderr=pipe,
                                    creationflags=subprocess.CREATE_NEW_PROCESS_GROUP)
        else:
            proc = subprocess.Popen(args, env=env, stdin=pipe, stdout=pipe, stderr=pipe,
                                    start_new_session=True)
    except ValueError as exc:  # unbalanced quotes, a NUL in the command
        return None, f"cannot run the command: {exc}"
    except FileNotFoundError:
        return None, f"no such program: {program}"
    except PermissionError:
        return None, f"not executable: {program}"
    except OSError as exc:
        return None, f"could not start {program}: {exc.strerror or exc}"
    return proc, None


class _Tail:
    """The last :data:`OUTPUT_LIMIT` bytes of one stream, read by a thread of its own."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.data = bytearray()
        self.dropped = 0
        self.thread = threading.Thread(target=self._pump, args=(stream,), daemon=True,
                                       name="rpiboot-hook-output")
        self.thread.start()

    def _pump(self, stream: IO[bytes]) -> None:
        try:
            while chunk := os.read(stream.fileno(), 65536):
                self.data += chunk
                if len(self.data) > OUTPUT_LIMIT:
                    cut = len(self.data) - OUTPUT_LIMIT
                    del self.data[:cut]
                    self.dropped += cut
        except (OSError, ValueError):
            pass
        finally:
            stream.close()

    def text(self) -> str:
        """What was kept, decoded; marked when the beginning was cut."""
        kept = bytes(self.data).decode("utf-8", errors="replace")
        return f"[rpiboot: {self.dropped} earlier bytes cut]\n{kept}" if self.dropped else kept


def _feed(stream: IO[bytes], payload: bytes) -> None:
    """Write the record to the hook's stdin and close it (a hook that ignores it is fine)."""
    try:
        stream.write(payload)
    except (OSError, ValueError):
        pass
    finally:
        with contextlib.suppress(OSError):
            stream.close()


def _supervise(proc: subprocess.Popen[bytes], hook: Hook, payload: bytes,
               entry: dict[str, Any]) -> None:
    """Feed, read and wait for ``proc``; on the time-out end its process group.  Children
    it leaves behind holding its output open are ended after :data:`DRAIN_S`."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        threading.Thread(target=_feed, args=(proc.stdin, payload), daemon=True,
                         name="rpiboot-hook-input").start()
        tails = (_Tail(proc.stdout), _Tail(proc.stderr))
        try:
            entry["exit_code"] = proc.wait(timeout=hook.timeout)
        except subprocess.TimeoutExpired:
            entry["timed_out"] = True
            entry["error"] = f"timed out after {hook.timeout:g} s; its processes were ended"
            _end_group(proc)
        if not _joined(tails, DRAIN_S):
            _end_group(proc)
            if not entry["timed_out"]:
                entry["error"] = (f"processes it left running held its output open; ended "
                                  f"{DRAIN_S:g} s after it exited")
            _joined(tails, TERM_GRACE_S)
    except BaseException:  # Ctrl-C / SIGTERM: a hook in a session of its own would not see it
        _end_group(proc)
        raise
    entry["stdout"], entry["stderr"] = tails[0].text(), tails[1].text()


def _joined(tails: tuple[_Tail, ...], seconds: float) -> bool:
    """True when both output readers reached the end within ``seconds`` (in total)."""
    deadline = time.monotonic() + seconds
    for tail in tails:
        tail.thread.join(max(0.0, deadline - time.monotonic()))
    return not any(tail.thread.is_alive() for tail in tails)


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the hook's process group, SIGKILL it after :data:`TERM_GRACE_S` (Windows: the
    hook's process only)."""
    if sys.platform == "win32":
        proc.kill()
        proc.wait()
        return
    _signal_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=TERM_GRACE_S)
    _signal_group(proc.pid, signal.SIGKILL)  # what ignored SIGTERM, and the hook itself
    proc.wait()


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)

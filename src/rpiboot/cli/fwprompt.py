"""``rpiboot`` without ``-d`` and no firmware anywhere: on a terminal, offer to fetch it.

The library only raises (``firmware.check_firmware_available``); asking is the CLI's job.
The answer defaults to no, and nothing is asked when stdin or stderr is not a terminal or
with ``--json``: the error then names the command to run.
"""

from __future__ import annotations

import argparse
import sys


def interactive() -> bool:
    """Whether a person can answer: stdin and stderr are terminals."""
    try:
        return sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def ask(question: str) -> bool:
    """A yes/no question on stderr, the answer from stdin (default: no)."""
    sys.stderr.write(question)
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def ensure_default_firmware(args: argparse.Namespace) -> None:
    """Return when default firmware is installed (or was just fetched); else raise the
    library's error, which names ``rpiboot firmware fetch``."""
    from rpiboot.errors import InputError
    from rpiboot.firmware import check_firmware_available, user_data_dir

    try:
        check_firmware_available(args.firmware_dir)
        return
    except InputError:
        if args.json_mode or not interactive():
            raise
        from rpiboot.fwstore.upstream import PINNED_USBBOOT

        question = (f"rpiboot: no firmware is installed for booting without -d.\n"
                    f"Download Raspberry Pi's usbboot firmware (commit {PINNED_USBBOOT[:12]}, "
                    f"pinned in rpiboot; every file checked against its git blob id) into "
                    f"{user_data_dir()} now? [y/N] ")
        if not ask(question):
            raise
    _fetch_default()


def _fetch_default() -> None:
    """``rpiboot firmware fetch`` with its defaults (and its environment variables)."""
    from rpiboot.cli.firmware_cmd import fetch_options
    from rpiboot.cli.fwrender import make_fw_renderer
    from rpiboot.firmware import user_data_dir
    from rpiboot.fwstore.fetch import FetchOptions, fetch_firmware

    defaults = argparse.Namespace(only=None, ref=None, mirror=None, api=None, timeout=30.0,
                                  retries=4, keep_current=False)
    options = fetch_options(defaults)
    assert isinstance(options, FetchOptions)
    renderer = make_fw_renderer(json_mode=False)
    try:
        fetch_firmware(user_data_dir(), options, renderer)
    finally:
        renderer.close()

"""``rpiboot [flags]``: boot boards over USB with the reference tool's flags, plus
``--timeout``, ``--json``, ``--quiet``, ``--firmware-dir`` and ``--simulate BOARD``.

Parsing and rendering only: the work is done by :func:`rpiboot.boot.serve`.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rpiboot.cli.parsing import ArgumentParser
from rpiboot.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from rpiboot.boot import BootOptions, ServeResult

MIN_POLL_S = 0.01  # -m below 10 ms would burn CPU for no faster detection
PORT_FLAG = re.compile(r"^-(\d{1,3})$")
TAKES_VALUE = {"-d", "-m", "-p", "-i", "--timeout", "--firmware-dir", "--simulate", "--speed"}
DESCRIPTION = """\
Boot a Raspberry Pi / Compute Module in USB boot mode (nRPIBOOT) from a directory, like
Raspberry Pi's usbboot rpiboot.  Without -l, exit after one board finished its file server.
"""
EPILOG = """\
exit status: 0 ok, 1 boot failed, 2 usage, 3 internal error, 4 timeout / no board,
5 permission denied, 130 interrupted.
environment: RPIBOOT_LIBUSB=/path/to/libusb-1.0.so selects the libusb library;
RPIBOOT_FIRMWARE_DIR is where the default (no -d) firmware is looked for.
"""


def build_parser(prog: str = "rpiboot") -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-d", dest="boot_dir", metavar="DIR", type=Path,
                   help="boot directory to serve files from (default: the installed "
                   "mass-storage firmware)")
    p.add_argument("-l", dest="loop", action="store_true",
                   help="loop: keep serving boards (several at once) until interrupted")
    p.add_argument("-o", dest="overlay", action="store_true",
                   help="per-USB-path overlay: serve DIR/<usb path>/NAME first (needs -d)")
    p.add_argument("-m", dest="poll_us", metavar="MICROSECONDS", type=int,
                   help="device polling interval in microseconds (at least 10000)")
    p.add_argument("-v", dest="verbose", action="count", default=0,
                   help="verbose (-vv: debug), says which libusb is in use")
    p.add_argument("-V", "--version", dest="version", action="store_true",
                   help="print the version and exit")
    p.add_argument("-s", dest="signed", action="store_true",
                   help="signed boot (BCM2835/7): send the 20-byte bootcode.sig "
                        "(or bootsig.bin) in the boot message")
    p.add_argument("--port-number", dest="port_number", metavar="N", type=int,
                   help="-0 .. -98: only the device on port number N")
    p.add_argument("-p", dest="port_path", metavar="PATH",
                   help="only the device at this USB path (e.g. 1-1.3, or a glob: '1-3.*')")
    p.add_argument("-i", dest="serial", metavar="SERIAL",
                   help="only the device with this serial number")
    p.add_argument("-j", dest="metadata_dir", metavar="DIR", nargs="?", const="",
                   default=None,
                   help="write each board's metadata as JSON into DIR/<serial>.json "
                   "(no DIR: print it to stdout)")
    p.add_argument("--timeout", metavar="SECONDS", type=float,
                   help="give up when no board appears within SECONDS (exit 4), or a stage "
                   "takes longer than max(SECONDS, 10)")
    p.add_argument("--json", dest="json_mode", action="store_true",
                   help="one JSON event per line on stdout; logs on stderr")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors (and metadata)")
    p.add_argument("--firmware-dir", type=Path, metavar="DIR",
                   help="where the default firmware (no -d) is installed")
    p.add_argument("--simulate", metavar="BOARD",
                   help="boot a simulated board instead (see 'rpiboot simulate --list')")
    return p


def rewrite_port_flags(argv: Sequence[str]) -> list[str]:
    """Turn the reference's numeric flags ``-0`` .. ``-98`` into ``--port-number N``."""
    out: list[str] = []
    expects_value = False
    for arg in argv:
        match = PORT_FLAG.match(arg)
        if match and not expects_value:
            number = int(match.group(1))
            if number > 98:
                raise UsageError(f"port number flag {arg}: must be -0 .. -98")
            out += ["--port-number", str(number)]
            continue
        expects_value = arg in TAKES_VALUE
        out.append(arg)
    return out


def parse_args(argv: Sequence[str], prog: str = "rpiboot") -> argparse.Namespace:
    args = build_parser(prog).parse_args(rewrite_port_flags(argv))
    if args.overlay and args.boot_dir is None:
        raise UsageError("-o (per-USB-path overlay) needs a boot directory",
                         hint="Pass -d DIR as well.")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError(f"--timeout {args.timeout:g}: must be more than 0 seconds")
    if args.poll_us is not None and args.poll_us < 0:
        raise UsageError("-m: the polling interval cannot be negative")
    if args.json_mode and args.quiet:
        args.quiet = False  # --json output is already machine-only
    return args


def build_options(args: argparse.Namespace) -> BootOptions:
    """BootOptions from parsed flags (creates the -j directory if it is missing)."""
    from rpiboot.boot import BootOptions

    metadata_dir = None
    if args.metadata_dir:
        metadata_dir = Path(args.metadata_dir)
        if metadata_dir.exists() and not metadata_dir.is_dir():
            raise UsageError(f"-j {metadata_dir}: not a directory")
        metadata_dir.mkdir(parents=True, exist_ok=True)
    extra: dict[str, Any] = {}
    if args.timeout is not None:
        extra["wait_timeout"] = args.timeout
        extra["stage_timeout"] = max(args.timeout, 10.0)
    if args.poll_us is not None:
        extra["poll_interval"] = max(args.poll_us / 1e6, MIN_POLL_S)
    return BootOptions(
        boot_dir=args.boot_dir, firmware_dir=args.firmware_dir, overlay=args.overlay,
        signed=args.signed, loop=args.loop, port_path=args.port_path,
        port_number=args.port_number, serial=args.serial,
        metadata=args.metadata_dir is not None, metadata_dir=metadata_dir, **extra,
    )


def configure_logging(verbose: int, quiet: bool) -> None:
    """rpiboot's library logs go to stderr: warnings by default, -v info, -vv debug."""
    level = logging.DEBUG if verbose >= 2 else logging.INFO if verbose else logging.WARNING
    if quiet:
        level = logging.ERROR
    logger = logging.getLogger("rpiboot")
    logger.setLevel(level)
    if not any(getattr(h, "_rpiboot_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("rpiboot: %(message)s"))
        handler._rpiboot_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.propagate = False


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if args.version:
        from rpiboot import __version__

        print(f"rpiboot {__version__}")
        return 0
    if args.simulate:
        from rpiboot.cli.simulate_cmd import run_simulation

        return run_simulation(args.simulate, args, speed=1.0)
    configure_logging(args.verbose, args.quiet)
    options = build_options(args)
    from rpiboot.usb.backend import load_backend

    backend, description = load_backend()
    if args.verbose:
        print(f"rpiboot: using {description}", file=sys.stderr)
    return run_boot(options, backend, args)


def run_boot(options: BootOptions, backend: Any, args: argparse.Namespace) -> int:
    """Run ``serve`` in a worker thread so Ctrl-C / SIGTERM stop it cleanly (exit 130)."""
    from rpiboot.cli.render import make_renderer

    renderer = make_renderer(json_mode=args.json_mode, quiet=args.quiet, verbose=args.verbose)
    try:
        result = serve_interruptibly(options, backend, renderer)
    finally:
        renderer.close()
    if result is None:
        print("rpiboot: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    return int(result.exit_code)


def serve_interruptibly(options: BootOptions, backend: Any, on_event: Any,
                        stop: threading.Event | None = None) -> ServeResult | None:
    """``serve`` on a worker thread; None if Ctrl-C / SIGTERM stopped it (the sessions are
    told to stop and given a moment to close their devices)."""
    from rpiboot.boot import serve

    stop = stop or threading.Event()
    outcome: dict[str, Any] = {}
    finished = threading.Event()  # not Thread.join: an interrupted join() breaks is_alive()

    def work() -> None:
        try:
            outcome["result"] = serve(options, backend=backend, on_event=on_event, stop=stop)
        except BaseException as exc:  # re-raised on the main thread
            outcome["error"] = exc
        finally:
            finished.set()

    worker = threading.Thread(target=work, name="rpiboot-serve", daemon=True)
    restore = _sigterm_as_interrupt()
    worker.start()
    try:
        # A timeout keeps the wait interruptible by Ctrl-C on every OS.
        while not finished.wait(1.0):
            pass
    except KeyboardInterrupt:
        stop.set()
        finished.wait(3.0)  # let the sessions close their devices
        return None
    finally:
        restore()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _sigterm_as_interrupt() -> Any:
    """Make SIGTERM behave like Ctrl-C (main thread only); returns the undo function."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous)

"""The boot operations API: :func:`serve` many boards, or :func:`boot_one` and get its metadata.

Both run a :class:`~rpiboot.engine.server.Server` (see docs/api.md): it waits for matching
Broadcom boot devices, follows each board by its USB port path through its re-enumerations
(boot ROM -> file server -> next stage) and reports what happens as typed events
(:mod:`rpiboot.events`) and one :class:`~rpiboot.options.ServeResult`.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rpiboot.engine.server import EventCallback, Server
from rpiboot.errors import RpibootError
from rpiboot.options import BoardResult, BootOptions, ServeResult

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

__all__ = ["BoardResult", "BootOptions", "ServeResult", "Server", "boot_one", "serve"]


def serve(options: BootOptions, *, backend: Any = None, on_event: EventCallback | None = None,
          stop: threading.Event | None = None, **seams: Any) -> ServeResult:
    """Serve matching boards until done and return the result (never raises for a failed
    boot: see :attr:`ServeResult.error` and each board's ``error``).

    ``stop``: an Event that ends the run when set (loop mode).  ``seams``: the other
    :class:`Server` keyword arguments (``devices``, ``open_link``, ``notifier``,
    ``safety_poll``).  Ctrl-C in the calling thread stops the boards cleanly and returns a
    result with ``interrupted`` set.
    """
    return Server(options, backend=backend, on_event=on_event, stop=stop, **seams).run()


def boot_one(boot_dir: str | Path | None = None, *, port_path: str | None = None,
             serial: str | None = None, timeout: float | None = 60.0, backend: Any = None,
             on_event: EventCallback | None = None, **options: Any) -> BoardResult:
    """Boot one board and return its :class:`BoardResult`, metadata records included.

    ``boot_dir``: the directory to serve (None: the installed default firmware);
    ``port_path`` (exact or a glob such as ``"1-3.*"``) and ``serial`` select the board;
    ``timeout``: seconds to wait for it to appear (also bounds each stage, at least 10 s).
    Other keyword arguments are :class:`BootOptions` fields (e.g. ``metadata_dir``).
    Raises the :class:`~rpiboot.errors.RpibootError` of a failed boot (a TimeoutExpired
    when no board appeared).
    """
    fields: dict[str, Any] = {"metadata": True, **options}
    if timeout is not None:
        fields.setdefault("wait_timeout", timeout)
        fields.setdefault("stage_timeout", max(timeout, 10.0))
    opts = BootOptions(boot_dir=Path(boot_dir) if boot_dir is not None else None,
                       port_path=port_path, serial=serial, loop=False, **fields)
    result = serve(opts, backend=backend, on_event=on_event)
    result.raise_for_error()
    if not result.boards:  # stopped before any board ended
        raise RpibootError("no board was booted", hint="The run was stopped early.")
    return result.boards[0]

"""The record flags of every board-serving command (``--db``, ``--station``, the hooks) and
the :class:`~rpiboot.records.recorder.Recorder` they build, checked before any board is
waited for."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rpiboot.errors import UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from rpiboot.events import Event
    from rpiboot.records.hooks import Hook
    from rpiboot.records.recorder import Recorder

log = logging.getLogger("rpiboot")


class Recording:
    """What :func:`recording` yields: the event callback to give the engine; set
    ``interrupted`` when the run was stopped (its open records end as interrupted)."""

    def __init__(self, callback: Callable[[Event], None],
                 recorder: Recorder | None) -> None:
        self.callback = callback
        self.recorder = recorder
        self.interrupted = False


def add_record_flags(parser: argparse.ArgumentParser) -> None:
    """``--db``, ``--no-records``, ``--station`` and the hook flags."""
    group = parser.add_argument_group(
        "records", "every board served is recorded (docs/records.md; 'rpiboot records')")
    group.add_argument("--db", metavar="URL",
                       help="where records go: a SQLite file (default: $RPIBOOT_DB, else "
                       "records.db in the user data folder) or postgresql://user@host/db")
    group.add_argument("--no-records", dest="records", action="store_false",
                       help="do not record the boards served")
    group.add_argument("--station", metavar="NAME",
                       help="this station's name in the records (default: $RPIBOOT_STATION, "
                       "else the host name)")
    from rpiboot.cli.hook_flags import add_hook_flags

    add_hook_flags(parser)


def checked_hooks(args: argparse.Namespace) -> list[Hook]:
    """The hooks the flags ask for (each program checked), in command-line order."""
    from rpiboot.cli.hook_flags import hooks_from_args

    hooks = hooks_from_args(args)
    if hooks and not args.records:
        raise UsageError("the --on-board-* hooks are given the board's record: they cannot "
                         "run with --no-records", hint="Drop --no-records.")
    return hooks


@contextmanager
def recording(args: argparse.Namespace, forward: Callable[[Event], None], *,
              operation: str = "boot", image: str | None = None
              ) -> Iterator[Recording]:
    """The event callback to give the engine: the recorder in front of ``forward`` (or
    ``forward`` alone with --no-records), the boards' metadata shown only when -j asked for
    it (a record, and a flash, always collect it).  On leaving, ends the open records and closes
    the store.  An explicit --db / $RPIBOOT_DB that cannot be opened is an error before any
    board is served; the default file only warns (records are then not kept)."""
    hooks = checked_hooks(args)
    if getattr(args, "metadata_dir", None) is None:  # collected for the record only
        forward = _without_metadata(forward)
    recorder = _open_recorder(args, forward, operation=operation, image=image, hooks=hooks)
    state = Recording(recorder or forward, recorder)
    if recorder is None:
        yield state
        return
    try:
        yield state
    except BaseException:
        state.interrupted = True
        raise
    finally:
        try:
            recorder.close(interrupted=state.interrupted)
        finally:
            recorder.store.close()


def _without_metadata(forward: Callable[[Event], None]) -> Callable[[Event], None]:
    """``forward`` minus the metadata events (shown only when -j asked for them)."""
    from rpiboot.events import MetadataReceived

    def show(event: Event) -> None:
        if not isinstance(event, MetadataReceived):
            forward(event)

    return show


def _open_recorder(args: argparse.Namespace, forward: Callable[[Event], None], *,
                   operation: str, image: str | None, hooks: list[Hook]) -> Recorder | None:
    if not args.records:
        return None
    from rpiboot.errors import RpibootError
    from rpiboot.firmware import user_data_dir
    from rpiboot.fwstore.layout import sets_dir
    from rpiboot.records.recorder import Recorder
    from rpiboot.records.store import open_store

    explicit = args.db or os.environ.get("RPIBOOT_DB")
    try:
        store = open_store(explicit or None)
    except RpibootError as exc:
        if explicit:
            raise
        log.warning("records are not kept: %s (%s)", exc,
                    exc.hint or "use --db FILE, or --no-records")
        return None
    recorder = Recorder(store, operation=operation, station=args.station, hooks=hooks,
                        forward=forward, image=image, sets_root=sets_dir(user_data_dir()))
    recorder.end_orphans_in_background()  # a crashed earlier run's boards: interrupted
    return recorder

"""The file-server stage: answer the second stage's requests until Done (spec section 4)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from rpiboot.errors import BootError, DeviceGone, TimeoutExpired
from rpiboot.events import BoardRef, Event, FileServed, NameRefused
from rpiboot.protocol.messages import (
    FILE_MESSAGE_SIZE,
    MAX_TRANSFER_LENGTH,
    Command,
    FileMessage,
    parse_file_message,
    parse_metadata_record,
)
from rpiboot.protocol.transfer import send_file
from rpiboot.record import record
from rpiboot.sources import FileResolver, FileSource, refusal_reason

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from rpiboot.protocol.link import Link

log = logging.getLogger(__name__)


@record(frozen=False)
class FileServerOutcome:
    """How the stage ended: ``done`` (Done / empty name) or ``gone`` (device rebooted)."""

    ended_by: str
    requests: int


class FileServer:
    """Answers one board's requests from a :class:`FileResolver` over an injected link.

    ``on_metadata(key, value)`` receives each ``*KEY*VALUE`` record the board sends.
    """

    def __init__(self, link: Link, resolver: FileResolver, *, board: BoardRef | None,
                 emit: Callable[[Event], None],
                 on_metadata: Callable[[str, str], None] | None = None,
                 idle_timeout: float | None = None, deadline: float | None = None) -> None:
        self.link = link
        self.resolver = resolver
        self.board = board
        self.emit = emit
        self.on_metadata = on_metadata
        self.idle_timeout = idle_timeout
        self.deadline = deadline
        self.requests = 0

    def run(self) -> FileServerOutcome:
        """Serve until Done, an empty name, or the device going away (its next stage)."""
        while True:
            try:
                message = self._next_message()
            except DeviceGone as exc:
                log.debug("%s: gone after %d requests (%s)", self.link.where, self.requests, exc)
                return FileServerOutcome("gone", self.requests)
            self.requests += 1
            if self._answer(message):
                return FileServerOutcome("done", self.requests)

    def _next_message(self) -> FileMessage:
        """READ(260), retrying while the board NAKs, for at most ``idle_timeout`` (and never
        past ``deadline``)."""
        limits = [t for t in (self.deadline, self.idle_timeout and
                              time.monotonic() + self.idle_timeout) if t]
        until = min(limits) if limits else None
        while True:
            timeout = None
            if until is not None:
                timeout = until - time.monotonic()
                if timeout <= 0:
                    raise TimeoutExpired(
                        f"{self.link.where}: no file request from the board for "
                        f"{self.idle_timeout or 0:g} s (after {self.requests} requests)",
                        hint="The board stopped asking for files; reset it and retry.")
            try:
                data = self.link.read(FILE_MESSAGE_SIZE, timeout=timeout)
            except TimeoutExpired:
                if until is None:
                    raise
                continue
            if len(data) < FILE_MESSAGE_SIZE:
                # A short message is read as if the rest were zeros (the name ends there):
                # the board gets an answer instead of a dead host.
                log.warning("%s: short file-server message (%d of %d bytes)",
                            self.link.where, len(data), FILE_MESSAGE_SIZE)
                data = data.ljust(FILE_MESSAGE_SIZE, b"\0")
            return parse_file_message(data)

    def _answer(self, message: FileMessage) -> bool:
        """Answer one request; True when the stage is over.

        The checks run in the reference's order, so the board sees the same answers: an
        empty name ends the stage (acknowledged, whatever the command), then metadata
        records, then Done (a Done carrying a name is not acknowledged), then files.
        """
        name = message.name_text()
        if not message.name:
            self._acknowledge()
            return True
        if message.is_metadata:
            self._metadata(message)
            return False
        if message.command == Command.DONE:
            return True
        if message.command not in (Command.GET_FILE_SIZE, Command.READ_FILE):
            raise BootError(
                f"{self.link.where}: protocol error: unknown file-server command "
                f"{message.command} (name {name!r})",
                hint="The board's second stage sent garbage; reset the board and retry.")
        source = self._lookup(name)
        if message.command == Command.GET_FILE_SIZE:
            self._answer_size(name, source)
        else:
            self._answer_read(name, source)
        return False

    def _acknowledge(self) -> None:
        try:
            self.link.write(b"")
        except (DeviceGone, TimeoutExpired) as exc:  # the ack is optional
            log.debug("%s: Done not acknowledged: %s", self.link.where, exc)

    def _metadata(self, message: FileMessage) -> None:
        record = parse_metadata_record(message.name)
        if record is not None and self.on_metadata is not None:
            self.on_metadata(*record)
        self.link.write(b"")

    def _lookup(self, name: str) -> FileSource | None:
        reason = refusal_reason(name)
        if reason is not None:
            log.warning("%s: refused file name %r (%s): answered as missing",
                        self.link.where, name, reason)
            self.emit(NameRefused(self.board, name=name, reason=reason))
            return None
        source = self.resolver.resolve(name)
        if source is not None and source.size > MAX_TRANSFER_LENGTH:
            raise BootError(f"{source.label}: {source.size} bytes is too large to serve "
                            "(the protocol carries sizes below 4 GiB)",
                            hint="Shrink the file (e.g. boot.img) below 4 GiB.")
        return source

    def _answer_size(self, name: str, source: FileSource | None) -> None:
        if source is None:
            self.link.write(b"")
        else:
            self.link.send_size(source.size)
        self._served(name, "GetFileSize", source)

    def _answer_read(self, name: str, source: FileSource | None) -> None:
        if source is None:
            self.link.write(b"")
        else:
            send_file(self.link, source, name, self.board, self.emit)
        self._served(name, "ReadFile", source)

    def _served(self, name: str, command: str, source: FileSource | None) -> None:
        log.debug("%s: %s %s -> %s", self.link.where, command, name,
                  source.label if source else "missing")
        self.emit(FileServed(self.board, name=name, command=command,
                             size=None if source is None else source.size,
                             source=None if source is None else source.label))

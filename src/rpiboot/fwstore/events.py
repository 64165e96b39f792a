"""What the firmware store reports while it fetches, imports and verifies.

The library calls one callback (``on_event``) with these objects; the CLI draws a progress
bar from them on a terminal, prints lines otherwise, or one JSON object per line with
``--json`` (``to_json()``: ``{"v": 1, "event": KIND, ...fields}``; :class:`Progress` is
not printed in JSON).  docs/firmware.md lists them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class FwEvent:
    kind: ClassVar[str] = "event"

    def to_json(self) -> dict[str, Any]:
        return {"v": SCHEMA_VERSION, "event": self.kind, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class Planned(FwEvent):
    """What will be installed: ``bytes`` counts the files whose size is known."""

    kind: ClassVar[str] = "plan"
    set: str
    upstream: dict[str, str]  # repository -> commit
    listing: str  # where the blob ids come from ("pinned listing ...", an API URL, ...)
    folders: list[str]
    files: int
    bytes: int
    unknown_sizes: int


@dataclass(frozen=True)
class FolderSkipped(FwEvent):
    """A folder left out: it cannot be completed (e.g. a file missing from an archive)."""

    kind: ClassVar[str] = "skipped"
    folder: str
    reason: str


@dataclass(frozen=True)
class Notice(FwEvent):
    """Something the user should know (a fallback taken, an unverified import)."""

    kind: ClassVar[str] = "warning"
    message: str


@dataclass(frozen=True)
class Downloading(FwEvent):
    """A download starts (``offset`` > 0: resumed from a partial file)."""

    kind: ClassVar[str] = "download"
    path: str
    url: str
    size: int | None
    offset: int = 0


@dataclass(frozen=True)
class Progress(FwEvent):
    """Bytes of one file so far (not in ``--json``)."""

    kind: ClassVar[str] = "progress"
    path: str
    done: int
    total: int | None


@dataclass(frozen=True)
class Retrying(FwEvent):
    """A transient failure: the request is tried again after ``delay`` seconds."""

    kind: ClassVar[str] = "retry"
    url: str
    attempt: int
    delay: float
    reason: str


@dataclass(frozen=True)
class Restarted(FwEvent):
    """A partial download starts over (the server ignored ``Range``, or the bytes of a
    resumed file did not verify)."""

    kind: ClassVar[str] = "restart"
    url: str
    reason: str


@dataclass(frozen=True)
class FileInstalled(FwEvent):
    """One file verified and staged; ``how``: downloaded, copied, reused or linked."""

    kind: ClassVar[str] = "file"
    path: str
    blob: str
    size: int
    how: str
    source: str


@dataclass(frozen=True)
class SetInstalled(FwEvent):
    """The set is installed; ``added``: the folders this run installed (empty: everything
    asked for was installed and intact already)."""

    kind: ClassVar[str] = "installed"
    set: str
    path: str
    folders: list[str]
    verified: bool
    current: bool
    added: list[str]


@dataclass(frozen=True)
class SetVerified(FwEvent):
    """``verify``: one set re-hashed; ``problems``: ``{"path", "problem"}`` objects."""

    kind: ClassVar[str] = "verified"
    set: str
    files: int
    bytes: int
    problems: list[dict[str, str]]


Callback = Callable[[FwEvent], None]


def ignore(_event: FwEvent) -> None:
    """The default callback."""

"""The firmware store on disk, and the ``current`` pointer the boot path reads.

::

    <user data dir>/                  firmware.user_data_dir(): $XDG_DATA_HOME/rpiboot, ...
      current                         the name of the current set and a newline (atomic)
      sets/<usbboot commit>/          one set per upstream commit (40 hex digits)
        manifest.json                 what is in it, where it came from, every blob id
        msd/ mass-storage-gadget64/ recovery/ ...   the payload folders, links resolved
      sets/unverified-<12 hex>/       an import whose files could not be checked upstream
      sets/.staging-<pid>-<nonce>/    being installed (removed by the next command if left)
      downloads/<blob id>.part        partial downloads, resumed by the next fetch
      .lock                           held while a command changes the store

This module is imported on the boot path (to find the current set): stdlib only, and small.
"""

from __future__ import annotations

import re
from pathlib import Path

SETS = "sets"
CURRENT = "current"
DOWNLOADS = "downloads"
MANIFEST = "manifest.json"
LOCK = ".lock"
STAGING_PREFIX = ".staging-"
TRASH_PREFIX = ".trash-"
UNVERIFIED_PREFIX = "unverified-"
SET_NAME = re.compile(r"^(?:[0-9a-f]{40}|unverified-[0-9a-f]{12})$")
MAX_POINTER_BYTES = 256


def valid_set_name(name: str) -> bool:
    """A commit id (40 hex digits) or ``unverified-<12 hex>``: never a path."""
    return SET_NAME.match(name) is not None


def sets_dir(root: Path) -> Path:
    return root / SETS


def set_dir(root: Path, name: str) -> Path:
    """The folder of set ``name`` (ValueError for a name that is not a set name)."""
    if not valid_set_name(name):
        raise ValueError(f"not a firmware set name: {name!r}")
    return root / SETS / name


def read_current(root: Path) -> str | None:
    """The current set's name from ``root/current`` (None: none, or not a set name)."""
    try:
        with open(root / CURRENT, "rb") as handle:
            raw = handle.read(MAX_POINTER_BYTES)
    except OSError:
        return None
    try:
        name = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    return name if valid_set_name(name) else None


def current_set_dir(root: Path) -> Path | None:
    """The current set's folder, if ``current`` names an installed set."""
    name = read_current(root)
    if name is None:
        return None
    folder = root / SETS / name
    return folder if folder.is_dir() else None


"""User-named paths: the project's errors for OS errors on them, checks made before any
work starts, and the names of the temporary files rpiboot writes beside its outputs.

* :func:`path_error` turns an ``OSError`` on a user-named path into the project's error:
  the path, what went wrong, what to do (exit 1; 5 for a permission problem).
* :func:`read_file` reads a user-named input, with that error.
* :func:`check_output_dir` / :func:`check_output_tree` / :func:`check_output_file`: can the
  outputs be written?  Asked before waiting for a board or doing any work.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import sys
from pathlib import Path

from rpiboot.errors import InputError, PermissionDenied, RpibootError

TEMP_SUFFIX = ".rpiboot-tmp"
# ".boot.img.12345.1a2b3c4d.rpiboot-tmp": the target's name, the writer's pid, a nonce
TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}" + re.escape(TEMP_SUFFIX)
                       + "$")


# ------------------------------------------------------------------ errors on user paths
def path_error(path: str | os.PathLike[str], exc: OSError, *, doing: str = "write"
               ) -> RpibootError:
    """The project's error for ``exc`` raised while trying to ``doing`` ``path`` (``doing``
    starting with "read" or "access" words the messages for an input)."""
    where = f"cannot {doing} {os.fspath(path)}"
    code = exc.errno
    reading = doing.startswith(("read", "access"))
    if code in (errno.EACCES, errno.EPERM):
        return PermissionDenied(f"{where}: permission denied", hint=(
            "Check its permissions (ls -l) or run with sufficient privileges." if reading else
            "Choose a folder you can write to, or fix its permissions (ls -ld; chmod/chown), "
            "or run with sufficient privileges."))
    if code == errno.EROFS:
        return InputError(f"{where}: the file system is read-only",
                          hint="Write to a writable folder instead.")
    if code in (errno.ENOSPC, errno.EDQUOT):
        return InputError(f"{where}: no space left on the device (or quota exceeded)",
                          hint="Free some space or choose another folder; nothing was "
                          "left half-written.")
    if code == errno.ENOENT:
        if reading:
            return InputError(f"{where}: no such file or folder", hint="Check the path.")
        return InputError(f"{where}: the folder {_parent(path)} does not exist",
                          hint="Create it first (mkdir -p), or fix the path.")
    if code == errno.ENOTDIR:
        return InputError(f"{where}: a part of the path is a file, not a folder",
                          hint="Fix the path.")
    if code == errno.EISDIR:
        return InputError(f"{where}: it is a folder, not a file",
                          hint="Name a file inside it instead.")
    reason = exc.strerror or str(exc)
    return InputError(f"{where}: {reason}", hint="Check the path and the disk.")


def read_file(path: str | os.PathLike[str], *, what: str = "file") -> bytes:
    """The bytes of a user-named input file; the project's error naming it otherwise."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise path_error(path, exc, doing=f"read the {what}") from None


def _parent(path: str | os.PathLike[str]) -> str:
    parent = os.path.dirname(os.fspath(path))
    return parent or "."


def check_output_dir(path: str | os.PathLike[str], *, what: str = "output folder",
                     create: bool = True) -> Path:
    """Make sure files can be created in ``path`` (created when missing, with ``create``)
    before any work starts; the project's error naming the folder otherwise."""
    folder = Path(path)
    try:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        if not folder.is_dir():
            raise InputError(f"{what} {folder} is not a folder" if folder.exists()
                             else f"{what} {folder} does not exist",
                             hint="Name an existing folder (or one rpiboot may create).")
        _probe(folder)
    except FileExistsError:
        raise InputError(f"{what} {folder} is a file, not a folder",
                         hint="Name a folder instead.") from None
    except OSError as exc:
        raise path_error(folder, exc, doing=f"write into the {what}") from None
    return folder


def check_output_tree(path: str | os.PathLike[str], *, what: str = "output folder") -> None:
    """Make sure files can be written below ``path`` before any work starts, creating
    nothing: it is a writable folder, or its nearest existing ancestor is one."""
    folder = Path(path)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{what} {folder}: {existing} is a file, not a folder",
                         hint="Fix the path.")
    try:
        _probe(existing)
    except OSError as exc:
        raise path_error(folder, exc, doing=f"write into the {what}") from None


def check_output_file(path: str | os.PathLike[str], *, what: str = "output file") -> None:
    """Make sure ``path`` can be written (its folder exists and is writable; it is not a
    folder) before any work starts.  Devices and FIFOs (``-o /dev/null``) are accepted."""
    target = Path(path)
    if target.is_dir():
        raise InputError(f"the {what} {target} is a folder, not a file",
                         hint="Name a file inside it instead.")
    if target.exists() and not target.is_file():
        return  # a device or FIFO: written in place, never renamed over
    try:
        _probe(target.parent if str(target.parent) else Path("."))
    except OSError as exc:
        raise path_error(target, exc, doing=f"write the {what}") from None


def make_dirs(path: str | os.PathLike[str], *, what: str = "output folder") -> Path:
    """``mkdir -p path``; the project's error naming ``path`` when it cannot be made."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(f"cannot create the {what} {folder}: a file is in the way",
                         hint="Fix the path.") from None
    except OSError as exc:
        raise path_error(folder, exc, doing=f"create the {what}") from None
    return folder


def _probe(folder: Path) -> None:
    """Create and remove a temporary file in ``folder`` (OSError when that is impossible)."""
    fd, probe = make_temp(folder, "write-check")
    os.close(fd)
    os.unlink(probe)


# ------------------------------------------------------------------ temporary files
def make_temp(folder: Path, target_name: str) -> tuple[int, str]:
    """Create ``folder/.<target_name>.<pid>.<nonce>.rpiboot-tmp`` (mode 0600, never an
    existing file); its descriptor and path.  :func:`rpiboot.fsutil.recover` knows the name."""
    name = f".{target_name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 0o600)
    return fd, str(path)


def fsync_dir(folder: Path) -> None:
    """Make renames in ``folder`` durable (a no-op where directories cannot be fsynced)."""
    if sys.platform.startswith("win"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder if str(folder) else ".", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

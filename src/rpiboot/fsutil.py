"""Output files that are whole or absent, and clear errors for the paths a user names.

* :func:`atomic_output` / :func:`atomic_write`: one file, written to a temporary file beside
  it, fsynced, then renamed over it; on any failure the temporary file is removed and the
  target is untouched.
* :func:`atomic_files`: several files that belong together (``boot.img`` + ``boot.sig``,
  ``pieeprom.bin`` + ``pieeprom.sig``): all are written to temporary files first; only then
  a small commit journal is written and the files are renamed into place.  If the process
  is killed between two renames, the next rpiboot run that writes into that folder (or
  :func:`recover`) finds the journal and completes the renames, so a pair never stays mixed.
* Temporary files carry the writer's process id; the next run removes those whose process
  is gone (a killed run's leftovers), never those of a run still writing.
* :func:`path_error` turns an ``OSError`` on a user-named path into the project's error:
  the path, what went wrong, what to do (exit 1; 5 for a permission problem).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import stat
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from rpiboot.errors import InputError, PermissionDenied, RpibootError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import BinaryIO

TEMP_SUFFIX = ".rpiboot-tmp"
JOURNAL_SUFFIX = ".rpiboot-commit"
# ".boot.img.12345.1a2b3c4d.rpiboot-tmp": the target's name, the writer's pid, a nonce
_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}" + re.escape(TEMP_SUFFIX)
                        + "$")
STALE_WITHOUT_PID_CHECK_S = 24 * 3600  # where a pid cannot be checked (Windows): by age


# ------------------------------------------------------------------ errors on user paths
def path_error(path: str | os.PathLike[str], exc: OSError, *, doing: str = "write"
               ) -> RpibootError:
    """The project's error for ``exc`` raised while trying to ``doing`` ``path``."""
    where = f"cannot {doing} {os.fspath(path)}"
    code = exc.errno
    if code in (errno.EACCES, errno.EPERM):
        return PermissionDenied(f"{where}: permission denied",
                                hint="Choose a folder you can write to, or fix its "
                                "permissions (ls -ld; chmod/chown), or run with sufficient "
                                "privileges.")
    if code == errno.EROFS:
        return InputError(f"{where}: the file system is read-only",
                          hint="Write to a writable folder instead.")
    if code in (errno.ENOSPC, errno.EDQUOT):
        return InputError(f"{where}: no space left on the device (or quota exceeded)",
                          hint="Free some space or choose another folder; nothing was "
                          "left half-written.")
    if code == errno.ENOENT:
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
        fd, probe = _make_temp(folder, "write-check")
        os.close(fd)
        os.unlink(probe)
    except FileExistsError:
        raise InputError(f"{what} {folder} is a file, not a folder",
                         hint="Name a folder instead.") from None
    except OSError as exc:
        raise path_error(folder, exc, doing=f"write into the {what}") from None
    return folder


def check_output_file(path: str | os.PathLike[str], *, what: str = "output file") -> None:
    """Make sure ``path`` can be written (its folder exists and is writable; it is not a
    folder) before any work starts.  Devices and FIFOs (``-o /dev/null``) are accepted."""
    target = Path(path)
    if target.is_dir():
        raise InputError(f"{what} {target} is a folder, not a file",
                         hint="Name a file inside it instead.")
    if target.exists() and not target.is_file():
        return  # a device or FIFO: written in place, never renamed over
    check_output_dir(target.parent if str(target.parent) else Path("."),
                     what=f"folder of the {what}", create=False)


# ------------------------------------------------------------------ temporary files
def _make_temp(folder: Path, target_name: str) -> tuple[int, str]:
    name = f".{target_name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 0o600)
    return fd, str(path)


def _pid_alive(pid: int) -> bool | None:
    """True/False where the OS can tell (POSIX), None where it cannot."""
    if sys.platform.startswith("win"):
        return None  # os.kill would terminate the process there
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return None
    return True


def _stale(folder: Path, name: str) -> bool:
    match = _TEMP_NAME.match(name)
    if match is None:
        return False
    alive = _pid_alive(int(match.group("pid")))
    if alive is not None:
        return not alive
    try:
        age = time.time() - (folder / name).stat().st_mtime
    except OSError:
        return False
    return age > STALE_WITHOUT_PID_CHECK_S


def recover(folder: str | os.PathLike[str]) -> list[str]:
    """Finish what killed runs left in ``folder``: complete interrupted group commits, then
    remove temporary files whose writer is gone.  Returns what was done, for logs."""
    where = Path(folder) if str(folder) else Path(".")
    done: list[str] = []
    try:
        names = sorted(os.listdir(where))
    except OSError:
        return done
    for name in names:
        if name.endswith(JOURNAL_SUFFIX):
            done += _roll_forward(where / name)
    for name in names:
        if name.endswith(TEMP_SUFFIX) and _stale(where, name):
            with contextlib.suppress(OSError):
                os.unlink(where / name)
                done.append(f"removed {where / name} (left by an interrupted run)")
    return done


# ------------------------------------------------------------------ one file
def _final_mode(target: Path, mode: int | None) -> int:
    if mode is not None:
        return mode
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o644 & ~umask


def _is_special(target: Path) -> bool:
    try:
        return not stat.S_ISREG(os.stat(target).st_mode)
    except OSError:
        return False


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, mode: int | None = None) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path``; on success fsync and rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is untouched.  ``mode``
    sets the permission bits (e.g. 0o600 for private keys); by default an existing file's
    mode is kept, else 0o644 filtered by the umask.  A device or FIFO at ``path`` (such as
    ``/dev/null``) is written in place, never renamed over.  OS errors become the project's
    errors naming ``path``.
    """
    target = Path(path)
    if _is_special(target):
        try:
            with open(target, "wb") as handle:
                yield handle
        except OSError as exc:
            raise path_error(target, exc) from None
        return
    with _staged([target]) as staged:
        yield staged.handles[0]
        staged.commit([mode], journal=False)


def atomic_write(path: str | os.PathLike[str], data: bytes | Iterable[bytes], *,
                 mode: int | None = None) -> None:
    """Write ``data`` (bytes, or an iterable of chunks) to ``path`` atomically."""
    with atomic_output(path, mode=mode) as handle:
        if isinstance(data, (bytes, bytearray, memoryview)):
            handle.write(data)
        else:
            for chunk in data:
                handle.write(chunk)


# ------------------------------------------------------------------ several files, together
@contextlib.contextmanager
def atomic_files(*paths: str | os.PathLike[str], modes: Iterable[int | None] | None = None
                 ) -> Iterator[list[BinaryIO]]:
    """Open one temporary file per path; on success all of them replace their targets
    together (see the module docstring), on failure none does."""
    targets = [Path(p) for p in paths]
    chosen: list[int | None] = list(modes) if modes is not None else [None] * len(targets)
    with _staged(targets) as staged:
        yield staged.handles
        staged.commit(chosen, journal=len(targets) > 1)


class _Staging:
    """Temporary files beside their targets, and the commit that renames them into place."""

    def __init__(self, targets: list[Path]) -> None:
        self.targets = targets
        self.temps: list[Path] = []
        self.handles: list[BinaryIO] = []

    def open(self) -> None:
        for target in self.targets:
            folder = target.parent if str(target.parent) else Path(".")
            recover(folder)
            try:
                fd, name = _make_temp(folder, target.name)
            except OSError as exc:
                raise path_error(target, exc) from None
            self.temps.append(Path(name))
            self.handles.append(os.fdopen(fd, "wb"))

    def commit(self, modes: list[int | None], *, journal: bool) -> None:
        """Flush and fsync every temporary file, then rename each over its target
        (journalled when there are several, so a kill between renames is completed by
        the next run)."""
        pairs = list(zip(self.temps, self.targets, strict=True))
        for handle, (temp, target), mode in zip(self.handles, pairs, modes, strict=True):
            try:
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()
                os.chmod(temp, _final_mode(target, mode))
            except OSError as exc:
                raise path_error(target, exc) from None
        journal_path = _write_journal(pairs) if journal else None
        for temp, target in pairs:
            try:
                os.replace(temp, target)
            except OSError as exc:
                raise path_error(target, exc) from None
        for folder in {target.parent for target in self.targets}:
            _fsync_dir(folder)
        if journal_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(journal_path)

    def discard(self) -> None:
        for handle in self.handles:
            with contextlib.suppress(OSError):
                handle.close()
        for temp in self.temps:
            with contextlib.suppress(OSError):
                os.unlink(temp)


@contextlib.contextmanager
def _staged(targets: list[Path]) -> Iterator[_Staging]:
    """A :class:`_Staging` whose leftovers are removed on every way out (committed temporary
    files no longer exist by then)."""
    staging = _Staging(targets)
    try:
        staging.open()
        try:
            yield staging
        except OSError as exc:
            if exc.filename is None:  # a write to one of our files failed (disk full, ...)
                raise path_error(targets[0], exc) from None
            raise
    finally:
        staging.discard()


def _write_journal(pairs: list[tuple[Path, Path]]) -> Path:
    first = pairs[0][1]
    folder = first.parent if str(first.parent) else Path(".")
    path = folder / f".{first.name}.{os.getpid()}{JOURNAL_SUFFIX}"
    body = {"version": 1, "renames": [[str(t.resolve()), str(f.resolve())] for t, f in pairs]}
    try:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(body, handle)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise path_error(path, exc) from None
    _fsync_dir(folder)
    return path


def _roll_forward(journal: Path) -> list[str]:
    """Complete the renames a killed run's journal lists (each temporary file was complete
    and fsynced before the journal was written).  A journal that is not ours is ignored."""
    try:
        body = json.loads(journal.read_text(encoding="utf-8"))
        renames = [(Path(t), Path(f)) for t, f in body["renames"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    owner = re.search(r"\.(\d+)" + re.escape(JOURNAL_SUFFIX) + "$", journal.name)
    if owner is None or _pid_alive(int(owner.group(1))):
        return []  # not a journal of ours, or its run is still committing
    done = []
    for temp, final in renames:
        match = _TEMP_NAME.match(temp.name)
        if (match is None or match.group("target") != final.name
                or temp.parent != final.parent):
            return []  # never rename anything but our own temporary file onto its target
    for temp, final in renames:
        if temp.exists():
            with contextlib.suppress(OSError):
                os.replace(temp, final)
                done.append(f"completed {final} (its write was interrupted)")
    with contextlib.suppress(OSError):
        os.unlink(journal)
    return done


def _fsync_dir(folder: Path) -> None:
    if sys.platform.startswith("win"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder if str(folder) else ".", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

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
* OS errors become the project's errors naming the user's path (never a temporary file's
  name); :mod:`rpiboot.fspaths` has them and the checks made before any work starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from rpiboot.errors import InputError
from rpiboot.fspaths import (
    TEMP_NAME,
    TEMP_SUFFIX,
    check_output_dir,
    check_output_file,
    check_output_tree,
    fsync_dir,
    make_dirs,
    make_temp,
    path_error,
    read_file,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import BinaryIO

__all__ = ["JOURNAL_SUFFIX", "TEMP_SUFFIX", "atomic_files", "atomic_group", "atomic_output",
           "atomic_write", "check_output_dir", "check_output_file", "check_output_tree",
           "make_dirs", "path_error", "read_file", "recover"]

JOURNAL_SUFFIX = ".rpiboot-commit"
STALE_WITHOUT_PID_CHECK_S = 24 * 3600  # where a pid cannot be checked (Windows): by age


# ------------------------------------------------------------------ temporary files
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
    match = TEMP_NAME.match(name)
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
    with atomic_group(*paths, modes=modes) as group:
        yield group.handles


@contextlib.contextmanager
def atomic_group(*paths: str | os.PathLike[str], modes: Iterable[int | None] | None = None
                 ) -> Iterator[StagedFiles]:
    """:func:`atomic_files`, yielding the :class:`StagedFiles` themselves: for a writer that
    must read a file back before the commit (to sign the image it just wrote)."""
    targets = [Path(p) for p in paths]
    for target in targets:
        if _is_special(target):
            raise InputError(f"cannot write {target} together with "
                             f"{', '.join(str(t) for t in targets if t != target)}: it is "
                             "a device or FIFO, not a file", hint="Name regular files.")
    chosen: list[int | None] = list(modes) if modes is not None else [None] * len(targets)
    with _staged(targets) as staged:
        yield staged
        staged.commit(chosen, journal=len(targets) > 1)


class StagedFiles:
    """Temporary files beside their targets, and the commit that renames them into place.

    ``handles[i]`` writes ``temps[i]``, which becomes ``targets[i]`` at the commit.
    """

    def __init__(self, targets: list[Path]) -> None:
        self.targets = targets
        self.temps: list[Path] = []
        self.handles: list[BinaryIO] = []

    def open(self) -> None:
        for target in self.targets:
            folder = target.parent if str(target.parent) else Path(".")
            recover(folder)
            try:
                fd, name = make_temp(folder, target.name)
            except OSError as exc:
                raise path_error(target, exc) from None
            self.temps.append(Path(name))
            self.handles.append(os.fdopen(fd, "wb"))

    def flush(self) -> None:
        """Flush every handle to its temporary file (to read it back before the commit)."""
        for handle, target in zip(self.handles, self.targets, strict=True):
            try:
                handle.flush()
            except OSError as exc:
                raise path_error(target, exc) from None

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
        try:
            _rename_all(pairs)
        except KeyboardInterrupt:
            _drop_journal(journal_path)  # the group was finished before stopping
            raise
        for folder in {target.parent for target in self.targets}:
            fsync_dir(folder)
        _drop_journal(journal_path)

    def discard(self) -> None:
        for handle in self.handles:
            with contextlib.suppress(OSError):
                handle.close()
        for temp in self.temps:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def _drop_journal(journal: Path | None) -> None:
    if journal is not None:
        with contextlib.suppress(OSError):
            os.unlink(journal)


def _rename_all(pairs: list[tuple[Path, Path]]) -> None:
    """Rename each temporary file over its target.  Ctrl-C or SIGTERM (KeyboardInterrupt)
    between two renames finishes the group first: every file is complete by then, and
    stopping half-way would leave a pair that does not belong together."""
    done = 0
    try:
        for temp, target in pairs:
            try:
                os.replace(temp, target)
            except OSError as exc:
                raise path_error(target, exc) from None
            done += 1
    except KeyboardInterrupt:
        for temp, target in pairs[done:]:
            with contextlib.suppress(OSError):
                os.replace(temp, target)
        raise


@contextlib.contextmanager
def _staged(targets: list[Path]) -> Iterator[StagedFiles]:
    """:class:`StagedFiles` whose leftovers are removed on every way out (committed temporary
    files no longer exist by then)."""
    staging = StagedFiles(targets)
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
    except BaseException as exc:  # no rename has happened yet: no journal is needed
        with contextlib.suppress(OSError):
            os.unlink(path)
        if isinstance(exc, OSError):
            raise path_error(first, exc) from None
        raise
    fsync_dir(folder)
    return path


def _roll_forward(journal: Path) -> list[str]:
    """Complete the renames a killed run's journal lists (each temporary file was complete
    and fsynced before the journal was written).  A journal that is not ours is ignored."""
    owner = re.search(r"\.(\d+)" + re.escape(JOURNAL_SUFFIX) + "$", journal.name)
    if owner is None or _pid_alive(int(owner.group(1))):
        return []  # not a journal of ours, or its run is still committing
    try:
        body = json.loads(journal.read_text(encoding="utf-8"))
        renames = [(Path(t), Path(f)) for t, f in body["renames"]]
    except (ValueError, KeyError, TypeError):  # cut short while being written: no rename
        with contextlib.suppress(OSError):     # happened, so there is nothing to complete
            os.unlink(journal)
        return []
    except OSError:
        return []
    done = []
    for temp, final in renames:
        match = TEMP_NAME.match(temp.name)
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



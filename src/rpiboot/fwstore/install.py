"""Install a planned set atomically: stage, verify, rename into place, switch ``current``.

Every file is written into a staging folder beside ``sets/`` and checked against its git
blob id (by its source) before anything moves.  Only when the whole set is staged is it
renamed to ``sets/<name>`` (a new set), or each of its new folders renamed into the
existing set (adding folders to an installed commit); then ``current`` is rewritten
atomically.  A failure or Ctrl-C removes the staging folder; a killed run's staging folder
is removed by the next command that takes the store's lock.  The set that was current
stays current and usable throughout.

A file whose blob is already staged in the same set is hard-linked (as upstream's symbolic
links share one file); one found, re-verified, in another installed set is copied instead of
downloaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rpiboot.errors import InputError
from rpiboot.fsutil import atomic_write, make_dirs, path_error
from rpiboot.fwstore import events as ev
from rpiboot.fwstore import layout
from rpiboot.fwstore.listing import blob_hasher
from rpiboot.fwstore.manifest import (
    Manifest,
    ManifestError,
    ManifestFile,
    read_manifest,
    write_manifest,
)
from rpiboot.fwstore.resolve import Plan, PlannedFile

CHUNK = 1 << 20
FILE_MODE = 0o444  # installed files are read-only: copy a folder to change it


@dataclass(frozen=True)
class Provided:
    """What a source wrote for one file: its blob id and size, how, from where."""

    blob: str
    size: int
    how: str
    origin: str
    source: str  # URL or path, for the event


class BlobSource(Protocol):
    """Where a plan's bytes come from (HTTP, a checkout, an archive)."""

    def provide(self, item: PlannedFile, dest: Path) -> Provided:
        """Write ``item``'s bytes to ``dest``, checked against ``item.blob`` when known."""
        ...

    def sort_key(self, item: PlannedFile) -> int:
        """Order in which files are best read (archive offset; 0 when it does not matter)."""
        ...

    def origin(self, item: PlannedFile) -> str:
        """Where ``item`` comes from, for the manifest (``raspberrypi/usbboot:msd/x``)."""
        ...


def hash_file(path: Path) -> tuple[str, int]:
    """(git blob id, size) of a file, read in chunks."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        hasher = blob_hasher(size)
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        read = 0
        while n := handle.readinto(buffer):
            hasher.update(view[:n])
            read += n
    return hasher.hexdigest(), read  # a file that changed while read gets a wrong id


class Store:
    """The store at ``root``; ``with Store(root) as store:`` holds its lock and removes what
    killed runs left (staging and trash folders)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sets = layout.sets_dir(root)
        self.downloads = root / layout.DOWNLOADS
        self._lock_fd: int | None = None

    def __enter__(self) -> Store:
        for folder in (self.root, self.sets, self.downloads):
            make_dirs(folder, what="firmware folder")
        self._lock()
        for leftover in self.sets.iterdir():
            if leftover.name.startswith((layout.STAGING_PREFIX, layout.TRASH_PREFIX)):
                remove_tree(leftover)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases flock / msvcrt locks
            self._lock_fd = None

    def _lock(self) -> None:
        path = self.root / layout.LOCK
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise path_error(path, exc) from None
        try:
            if sys.platform == "win32":
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise InputError(f"another rpiboot firmware command is changing {self.root}",
                             hint="Wait for it to finish, then try again.") from None
        self._lock_fd = fd

    def temp_dir(self, prefix: str) -> Path:
        folder = self.sets / f"{prefix}{os.getpid()}-{secrets.token_hex(4)}"
        folder.mkdir()
        return folder

    def installed(self) -> list[str]:
        """Names of the installed sets."""
        return sorted(p.name for p in self.sets.iterdir()
                      if layout.valid_set_name(p.name) and p.is_dir())

    def reusable(self, exclude: str) -> dict[str, Path]:
        """blob id -> an installed file with it (other sets; re-verified before use)."""
        found: dict[str, Path] = {}
        for name in self.installed():
            if name == exclude:
                continue
            with contextlib.suppress(ManifestError):
                for path, info in read_manifest(self.sets / name).files.items():
                    found.setdefault(info.blob, self.sets / name / path)
        return found

    def switch(self, name: str) -> None:
        """Make set ``name`` current (atomically)."""
        atomic_write(self.root / layout.CURRENT, f"{name}\n".encode("ascii"), mode=0o644)


def remove_tree(folder: Path) -> None:
    """``rm -rf``, read-only files included (Windows refuses to delete them otherwise)."""
    def retry(_func: object, path: str, _exc: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(path, stat.S_IWRITE | stat.S_IREAD)
            os.unlink(path)

    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=retry)
    else:
        shutil.rmtree(folder, onerror=retry)
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)


def folder_intact(set_dir: Path, manifest: Manifest, folder: str,
                  files: list[PlannedFile]) -> bool:
    """Whether ``folder`` of an installed set is exactly ``files`` and verifies on disk."""
    recorded = {p: f for p, f in manifest.files.items() if p.split("/", 1)[0] == folder}
    if folder not in manifest.folders or set(recorded) != {f.dest for f in files}:
        return False
    for item in files:
        info = recorded[item.dest]
        if item.blob is not None and item.blob != info.blob:
            return False
        try:
            if hash_file(set_dir / item.dest) != (info.blob, info.size):
                return False
        except OSError:
            return False
    return True


class Installer:
    """Stages the files of a plan and commits them (see the module docstring)."""

    def __init__(self, store: Store, plan: Plan, source: BlobSource, manifest: Manifest,
                 on_event: ev.Callback = ev.ignore) -> None:
        self.store = store
        self.plan = plan
        self.source = source
        self.manifest = manifest  # name, origin and verification filled in; files added
        self.on_event = on_event

    def run(self, *, switch: bool = True) -> Manifest:
        """Install (or complete) the set and, with ``switch``, make it current.  A manifest
        without a set name is an unverified import: it is named after its content."""
        if not self.manifest.set:
            return self._run_unnamed(switch=switch)
        target = self.store.sets / self.manifest.set
        existing = self._existing(target)
        todo = [f for f in self.plan.folders
                if existing is None or not folder_intact(target, existing, f,
                                                        self.plan.of_folder(f))]
        if todo:
            stage = self.store.temp_dir(layout.STAGING_PREFIX)
            try:
                self._stage(stage, todo)
                self.manifest = self._merged(existing, todo)
                self._commit(stage, target, todo, existing is not None)
            finally:
                remove_tree(stage)
        else:
            assert existing is not None
            self.manifest = existing
        self._finish(target, todo, switch=switch)
        return self.manifest

    def _finish(self, target: Path, added: list[str], *, switch: bool) -> None:
        if switch:
            self.store.switch(self.manifest.set)
        self.on_event(ev.SetInstalled(self.manifest.set, str(target), self.manifest.folders,
                                      self.manifest.verified, switch, added))

    def _run_unnamed(self, *, switch: bool) -> Manifest:
        stage = self.store.temp_dir(layout.STAGING_PREFIX)
        try:
            self._stage(stage, self.plan.folders)
            self.manifest.set = content_name(self.manifest)
            self.manifest.folders = list(self.plan.folders)
            target = self.store.sets / self.manifest.set
            added: list[str] = []
            if target.is_dir():  # the same content is installed already
                with contextlib.suppress(ManifestError):
                    self.manifest = read_manifest(target)
            else:
                self._commit(stage, target, self.plan.folders, False)
                added = list(self.plan.folders)
        finally:
            remove_tree(stage)
        self._finish(target, added, switch=switch)
        return self.manifest

    def _existing(self, target: Path) -> Manifest | None:
        if not target.is_dir():
            return None
        try:
            found = read_manifest(target)
        except ManifestError:
            return Manifest(self.manifest.set, {}, False, "", "")  # re-install every folder
        if found.verified != self.manifest.verified:
            return Manifest(self.manifest.set, {}, False, "", "")
        return found

    def _stage(self, stage: Path, todo: list[str]) -> None:
        staged: dict[str, tuple[Path, str]] = {}
        reusable = self.store.reusable(exclude=self.manifest.set)
        items = [f for folder in todo for f in self.plan.of_folder(folder)]
        for item in sorted(items, key=self.source.sort_key):
            dest = stage / item.dest
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                provided = self._provide(item, dest, staged, reusable)
                os.chmod(dest, FILE_MODE)
            except OSError as exc:  # the disk filled up, ...: name where it was going
                raise path_error(self.store.sets / (self.manifest.set or "new set") / item.dest,
                                 exc) from None
            staged.setdefault(provided.blob, (dest, item.dest))
            self.manifest.files[item.dest] = ManifestFile(provided.blob, provided.size,
                                                          provided.origin)
            self.on_event(ev.FileInstalled(item.dest, provided.blob, provided.size,
                                           provided.how, provided.source))

    def _provide(self, item: PlannedFile, dest: Path, staged: dict[str, tuple[Path, str]],
                 reusable: dict[str, Path]) -> Provided:
        origin = self.source.origin(item)
        if item.blob is not None and item.blob in staged:
            first, name = staged[item.blob]
            _link_or_copy(first, dest)
            return Provided(item.blob, os.stat(dest).st_size, "linked", origin, name)
        if item.blob is not None and item.blob in reusable:
            candidate = reusable[item.blob]
            with contextlib.suppress(OSError):
                if hash_file(candidate)[0] == item.blob:
                    shutil.copyfile(candidate, dest)
                    if hash_file(dest)[0] == item.blob:
                        return Provided(item.blob, os.stat(dest).st_size, "reused", origin,
                                        str(candidate))
        return self.source.provide(item, dest)

    def _merged(self, existing: Manifest | None, todo: list[str]) -> Manifest:
        merged = self.manifest
        if existing is not None:
            keep = [f for f in existing.folders if f not in todo]
            merged.files.update({p: f for p, f in existing.files.items()
                                 if p.split("/", 1)[0] in keep})
            merged.folders = keep + [f for f in todo if f not in keep]
        else:
            merged.folders = list(todo)
        return merged

    def _commit(self, stage: Path, target: Path, todo: list[str], exists: bool) -> None:
        if not exists:
            write_manifest(stage, self.manifest)
            try:
                os.replace(stage, target)
            except OSError as exc:
                raise path_error(target, exc) from None
            return
        trash = self.store.temp_dir(layout.TRASH_PREFIX)
        try:
            for folder in todo:
                if (target / folder).exists():
                    os.replace(target / folder, trash / folder)
                os.replace(stage / folder, target / folder)
            write_manifest(target, self.manifest)
        finally:
            remove_tree(trash)


def content_name(manifest: Manifest) -> str:
    """``unverified-<12 hex>``: a name derived from the files and their blob ids."""
    lines = "".join(f"{path} {f.blob}\n" for path, f in sorted(manifest.files.items()))
    digest = hashlib.sha256(lines.encode("utf-8")).hexdigest()[:12]
    return f"{layout.UNVERIFIED_PREFIX}{digest}"


def _link_or_copy(source: Path, dest: Path) -> None:
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)

"""The source side of an image: a directory tree read once, sorted, checked for FAT."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rpiboot.bootimg.names import same_name_key, validate_name
from rpiboot.errors import InputError


@dataclass
class SourceFile:
    name: str
    path: Path
    size: int
    mtime: float


@dataclass
class SourceDir:
    name: str
    path: Path
    mtime: float
    children: list[SourceFile | SourceDir] = field(default_factory=list)

    def walk(self, prefix: str = "") -> list[tuple[str, SourceFile | SourceDir]]:
        """Every node below this one with its '/'-joined relative path, in stored order."""
        out: list[tuple[str, SourceFile | SourceDir]] = []
        for child in self.children:
            rel = f"{prefix}{child.name}"
            out.append((rel, child))
            if isinstance(child, SourceDir):
                out.extend(child.walk(rel + "/"))
        return out


# keep(relative_path, is_dir) -> whether to include the entry
EntryFilter = Callable[[str, bool], bool]
_OUR_TEMP_FILES = (".rpiboot-tmp", ".rpiboot-commit")  # rpiboot.fsutil's suffixes


def without_outputs(root: str | os.PathLike[str], outputs: Iterable[str | os.PathLike[str]],
                    keep: EntryFilter | None = None) -> EntryFilter:
    """``keep``, minus the command's own outputs when they lie inside ``root`` and rpiboot's
    temporary files beside them: an image is never packed into itself (the reference
    deletes its output before it copies the source)."""
    root_path = os.path.abspath(root)
    targets = {os.path.abspath(path) for path in outputs}
    folders = {os.path.dirname(target) for target in targets}

    def keep_entry(rel_path: str, is_dir: bool) -> bool:
        full = os.path.join(root_path, *rel_path.split("/"))
        if full in targets or (os.path.dirname(full) in folders
                               and full.endswith(_OUR_TEMP_FILES)):
            return False
        return keep is None or keep(rel_path, is_dir)

    return keep_entry


def scan_tree(root: str | os.PathLike[str], keep: EntryFilter | None = None) -> SourceDir:
    """Read ``root`` recursively (following symlinks), sorted by name.

    Raises InputError for a missing directory, special files, symlink loops, names FAT
    cannot store and names that differ only in case.
    """
    root_path = Path(root)
    try:
        info = root_path.stat()
    except OSError as err:
        raise InputError(f"{root_path}: cannot read source directory: {err.strerror}",
                         hint="give an existing directory with -d/--source") from None
    if not stat.S_ISDIR(info.st_mode):
        raise InputError(f"{root_path}: not a directory", hint="give the boot files' folder")
    return _scan_dir(root_path, "", info, keep, {(info.st_dev, info.st_ino)})


def _scan_dir(path: Path, rel: str, info: os.stat_result, keep: EntryFilter | None,
              ancestors: set[tuple[int, int]]) -> SourceDir:
    node = SourceDir(name=path.name, path=path, mtime=info.st_mtime)
    try:
        names = sorted(os.listdir(path))
    except OSError as err:
        raise InputError(f"{path}: cannot list directory: {err.strerror}") from None
    seen: dict[str, str] = {}
    for name in names:
        child_rel = f"{rel}{name}"
        child_path = path / name
        try:
            child_info = child_path.stat()
        except OSError as err:
            raise InputError(f"{child_path}: cannot read: {err.strerror}",
                             hint="a dangling symlink? remove it or fix its target") from None
        is_dir = stat.S_ISDIR(child_info.st_mode)
        if keep is not None and not keep(child_rel, is_dir):
            continue
        validate_name(name, str(child_path))
        key = same_name_key(name)
        if key in seen:
            raise InputError(
                f"{path}: {seen[key]!r} and {name!r} differ only in case; FAT cannot hold both",
                hint="rename or remove one of them")
        seen[key] = name
        if is_dir:
            ident = (child_info.st_dev, child_info.st_ino)
            if ident in ancestors:
                raise InputError(f"{child_path}: symlink loop", hint="remove the looping link")
            node.children.append(_scan_dir(child_path, child_rel + "/", child_info, keep,
                                           ancestors | {ident}))
        elif stat.S_ISREG(child_info.st_mode):
            node.children.append(SourceFile(name, child_path, child_info.st_size,
                                            child_info.st_mtime))
        else:
            raise InputError(f"{child_path}: not a regular file or directory",
                             hint="FAT images hold only files and folders; remove it")
    return node

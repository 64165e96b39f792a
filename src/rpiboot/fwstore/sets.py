"""The installed sets: list them, re-verify them, choose the current one, remove one."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rpiboot.errors import InputError
from rpiboot.fwstore import events as ev
from rpiboot.fwstore import layout
from rpiboot.fwstore.install import Store, hash_file, remove_tree
from rpiboot.fwstore.manifest import Manifest, ManifestError, read_manifest


@dataclass
class SetInfo:
    """One installed set: its manifest, or why it cannot be read."""

    name: str
    path: Path
    current: bool
    manifest: Manifest | None
    problem: str | None = None


def list_sets(root: Path) -> list[SetInfo]:
    """Every set under ``root`` (newest installation first)."""
    folder = layout.sets_dir(root)
    try:
        names = sorted(p.name for p in folder.iterdir()
                       if layout.valid_set_name(p.name) and p.is_dir())
    except OSError:
        return []
    current = layout.read_current(root)
    found = []
    for name in names:
        try:
            found.append(SetInfo(name, folder / name, name == current,
                                 read_manifest(folder / name)))
        except ManifestError as err:
            found.append(SetInfo(name, folder / name, name == current, None, err.message))
    return sorted(found, key=lambda s: s.manifest.installed_at if s.manifest else "",
                  reverse=True)


def find_set(root: Path, text: str) -> str:
    """The installed set ``text`` names: a full name or an unambiguous prefix (4+ chars)."""
    names = [s.name for s in list_sets(root)]
    wanted = text.strip().lower()
    matches = [n for n in names if n == wanted] or (
        [n for n in names if n.startswith(wanted)] if len(wanted) >= 4 else [])
    if len(matches) == 1:
        return matches[0]
    listed = ", ".join(n[:12] for n in names) or "none"
    if not matches:
        raise InputError(f"no installed firmware set is {text!r} (installed: {listed})",
                         hint="See 'rpiboot firmware list'; fetch or import it first.")
    raise InputError(f"{text!r} names several sets: {', '.join(matches)}",
                     hint="Give more digits of the commit.")


def verify_set(root: Path, name: str, on_event: ev.Callback = ev.ignore
               ) -> list[dict[str, str]]:
    """Re-hash every file of set ``name`` against its manifest; the problems found."""
    folder = layout.set_dir(root, name)
    try:
        manifest = read_manifest(folder)
    except ManifestError as err:
        problems = [{"path": layout.MANIFEST, "problem": err.message}]
        on_event(ev.SetVerified(name, 0, 0, problems))
        return problems
    problems = []
    total = 0
    for path, info in sorted(manifest.files.items()):
        problem = _file_problem(folder / path, info.blob, info.size)
        total += info.size
        if problem is not None:
            problems.append({"path": path, "problem": problem})
    problems += [{"path": f, "problem": "folder missing"} for f in manifest.folders
                 if not (folder / f).is_dir()]
    on_event(ev.SetVerified(name, len(manifest.files), total, problems))
    return problems


def _file_problem(path: Path, blob: str, size: int) -> str | None:
    try:
        if not path.is_file() or path.is_symlink():
            return "missing" if not os.path.lexists(path) else "not a regular file"
        got, got_size = hash_file(path)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if got != blob:
        return (f"changed: git blob {got[:12]}… ({got_size} bytes), installed as "
                f"{blob[:12]}… ({size} bytes)")
    return None


def use_set(root: Path, text: str) -> str:
    """Make the set ``text`` names current; its name."""
    name = find_set(root, text)
    read_manifest(layout.set_dir(root, name))  # a damaged set is not made current
    with Store(root) as store:
        store.switch(name)
    return name


def remove_set(root: Path, text: str, *, force: bool = False) -> str:
    """Remove the set ``text`` names (the current one only with ``force``); its name."""
    name = find_set(root, text)
    with Store(root) as store:
        if layout.read_current(root) == name:
            if not force:
                raise InputError(f"{name[:12]} is the current firmware set",
                                 hint="Make another set current first ('rpiboot firmware use"
                                 " SET'), or pass --force to remove it anyway.")
            os.unlink(root / layout.CURRENT)
        trash = store.temp_dir(layout.TRASH_PREFIX)
        os.replace(layout.set_dir(root, name), trash / name)
        remove_tree(trash)
    return name


def current_folder(root: Path, folder: str | None = None) -> Path:
    """The current set's folder (or one of its payload folders)."""
    current = layout.current_set_dir(root)
    if current is None:
        raise InputError(f"no current firmware set in {root}",
                         hint="Run 'rpiboot firmware fetch' (or 'rpiboot firmware import "
                         "PATH' offline).")
    if folder is None:
        return current
    if "/" in folder or not (current / folder).is_dir():
        raise InputError(f"the current firmware set has no folder {folder!r}",
                         hint="See 'rpiboot firmware list' for its folders; fetch it with "
                         f"'rpiboot firmware fetch --only {folder}'.")
    return current / folder

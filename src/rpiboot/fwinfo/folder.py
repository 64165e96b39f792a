"""A boot folder: every file in it described, the per-chip sub-folders (``2711/`` ...) too,
then a verdict (:mod:`rpiboot.fwinfo.verdict`).

Files are described in name order, at most ``limits.entries``; symbolic links are followed
(usbboot's folders are made of them) and a broken one is reported.  Other sub-folders are
listed, not entered.  Devices and FIFOs are reported, never opened.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from rpiboot.errors import RpibootError
from rpiboot.fwinfo import chipsets
from rpiboot.fwinfo.blob import Context, read_blob
from rpiboot.fwinfo.model import DIRECTORY, ERROR, UNKNOWN, FirmwareInfo


def _listing(folder: Path) -> list[os.DirEntry[str]]:
    from rpiboot.fspaths import path_error

    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError as exc:
        raise path_error(folder, exc, doing="read") from None


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _describe_file(path: Path, ctx: Context, prefix: str | None) -> FirmwareInfo:
    try:
        blob = read_blob(path, ctx.limits)
    except RpibootError as err:  # missing (broken link), not a regular file, no permission
        info = FirmwareInfo(path=str(path), name=path.name, kind=UNKNOWN,
                            role="could not be read", error=err.message)
        info.problem(ERROR, err.message, err.hint or "Fix or remove the file.")
        return info
    assert ctx.describe is not None
    return ctx.describe(replace(blob, prefix=prefix), ctx)


def _describe_files(folder: Path, ctx: Context, prefix: str | None,
                    info: FirmwareInfo) -> None:
    """Describe the files of ``folder`` into ``info.members`` (sub-folders listed)."""
    entries = _listing(folder)
    if len(entries) > ctx.limits.entries:
        info.notes.append(f"only the first {ctx.limits.entries} of {len(entries)} entries "
                          "are described")
    for entry in entries[:ctx.limits.entries]:
        path = Path(entry.path)
        if not _is_dir(entry):
            info.members.append(_describe_file(path, ctx, prefix))
        elif prefix is None and entry.name in chipsets.prefixes():
            sub = FirmwareInfo(path=str(path), name=entry.name, kind=DIRECTORY,
                               role=f"per-chip folder: served to "
                               f"{chipsets.text(chipsets.families(chipsets.for_prefix(entry.name)))}")
            try:
                _describe_files(path, ctx, entry.name, sub)
            except RpibootError as err:
                sub.error = err.message
                sub.problem(ERROR, err.message, err.hint or "Fix the folder's permissions.")
            info.members.append(sub)
        else:
            info.members.append(FirmwareInfo(path=str(path), name=entry.name, kind=DIRECTORY,
                                             role="sub-folder (not described here)"))


def describe_folder(folder: Path, ctx: Context) -> FirmwareInfo:
    """Every file of ``folder`` and what the folder as a whole is for."""
    from rpiboot.fwinfo.verdict import judge

    name = folder.resolve().name or str(folder)
    info = FirmwareInfo(path=str(folder), name=name, kind=DIRECTORY, role="boot folder")
    _describe_files(folder, ctx, None, info)
    judge(info, name)
    return info

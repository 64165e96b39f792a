"""bootfiles.bin: the tar of per-chip folders (``2711/``, ``2712/``) rpiboot serves files
from.  Its headers are read with the bounded reader :mod:`rpiboot.tarreader`; each member is
read (up to ``limits.member`` bytes) and described like a file, its chip being the folder it
is in: rpiboot serves ``PREFIX/NAME`` only to the chips of that prefix.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

from rpiboot.errors import InputError
from rpiboot.fwinfo import chipsets
from rpiboot.fwinfo.blob import Blob, Context, blob_from_bytes, new_info, open_regular
from rpiboot.fwinfo.model import (
    BASIS_CHIP_FOLDER,
    BOOTFILES_ARCHIVE,
    ERROR,
    SECOND_STAGE,
    UNKNOWN,
    WARNING,
    FirmwareInfo,
)

MAX_HEADERS = 4096  # member headers walked


def describe_bootfiles(blob: Blob, ctx: Context) -> FirmwareInfo:
    """A bootfiles.bin (raises InputError for a damaged archive)."""
    from rpiboot.tarreader import iter_members

    info = new_info(blob, BOOTFILES_ARCHIVE, "bootfiles.bin: per-chip boot files rpiboot serves")
    handle: BinaryIO  # a member of an archive or image is always read whole
    handle = os.fdopen(open_regular(blob.path), "rb") if blob.path is not None \
        else io.BytesIO(blob.head)
    with handle:
        size = os.fstat(handle.fileno()).st_size if blob.path is not None else blob.size
        members = []
        for member in iter_members(handle, size, blob.label):
            members.append(member)
            if len(members) >= MAX_HEADERS:
                info.notes.append(f"only the first {MAX_HEADERS} members were read")
                break
        files = [m for m in members if m.is_file]
        by_prefix = _by_prefix(info, [m.name for m in files])
        if ctx.depth == 0:
            info.members = [_member(handle, m.name, m.offset, m.size, blob, ctx)
                            for m in files[:ctx.limits.members]]
            if len(files) > ctx.limits.members:
                info.notes.append(f"only the first {ctx.limits.members} members are described")
    info.details = {"member_count": len(files),
                    "chips": {prefix: chipsets.families(chipsets.for_prefix(prefix))
                              for prefix in by_prefix},
                    "files": {prefix: names for prefix, names in by_prefix.items()}}
    info.chips = chipsets.families(c for p in by_prefix for c in chipsets.for_prefix(p))
    info.chip_basis = BASIS_CHIP_FOLDER if info.chips else None
    _check_second_stages(info, by_prefix)
    return info


def _by_prefix(info: FirmwareInfo, names: list[str]) -> dict[str, list[str]]:
    """Member names by per-chip folder; members outside those folders are never served."""
    known = set(chipsets.prefixes())
    found: dict[str, list[str]] = {}
    stray: list[str] = []
    for name in names:
        prefix, slash, rest = name.lstrip("./").partition("/")
        if slash and prefix in known and rest:
            found.setdefault(prefix, []).append(rest)
        else:
            stray.append(name)
    if stray:
        shown = ", ".join(stray[:5]) + (" ..." if len(stray) > 5 else "")
        info.problem(WARNING, f"{len(stray)} member(s) outside the per-chip folders are never "
                     f"served: {shown}", "rpiboot serves PREFIX/NAME (2710/, 2711/, 2712/); "
                     "move them into the folder of their chip.")
    return found


def _check_second_stages(info: FirmwareInfo, by_prefix: dict[str, list[str]]) -> None:
    for prefix, names in by_prefix.items():
        for chip in chipsets.for_prefix(prefix):
            if chip.second_stage not in {n.lower() for n in names}:
                info.notes.append(f"{prefix}/ has no {chip.second_stage}: a {chip.family} board "
                                  "gets its second stage from the folder, not from here")
    for member in info.members:
        if member.kind != SECOND_STAGE and member.name.lower().startswith("bootcode"):
            info.problem(ERROR, f"{member.path} is not a second stage ({member.kind})",
                         "Put the chip's bootcode*.bin from rpi-eeprom / usbboot there.")


def _member(handle: BinaryIO, name: str, offset: int, size: int, blob: Blob,
            ctx: Context) -> FirmwareInfo:
    """One member, read whole when it is not larger than ``limits.member``."""
    label = f"{blob.label}:{name}"
    prefix, slash, _ = name.lstrip("./").partition("/")
    chip_prefix = prefix if slash and prefix in chipsets.prefixes() else None
    if size > ctx.limits.member:
        return FirmwareInfo(path=label, name=name, kind=UNKNOWN, size=size,
                            role="not read: larger than the member limit")
    try:
        handle.seek(offset)
        data = handle.read(size)
    except OSError as err:
        raise InputError(f"{blob.label}: cannot read member {name!r} at offset {offset}: "
                         f"{err}") from None
    return ctx.describe_member(blob_from_bytes(name, label, data, prefix=chip_prefix))

"""Looking inside an image without mounting it: geometry summary, listing, safe extraction."""

from __future__ import annotations

import calendar
import os
import stat
from pathlib import Path
from typing import Any

from rpiboot.bootimg.reader import FatEntry, FatImage
from rpiboot.errors import InputError
from rpiboot.fsutil import atomic_output, make_dirs, path_error

_UNSAFE_CHARS = ("/", "\\", "\x00")


def image_info(image: FatImage) -> dict[str, Any]:
    """Geometry and identity of an image, as plain data (the ``info --json`` payload)."""
    g = image.geometry
    used = sum(1 for c in range(2, g.clusters + 2) if image.fat_entry(c) != 0)
    return {
        "fat_type": g.fat_type, "oem": image.oem, "label": image.volume_label(),
        "volume_id": f"{image.volume_id:08X}", "partition_offset": image.offset,
        "sector_size": g.sector_size, "sectors_per_cluster": g.sectors_per_cluster,
        "cluster_size": g.cluster_size, "total_sectors": g.total_sectors,
        "image_bytes": g.image_bytes, "reserved_sectors": g.reserved_sectors,
        "fats": g.num_fats, "fat_sectors": g.fat_sectors,
        "root_entries": g.root_entries if g.fat_type != 32 else None,
        "root_dir_sector": g.root_start if g.fat_type != 32 else None,
        "data_sector": g.data_start, "clusters": g.clusters, "clusters_used": used,
        "clusters_free": g.clusters - used, "media": f"0x{g.media:02X}",
        "drive_number": f"0x{g.drive_number:02X}", "heads": g.heads,
        "sectors_per_track": g.sectors_per_track, "hidden_sectors": g.hidden_sectors,
    }


def entry_info(entry: FatEntry) -> dict[str, Any]:
    return {"path": entry.path, "type": "dir" if entry.is_dir else "file", "size": entry.size,
            "mtime": entry.mtime.isoformat() if entry.mtime else None,
            "short_name": entry.short_name, "first_cluster": entry.first_cluster}


def _check_component(name: str, image_name: str) -> None:
    if name in ("", ".", "..") or any(ch in name for ch in _UNSAFE_CHARS):
        raise InputError(f"{image_name}: refusing to extract {name!r}: the name would escape"
                         " the destination or is not a valid file name",
                         hint="the image is damaged or crafted; inspect it with `list`")


def _safe_target(dest: Path, parts: tuple[str, ...], image_name: str) -> Path:
    """``dest/parts...`` after checking no component escapes or passes through a symlink."""
    target = dest
    for part in parts:
        _check_component(part, image_name)
        target = target / part
        try:
            if stat.S_ISLNK(os.lstat(target).st_mode):
                raise InputError(f"{target}: is a symlink; refusing to extract through it",
                                 hint="extract into an empty directory")
        except FileNotFoundError:
            pass
    return target


def select_entries(image: FatImage, paths: list[str] | None) -> list[FatEntry]:
    """All entries, or the named files/directories (with everything below them)."""
    if not paths:
        return list(image.walk())
    chosen: list[FatEntry] = []
    for path in paths:
        entry = image.find(path)
        if entry is None:
            raise InputError(f"{image.name}: {path}: no such file or directory in the image",
                             hint="see `rpiboot bootimg list IMAGE`")
        chosen.append(entry)
        if entry.is_dir:
            chosen.extend(image.walk(entry))
    return chosen


def check_total_size(image: FatImage, entries: list[FatEntry]) -> int:
    """The bytes extracting ``entries`` writes; InputError if that is more than the image's
    data area holds (files sharing clusters: a crafted image would make a small file write
    gigabytes)."""
    g = image.geometry
    total = sum(entry.size for entry in entries if not entry.is_dir)
    if total > g.clusters * g.cluster_size:
        raise InputError(f"{image.name}: the files to extract claim {total} bytes, more than "
                         f"the {g.clusters * g.cluster_size} bytes of the image's data area "
                         "(files share clusters)", hint="The image is damaged or crafted; "
                         "check it with `fsck.fat -n IMAGE`.")
    return total


def extract(image: FatImage, dest: str | os.PathLike[str],
            paths: list[str] | None = None) -> list[FatEntry]:
    """Copy entries out under ``dest`` (created if needed); returns what was written.

    Names that are empty, '.', '..' or hold a path separator are refused before anything
    is written; so are destinations reached through a symlink, and files that together
    claim more bytes than the image holds.
    """
    dest_path = Path(dest)
    entries = select_entries(image, paths)
    check_total_size(image, entries)
    targets = [(entry, _safe_target(dest_path, entry.parts, image.name)) for entry in entries]
    make_dirs(dest_path, what="destination folder")
    for entry, target in targets:
        if entry.is_dir:
            make_dirs(target, what="folder")
            continue
        make_dirs(target.parent, what="folder")
        with atomic_output(target) as handle:
            for chunk in image.iter_file(entry):
                handle.write(chunk)
        _set_mtime(target, entry)
    for entry, target in reversed(targets):  # directory times last, deepest first
        if entry.is_dir:
            _set_mtime(target, entry)
    return [entry for entry, _ in targets]


def _set_mtime(target: Path, entry: FatEntry) -> None:
    if entry.mtime is None:
        return
    stamp = calendar.timegm(entry.mtime.timetuple())
    try:
        os.utime(target, (stamp, stamp))
    except OSError as exc:
        raise path_error(target, exc, doing="set the time of") from None

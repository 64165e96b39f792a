"""Per-board customisation: after an OS image is written, add or replace files in the disk's
first FAT partition (the boot partition) from a folder, with the board's fields templated
into file names and text contents, using rpiboot's own FAT code (no mount), then read every
file back through a fresh parse of the filesystem and compare.

Rules (docs/flash-customize.md):

* A file is *text* (templated, see :mod:`rpiboot.flash.template`) when its bytes are valid
  UTF-8 with no NUL byte; any other file is copied as it is.  Files matched by a pattern in
  the folder's top-level ``.verbatim`` file (one ``fnmatch`` pattern per line on the path
  relative to the folder, ``#`` comments) are copied as they are too; ``.verbatim`` itself is
  not copied.  Names of files and folders are always templated.
* Fields (:func:`board_fields`): every metadata record of the board under its own name
  (``USER_SERIAL_NUM``, ``MAC_ADDR``, ...) plus the lower-case aliases of :data:`ALIASES`
  and ``port_path``, ``chip``.
* Every file is read, templated and checked (unknown fields, bad braces, names FAT cannot
  store, two names that are one in FAT) before the disk is opened; then every check of the
  edit (the filesystem's consistency, free space, a full root directory) before the first
  write.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
from collections.abc import Mapping
from pathlib import Path

from rpiboot.bootimg.fatcheck import check_consistency
from rpiboot.bootimg.names import same_name_key, validate_name
from rpiboot.bootimg.reader import FatImage
from rpiboot.bootimg.tree import SourceDir, scan_tree
from rpiboot.errors import InputError
from rpiboot.flash.fat_edit import DiskError, open_partition
from rpiboot.flash.template import TEMPLATE_HINT, Template, parse_template
from rpiboot.fspaths import read_file
from rpiboot.record import record

__all__ = ["ALIASES", "VERBATIM_FILE", "CustomizeFolder", "CustomizedFile", "RenderedFile",
           "board_fields", "customize_disk", "verify_files"]

VERBATIM_FILE = ".verbatim"
# lower-case field -> the metadata record it stands for
ALIASES = {"serial": "USER_SERIAL_NUM", "mac": "MAC_ADDR", "mac_wifi": "MAC_WIFI_ADDR",
           "mac_bt": "MAC_BT_ADDR", "board_rev": "USER_BOARDREV",
           "factory_uuid": "FACTORY_UUID"}
MAX_LISTED = 20  # unknown fields named in one error message


@record
class CustomizedFile:
    """One file written to a board's boot partition."""

    path: str  # in the partition, '/'-separated, after templating
    source: Path  # the file in the customisation folder
    size: int  # bytes written
    action: str  # "created" | "replaced"
    templated: bool  # False: copied byte for byte


@record
class RenderedFile:
    path: str
    source: Path
    data: bytes
    templated: bool


@record
class _FolderItem:
    rel: str  # relative to the folder, '/'-separated
    source: Path
    name: tuple[Template, ...]  # one template per path component
    data: bytes | None  # None: a folder
    content: Template | None  # None: copied as it is


def board_fields(*, port_path: str, metadata: Mapping[str, str], serial: str | None = None,
                 chip: str | None = None) -> dict[str, str]:
    """The template fields of one board: its metadata records by name, their lower-case
    :data:`ALIASES`, ``mac_hex`` (``MAC_ADDR`` without separators, lower case),
    ``port_path``, ``chip`` (e.g. BCM2711) and ``serial`` (``USER_SERIAL_NUM``, else the
    USB serial number given)."""
    fields = {str(key): str(value) for key, value in metadata.items()}
    for alias, key in ALIASES.items():
        if key in metadata:
            fields[alias] = str(metadata[key])
    if "serial" not in fields and serial:
        fields["serial"] = serial
    if "mac" in fields:
        fields["mac_hex"] = "".join(ch for ch in fields["mac"] if ch.isalnum()).lower()
    fields["port_path"] = port_path
    if chip:
        fields["chip"] = chip
    return fields


def _verbatim_patterns(folder: Path) -> list[str]:
    path = folder / VERBATIM_FILE
    if not path.is_file():
        return []
    text = read_file(path, what="list of files to copy as they are").decode("utf-8", "replace")
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def _content_template(data: bytes, where: str) -> Template | None:
    if b"\0" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return parse_template(text, where)


class CustomizeFolder:
    """A customisation folder read once (every file loaded, every template parsed), ready to
    be rendered for each board with :meth:`render`."""

    def __init__(self, folder: Path, items: list[_FolderItem]) -> None:
        self.folder = folder
        self._items = items

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> CustomizeFolder:
        root = Path(folder)
        tree = scan_tree(root, lambda rel, is_dir: rel != VERBATIM_FILE)
        patterns = _verbatim_patterns(root)
        items = []
        for rel, node in tree.walk():
            where = str(root / rel)
            name = tuple(parse_template(part, f"{where}: file name")
                         for part in rel.split("/"))
            if isinstance(node, SourceDir):
                items.append(_FolderItem(rel, node.path, name, None, None))
                continue
            data = read_file(node.path, what="customisation file")
            verbatim = any(fnmatch.fnmatchcase(rel, pattern) for pattern in patterns)
            content = None if verbatim else _content_template(data, where)
            items.append(_FolderItem(rel, node.path, name, data, content))
        return cls(root, items)

    @property
    def fields_used(self) -> frozenset[str]:
        """Every field a name or a text file of the folder uses."""
        return frozenset(holder.name for item in self._items
                         for template in (*item.name, *([item.content] if item.content else []))
                         for holder in template.placeholders)

    def _check_fields(self, fields: Mapping[str, str]) -> None:
        unknown: list[str] = []
        for item in self._items:
            for template in item.name:
                unknown.extend(f"{item.rel} (name): {{{holder.name}}}"
                               for holder in template.placeholders if holder.name not in fields)
            if item.content is not None:
                unknown.extend(f"{item.rel} line {holder.line}, column {holder.column}: "
                               f"{{{holder.name}}}" for holder in item.content.placeholders
                               if holder.name not in fields)
        if unknown:
            more = len(unknown) - MAX_LISTED
            listed = "; ".join(unknown[:MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")
            raise InputError(f"{self.folder}: unknown template field{'s' * (len(unknown) > 1)}: "
                             f"{listed}", hint=f"this board's fields: {', '.join(sorted(fields))}"
                             f"; {TEMPLATE_HINT}")

    def render(self, fields: Mapping[str, str]) -> tuple[list[RenderedFile], list[str]]:
        """(files, folders) for one board; InputError before anything is written when a field
        is unknown, a templated name is not a valid FAT name, or two names are one in FAT."""
        self._check_fields(fields)
        files: list[RenderedFile] = []
        folders: list[str] = []
        seen: dict[str, str] = {}
        for item in self._items:
            parts = []
            for template in item.name:
                part = template.render(fields)
                validate_name(part, f"{self.folder / item.rel}: the name after templating")
                parts.append(part)
            path = "/".join(parts)
            key = same_name_key(path)
            if key in seen:
                raise InputError(f"{self.folder}: {seen[key]!r} and {item.rel!r} both become "
                                 f"{path!r} (FAT names are case-insensitive)",
                                 hint="give the files different names")
            seen[key] = item.rel
            if item.data is None:
                folders.append(path)
                continue
            data = (item.data if item.content is None
                    else item.content.render(fields).encode("utf-8"))
            files.append(RenderedFile(path=path, source=item.source, data=data,
                                      templated=item.content is not None))
        return files, folders


def customize_disk(target_path: str | os.PathLike[str], folder: str | os.PathLike[str]
                   | CustomizeFolder, fields: Mapping[str, str], *,
                   partition: int | None = None, sector_size: int | None = None,
                   timestamp: float | None = None) -> list[CustomizedFile]:
    """Add or replace every file of ``folder`` in the first FAT partition of the disk (or
    partition number ``partition``), templated with ``fields``; then read each one back
    through a fresh parse and compare.  ``timestamp``: the entries' time (UTC, default now).
    """
    source = folder if isinstance(folder, CustomizeFolder) else CustomizeFolder.load(folder)
    files, folders = source.render(fields)
    editor, part = open_partition(target_path, partition=partition, sector_size=sector_size)
    with editor:
        changes = editor.write_files([(item.path, item.data) for item in files],
                                     folders=folders, timestamp=timestamp)
    verify_files(target_path, part.start, editor.name, files)
    return [CustomizedFile(path=change.path, source=item.source, size=change.size,
                           action="created" if change.created else "replaced",
                           templated=item.templated)
            for change, item in zip(changes, files, strict=True)]


def verify_files(target_path: str | os.PathLike[str], offset: int, name: str,
                 files: list[RenderedFile]) -> None:
    """Parse the filesystem afresh (the page cache dropped first, so a block device is read
    again), check its consistency, and compare every file; DiskError on a difference."""
    try:
        fd = os.open(target_path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise DiskError(f"{target_path}: cannot open to verify: {err.strerror}") from None
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):  # advice only: the comparison below still runs
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    with FatImage(open(fd, "rb", buffering=0), offset=offset, name=name) as fresh:
        check_consistency(fresh)
        for item in files:
            entry = fresh.find(item.path)
            data = None if entry is None or entry.is_dir else fresh.read_file(entry)
            if data != item.data:
                where = ("it is missing" if data is None else
                         f"{len(data)} bytes instead of {len(item.data)}"
                         if len(data) != len(item.data) else "first difference at byte "
                         f"{next(i for i in range(len(data)) if data[i] != item.data[i])}")
                raise DiskError(f"{name}: {item.path!r} reads back differently after "
                                f"writing ({where})",
                                hint="the disk may be failing: write the image again")

"""Which files make up a payload folder, with symbolic links resolved inside the tree.

A *view* answers ``lookup(path)`` for one namespace: usbboot's tree with the rpi-eeprom
submodule mounted at ``rpi-eeprom/`` (from listings, a checkout or an archive).  Links are
resolved component by component inside that namespace: a target that is absolute, leaves
the tree, loops or names nothing is refused, never followed on the host's file system.

Payload (what rpiboot serves from a folder): every file of the folder and of its
sub-folders, links resolved, except documentation (``README*``), dot files
(``.gitignore``) and executable helper scripts (git mode 100755: ``sign.sh``,
``update-pieeprom.sh``, ``rpi-eeprom-config``, ``reset.sh``; rpiboot has its own
``rpiboot recovery`` / ``update-pieeprom`` / ``rpi-eeprom-config``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rpiboot.chips import GADGET_FIRMWARE, MSD_FIRMWARE, eeprom_chips
from rpiboot.errors import InputError
from rpiboot.fwstore.listing import ListingError, RepoListing, check_link_target

# usbboot's folders rpiboot installs: the two it boots without -d, each chip's recovery and
# secure-boot recovery folders (from the chip table), and the rest of usbboot's payload
PAYLOAD_FOLDERS = (MSD_FIRMWARE, GADGET_FIRMWARE,
                   *(c.recovery_dir for c in eeprom_chips() if c.recovery_dir),
                   *(c.secure_recovery_dir for c in eeprom_chips() if c.secure_recovery_dir),
                   "secure-boot-msd", "rpi-imager-embedded", "eeprom-erase")
EEPROM_MOUNT = "rpi-eeprom"
MAX_HOPS = 40
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                     *(f"lpt{i}" for i in range(10))}


@dataclass(frozen=True)
class Node:
    """One path of a view: ``kind`` is ``file``, ``link``, ``dir`` or ``other``."""

    kind: str
    path: str  # in the namespace (``rpi-eeprom/firmware-2711/...`` for the submodule)
    mount: str = ""  # which tree of the namespace holds it ("" or "rpi-eeprom")
    mode: str = "100644"
    blob: str | None = None  # git blob id, when the view knows it
    size: int | None = None
    target: str | None = None  # a link's target, when the view knows it

    @property
    def repo_path(self) -> str:
        """The path inside its own repository."""
        return self.path[len(self.mount) + 1:] if self.mount else self.path


class View(Protocol):
    """A namespace of files, links and folders."""

    def lookup(self, path: str) -> Node | None: ...
    def below(self, folder: str) -> list[str]: ...


LinkReader = Callable[[Node], str]


class ResolveError(InputError):
    """A path or link of a payload folder leads nowhere usable."""


class ListingView:
    """A view of listings: ``mounts`` maps a mount point ("" = the top) to its listing."""

    def __init__(self, mounts: dict[str, RepoListing]) -> None:
        self.mounts = mounts

    def _split(self, path: str) -> tuple[str, str]:
        for mount in sorted(self.mounts, key=len, reverse=True):
            if mount and (path == mount or path.startswith(mount + "/")):
                return mount, path[len(mount) + 1:]
        return "", path

    def lookup(self, path: str) -> Node | None:
        mount, inner = self._split(path)
        if mount and not inner:
            return Node("dir", path, mount)
        listing = self.mounts.get(mount)
        if listing is None:
            return None
        entry = listing.entries.get(inner)
        if entry is not None:
            kind = {"file": "file", "link": "link"}.get(entry.kind, "other")
            return Node(kind, path, mount, entry.mode, entry.sha, entry.size, entry.target)
        return Node("dir", path, mount) if inner in listing.dirs else None

    def below(self, folder: str) -> list[str]:
        mount, inner = self._split(folder)
        listing = self.mounts.get(mount)
        if listing is None:
            return []
        prefix = f"{inner}/" if inner else ""
        base = f"{mount}/" if mount else ""
        return sorted(base + path for path in listing.entries if path.startswith(prefix))


def resolve(view: View, path: str, read_link: LinkReader) -> Node:
    """The file or folder ``path`` leads to, every link on the way resolved in ``view``."""
    pending = path.split("/")
    done: list[str] = []
    hops = 0
    while pending:
        name = pending.pop(0)
        here = "/".join([*done, name])
        node = view.lookup(here)
        if node is None:
            where = f"{path}: {here}" if here != path else path
            raise ResolveError(f"{where} does not exist in the tree",
                               hint="The tree is incomplete (a submodule left out?).")
        if node.kind == "link":
            hops += 1
            if hops > MAX_HOPS:
                raise ResolveError(f"{path}: more than {MAX_HOPS} symbolic links (a loop?)",
                                   hint="The tree is damaged or crafted.")
            target = check_link_target(read_link(node), where=here)
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(here), target))
            if joined == ".." or joined.startswith("../") or joined == ".":
                raise ResolveError(f"{path}: the link {here} -> {target} leaves the tree",
                                   hint="Links must point inside the tree; it is damaged "
                                   "or crafted.")
            pending = joined.split("/") + pending
            done = []
            continue
        if pending and node.kind != "dir":
            raise ResolveError(f"{path}: {here} is not a folder",
                               hint="The tree is damaged or crafted.")
        done.append(name)
        if not pending:
            return node
    raise ResolveError(f"{path}: empty path", hint="This is a bug in rpiboot.")


def is_payload(name: str, mode: str) -> bool:
    """Whether a file of a payload folder is served (see the module docstring)."""
    base = name.rsplit("/", 1)[-1]
    return not (base.startswith(".") or base.lower().startswith("readme")
                or mode == "100755")


@dataclass(frozen=True)
class PlannedFile:
    """One file of a set: where it goes (``dest``, e.g. ``recovery/bootcode4.bin``) and the
    upstream file it is (``source``: a namespace path, links resolved)."""

    dest: str
    source: Node

    @property
    def blob(self) -> str | None:
        return self.source.blob

    @property
    def size(self) -> int | None:
        return self.source.size


@dataclass
class Plan:
    """The files of the chosen folders; ``skipped``: folder -> why it cannot be installed."""

    folders: list[str] = field(default_factory=list)
    files: list[PlannedFile] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def of_folder(self, folder: str) -> list[PlannedFile]:
        return [f for f in self.files if f.dest.split("/", 1)[0] == folder]

    def drop(self, folder: str, reason: str) -> None:
        """Leave ``folder`` out (it cannot be completed), saying why."""
        self.files = [f for f in self.files if f.dest.split("/", 1)[0] != folder]
        if folder in self.folders:
            self.folders.remove(folder)
        self.skipped[folder] = reason


def plan_folders(view: View, folders: Sequence[str], read_link: LinkReader) -> Plan:
    """The payload of ``folders``; a folder that cannot be completed is in ``skipped``."""
    plan = Plan()
    for folder in folders:
        try:
            files = _folder_files(view, folder, read_link)
        except ResolveError as err:
            plan.skipped[folder] = err.message
            continue
        if not files:
            plan.skipped[folder] = f"{folder} holds no payload file"
            continue
        plan.folders.append(folder)
        plan.files.extend(files)
    _check_portable(plan.files)
    return plan


def _folder_files(view: View, folder: str, read_link: LinkReader) -> list[PlannedFile]:
    top = resolve(view, folder, read_link)
    if top.kind != "dir":
        raise ResolveError(f"{folder} is not a folder", hint="Choose a payload folder.")
    files = []
    for path in view.below(top.path):
        name = path[len(top.path) + 1:]
        node = view.lookup(path)
        if node is None or not is_payload(name, node.mode):
            continue
        target = resolve(view, path, read_link) if node.kind == "link" else node
        if target.kind != "file":
            raise ResolveError(f"{folder}/{name} leads to a {target.kind}, not a file",
                               hint="rpiboot installs files only.")
        if is_payload(name, target.mode):
            files.append(PlannedFile(f"{folder}/{name}", target))
    return files


def _check_portable(files: Iterable[PlannedFile]) -> None:
    """Refuse names that would collide or be unusable on another OS's file system."""
    seen: dict[str, str] = {}
    for item in files:
        key = item.dest.casefold()
        if key in seen:
            raise ListingError(f"{item.dest} and {seen[key]} differ only in case",
                               hint="They would overwrite each other on macOS and Windows.")
        seen[key] = item.dest
        for part in item.dest.split("/"):
            if ":" in part or part.split(".")[0].lower() in _WINDOWS_RESERVED:
                raise ListingError(f"{item.dest}: the name {part!r} cannot be a file name on "
                                   "Windows", hint="The listing is damaged or crafted.")

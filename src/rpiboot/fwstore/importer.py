"""``rpiboot firmware import PATH``: install from a usbboot checkout or an archive of one.

For offline stations.  Where the tree's commit is known (``--commit``; the checkout's
``.git`` HEAD; the commit GitHub / ``git archive`` writes into an archive's pax header; a
``usbboot-<commit>`` name) and its listing is at hand (the pinned one; else GitHub's API
unless offline), the payload is planned from the listing and every file of the tree is
checked against its blob id exactly as :mod:`~rpiboot.fwstore.fetch` does; a mismatch
installs nothing.  Otherwise the payload is planned from the tree itself and installed as
``unverified-<12 hex>`` with ``"verified": false`` in its manifest.

GitHub's archives leave submodules out: give rpi-eeprom's tree with ``eeprom`` (its checkout
or archive) or the recovery folders, whose bootloader images come from it, are skipped.
"""

from __future__ import annotations

import contextlib
import lzma
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from rpiboot.errors import InputError
from rpiboot.fsutil import path_error
from rpiboot.fwstore import events as ev
from rpiboot.fwstore.fetch import VerificationError, announce, check_skipped, mismatch
from rpiboot.fwstore.httpget import DownloadError, Http, HttpOptions
from rpiboot.fwstore.install import Installer, Provided, Store
from rpiboot.fwstore.listing import MAX_LINK_TARGET, SHA_RE, ListingError, blob_hasher, git_blob_id
from rpiboot.fwstore.manifest import Manifest
from rpiboot.fwstore.resolve import (
    EEPROM_MOUNT,
    PAYLOAD_FOLDERS,
    Node,
    Plan,
    PlannedFile,
    ResolveError,
    plan_folders,
    resolve,
)
from rpiboot.fwstore.trees import LocalTree, open_tree
from rpiboot.fwstore.upstream import (
    DEFAULT_API,
    PINNED_USBBOOT,
    USBBOOT_REPO,
    Upstream,
    github_upstream,
    pinned_upstream,
)

CHUNK = 1 << 20


@dataclass(frozen=True)
class ImportOptions:
    folders: tuple[str, ...] = PAYLOAD_FOLDERS
    strict: bool = False  # a folder that cannot be completed fails the import (--only)
    commit: str | None = None  # the tree's usbboot commit, when it cannot be read from it
    eeprom: Path | None = None  # rpi-eeprom's tree, for archives without the submodule
    api: str = DEFAULT_API
    offline: bool = False  # never ask the API for a listing
    http: HttpOptions = field(default_factory=lambda: HttpOptions(timeout=15.0, retries=1))
    switch: bool = True


class MountedTrees:
    """One namespace of local trees: usbboot's at "", rpi-eeprom's at ``rpi-eeprom``."""

    def __init__(self, trees: dict[str, LocalTree]) -> None:
        self.trees = trees

    def _split(self, path: str) -> tuple[str, str]:
        if EEPROM_MOUNT in self.trees and (path == EEPROM_MOUNT
                                           or path.startswith(EEPROM_MOUNT + "/")):
            return EEPROM_MOUNT, path[len(EEPROM_MOUNT) + 1:]
        return "", path

    def _outer(self, mount: str, inner: str) -> str:
        return f"{mount}/{inner}" if mount else inner

    def lookup(self, path: str) -> Node | None:
        mount, inner = self._split(path)
        if mount and not inner:
            return Node("dir", path, mount)
        node = self.trees[mount].lookup(inner)
        if node is None:
            return None
        return Node(node.kind, path, mount, node.mode, node.blob, node.size, node.target)

    def below(self, folder: str) -> list[str]:
        mount, inner = self._split(folder)
        return [self._outer(mount, p) for p in self.trees[mount].below(inner)]

    def label(self, path: str) -> str:
        mount, inner = self._split(path)
        return f"{self.trees[mount].label}:{inner}"

    def tree_of(self, path: str) -> tuple[LocalTree, str]:
        mount, inner = self._split(path)
        return self.trees[mount], inner


class TreeSource:
    """Files and link targets from local trees (checked against blob ids when known)."""

    def __init__(self, trees: MountedTrees, upstream: Upstream | None) -> None:
        self.trees = trees
        self.upstream = upstream
        self._found: dict[str, Node] = {}

    def tree_link(self, node: Node) -> str:
        """The target of a link of the tree itself (a checkout made without symlink support
        holds it as a small text file)."""
        if node.target is not None:
            return node.target
        tree, inner = self.trees.tree_of(node.path)
        if node.kind == "file" and node.size is not None and node.size <= MAX_LINK_TARGET:
            with tree.open(inner) as handle:
                return handle.read(MAX_LINK_TARGET).decode("utf-8", "replace")
        raise ResolveError(f"{self.trees.label(node.path)}: not a symbolic link",
                           hint="The tree does not match the listing.")

    def listed_link(self, node: Node) -> str:
        """A link of the listing: its target, checked against its blob id."""
        if node.target is not None:
            return node.target
        found = self.trees.lookup(node.path)
        if found is None:
            raise ResolveError(f"{self.trees.label(node.path)} is missing",
                               hint="Use a complete tree.")
        text = self.tree_link(found)
        if git_blob_id(text.encode("utf-8", "surrogateescape")) != node.blob:
            raise VerificationError(f"{self.trees.label(node.path)}: the symbolic link does "
                                    f"not match upstream (target {text[:100]!r})",
                                    hint="Restore the tree from upstream.")
        return text

    def locate(self, item: PlannedFile) -> Node:
        """The tree's file for ``item`` (ResolveError when the tree lacks it)."""
        path = item.source.path
        if path not in self._found:
            node = resolve(self.trees, path, self.tree_link)
            if node.kind != "file":
                raise ResolveError(f"{self.trees.label(path)} is not a file",
                                   hint="Use a complete tree.")
            self._found[path] = node
        return self._found[path]

    def sort_key(self, item: PlannedFile) -> int:
        tree, inner = self.trees.tree_of(self.locate(item).path)
        return tree.sort_key(inner)

    def origin(self, item: PlannedFile) -> str:
        if self.upstream is not None:
            return f"{self.upstream.repo_of(item.source)[0]}:{item.source.repo_path}"
        return self.trees.label(item.source.path)

    def provide(self, item: PlannedFile, dest: Path) -> Provided:
        node = self.locate(item)
        tree, inner = self.trees.tree_of(node.path)
        label = self.trees.label(node.path)
        size = node.size or 0
        hasher = blob_hasher(size)
        copied = 0
        try:
            with tree.open(inner) as src, _output(dest) as out:
                while chunk := src.read(min(CHUNK, size - copied + 1)):
                    copied += len(chunk)
                    if copied > size:
                        raise InputError(f"{label} grew while it was read", hint="Try again.")
                    hasher.update(chunk)
                    out.write(chunk)
        except (EOFError, tarfile.TarError, zlib.error, lzma.LZMAError) as exc:
            raise InputError(f"cannot read {label}: the archive is damaged ({exc})",
                             hint="Download the archive again.") from None
        blob = hasher.hexdigest()
        if copied != size or (item.blob is not None and blob != item.blob):
            raise mismatch(label, item, blob, copied, hint=(
                "The tree has a changed or damaged copy of the file: restore it from "
                "upstream (git checkout / git submodule update), or use another copy. The "
                "current set is unchanged."))
        return Provided(blob, copied, "copied", self.origin(item), label)


@contextlib.contextmanager
def _output(dest: Path) -> Iterator[BinaryIO]:
    try:
        handle = open(dest, "wb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise path_error(dest, exc) from None
    with handle:
        yield handle


def _listing_for(commit: str | None, options: ImportOptions, path: Path,
                 on_event: ev.Callback) -> tuple[Upstream | None, str]:
    """The listing to check the tree against, or None and why the import is unverified."""
    if commit is None:
        return None, (f"the commit of {path} is unknown (no .git HEAD, no commit in the "
                      "archive; --commit names it)")
    if not SHA_RE.match(commit):
        if len(commit) >= 7 and PINNED_USBBOOT.startswith(commit):
            return pinned_upstream(), ""
        return None, f"only an abbreviated commit ({commit}) is known"
    if commit == PINNED_USBBOOT:
        return pinned_upstream(), ""
    if options.offline:
        return None, f"commit {commit[:12]} is not the pinned one and --offline was given"
    try:
        return github_upstream(Http(options.http, on_event), options.api, commit), ""
    except (DownloadError, ListingError) as err:
        return None, f"the listing of commit {commit[:12]} could not be fetched ({err.message})"


def _plan(trees: MountedTrees, source: TreeSource, upstream: Upstream | None,
          folders: tuple[str, ...]) -> Plan:
    if upstream is None:
        return plan_folders(trees, folders, source.tree_link)
    plan = plan_folders(upstream.view(), folders, source.listed_link)
    for item in list(plan.files):
        folder = item.dest.split("/", 1)[0]
        if folder in plan.folders:
            try:
                source.locate(item)
            except ResolveError as err:
                plan.drop(folder, err.message if err.message.startswith(item.dest)
                          else f"{item.dest}: {err.message}")
    return plan


def import_firmware(root: Path, path: Path, options: ImportOptions | None = None,
                    on_event: ev.Callback = ev.ignore) -> Manifest:
    """Install the payload folders of the tree at ``path``; the installed set's manifest."""
    from rpiboot import __version__

    options = options or ImportOptions()
    with contextlib.ExitStack() as stack:
        trees: dict[str, LocalTree] = {"": stack.enter_context(open_tree(path))}
        if options.eeprom is not None:
            trees[EEPROM_MOUNT] = stack.enter_context(open_tree(options.eeprom))
        found = trees[""].commit_hint()
        commit = (options.commit or found or "").lower() or None
        if options.commit and found and found != commit:
            on_event(ev.Notice(f"{path} says commit {found}; using --commit {commit}"))
        upstream, why_not = _listing_for(commit, options, path, on_event)
        mounted = MountedTrees(trees)
        source = TreeSource(mounted, upstream)
        plan = _plan(mounted, source, upstream, options.folders)
        check_skipped(plan, strict=options.strict, on_event=on_event)
        commits = upstream.commits() if upstream else ({USBBOOT_REPO: commit}
                                                       if commit and SHA_RE.match(commit)
                                                       else {})
        verification = upstream.listing if upstream else f"not verified: {why_not}"
        if upstream is None:
            on_event(ev.Notice(f"installing UNVERIFIED: {why_not}"))
        name = upstream.commit if upstream else ""
        listing = upstream.listing if upstream else "files themselves (UNVERIFIED)"
        announce(plan, commits, listing, name or "unverified", on_event)
        manifest = Manifest(name, commits, upstream is not None, verification,
                            f"import {Path(path).resolve()}",
                            installed_by=f"rpiboot {__version__}")
        with Store(root) as store:
            return Installer(store, plan, source, manifest, on_event).run(switch=options.switch)
    raise AssertionError("unreachable")  # pragma: no cover

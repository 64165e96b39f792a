"""``rpiboot firmware fetch``: download usbboot's payload folders, verified, into the store.

The expected blob ids come from the listing pinned in the package (the default: no server is
trusted) or, with ``ref``, from GitHub's tree listings (or a mirror of the API).  The bytes
come from GitHub's raw server or a mirror laid out like it (``MIRROR/raspberrypi/<repo>/
<commit>/<path>``; a symbolic link is answered with its target text, as GitHub's raw server
does).  Every file, and every link target read from a server, is checked against its git
blob id before it is used; a mismatch installs nothing.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from rpiboot.errors import InputError
from rpiboot.fsutil import path_error
from rpiboot.fwstore import events as ev
from rpiboot.fwstore import layout
from rpiboot.fwstore.httpget import Http, HttpOptions
from rpiboot.fwstore.install import Installer, Provided, Store, hash_file
from rpiboot.fwstore.listing import MAX_LINK_TARGET, ListingError, git_blob_id
from rpiboot.fwstore.manifest import Manifest
from rpiboot.fwstore.resolve import PAYLOAD_FOLDERS, Node, Plan, PlannedFile, plan_folders
from rpiboot.fwstore.upstream import (
    DEFAULT_API,
    DEFAULT_RAW,
    PINNED_USBBOOT,
    Upstream,
    github_upstream,
    pinned_upstream,
    raw_url,
)

MAX_UNKNOWN_SIZE = 1 << 30  # a file the listing gives no size for (bounded all the same)


class VerificationError(InputError):
    """Bytes that do not match their upstream git blob id: nothing is installed."""


@dataclass(frozen=True)
class FetchOptions:
    folders: tuple[str, ...] = PAYLOAD_FOLDERS
    strict: bool = False  # a folder that cannot be completed fails the fetch (--only)
    ref: str | None = None  # None: the pinned commit (listing in the package)
    mirror: str = DEFAULT_RAW
    api: str = DEFAULT_API
    http: HttpOptions = field(default_factory=HttpOptions)
    switch: bool = True  # make the fetched set current


def mismatch(where: str, item: PlannedFile, got: str, size: int, *, hint: str
             ) -> VerificationError:
    return VerificationError(
        f"{where} ({item.dest}) does not match upstream: its git blob id is {got[:12]}… "
        f"({size} bytes), the listing says {str(item.blob)[:12]}…; nothing was installed",
        hint=hint)


class HttpSource:
    """Files and link targets from a raw server (GitHub's or a mirror)."""

    def __init__(self, http: Http, mirror: str, upstream: Upstream, downloads: Path,
                 on_event: ev.Callback = ev.ignore) -> None:
        self.http = http
        self.mirror = mirror
        self.upstream = upstream
        self.downloads = downloads
        self.on_event = on_event

    def url(self, node: Node) -> str:
        repo, commit = self.upstream.repo_of(node)
        return raw_url(self.mirror, repo, commit, node.repo_path)

    def origin(self, item: PlannedFile) -> str:
        return f"{self.upstream.repo_of(item.source)[0]}:{item.source.repo_path}"

    def sort_key(self, item: PlannedFile) -> int:
        return 0

    def read_link(self, node: Node) -> str:
        """A link's target text from the raw server, checked against the link's blob id."""
        if node.target is not None:
            return node.target
        url = self.url(node)
        body = self.http.get(url, limit=MAX_LINK_TARGET)
        if git_blob_id(body) != node.blob:
            raise VerificationError(f"{url}: the symbolic link {node.path} does not match "
                                    "upstream (its target text has another blob id)",
                                    hint="Check the mirror's copy (--mirror): it must answer "
                                    "a link with its target text, as GitHub's raw server "
                                    "does.")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise ListingError(f"{url}: the link target is not UTF-8",
                               hint="The repository is damaged or crafted.") from None

    def provide(self, item: PlannedFile, dest: Path) -> Provided:
        """Download (resuming a partial file), verify, move into ``dest``."""
        assert item.blob is not None
        url = self.url(item.source)
        part = self.downloads / f"{item.blob}.part"
        while True:
            resumed = part.is_file() and part.stat().st_size > 0
            try:
                self.http.download(url, part, label=item.dest, size=item.size,
                                   limit=MAX_UNKNOWN_SIZE)
                blob, size = hash_file(part)
            except OSError as exc:
                raise path_error(part, exc) from None
            if blob == item.blob:
                break
            with contextlib.suppress(OSError):
                os.unlink(part)
            if not resumed:
                raise mismatch(url, item, blob, size, hint=(
                    "The server (or a proxy on the way) sent other bytes than upstream's "
                    "file: check the mirror's copy (--mirror), or fetch from GitHub. The "
                    "current set is unchanged."))
            self.on_event(ev.Restarted(url, "the resumed file did not verify; starting over"))
        try:
            os.replace(part, dest)
        except OSError as exc:
            raise path_error(dest, exc) from None
        return Provided(blob, size, "downloaded", self.origin(item), url)


def check_skipped(plan: Plan, *, strict: bool, on_event: ev.Callback) -> None:
    """Report folders that cannot be installed; fail when ``strict`` or none is left."""
    for folder, reason in plan.skipped.items():
        if strict:
            raise InputError(f"cannot install {folder}: {reason}",
                             hint="Leave it out of --only, or use a complete source.")
        on_event(ev.FolderSkipped(folder, reason))
    if not plan.folders:
        raise InputError("no payload folder can be installed: "
                         + "; ".join(f"{f}: {r}" for f, r in plan.skipped.items()),
                         hint="Use a complete source (a usbboot checkout with its rpi-eeprom "
                         "submodule, or the GitHub servers).")


def announce(plan: Plan, upstream: dict[str, str], listing: str, name: str,
             on_event: ev.Callback) -> None:
    sizes = [f.size for f in plan.files]
    on_event(ev.Planned(name, upstream, listing, list(plan.folders), len(plan.files),
                        sum(s for s in sizes if s is not None),
                        sum(1 for s in sizes if s is None)))


def fetch_firmware(root: Path, options: FetchOptions | None = None,
                   on_event: ev.Callback = ev.ignore) -> Manifest:
    """Fetch the payload folders into the store at ``root``; the installed set's manifest."""
    from rpiboot import __version__

    options = options or FetchOptions()
    http = Http(options.http, on_event)
    if options.ref is None or options.ref.lower() == PINNED_USBBOOT:
        upstream = pinned_upstream()
    else:
        upstream = github_upstream(http, options.api, options.ref)
    source = HttpSource(http, options.mirror, upstream, root / layout.DOWNLOADS, on_event)
    plan = plan_folders(upstream.view(), options.folders, source.read_link)
    check_skipped(plan, strict=options.strict, on_event=on_event)
    announce(plan, upstream.commits(), upstream.listing, upstream.commit, on_event)
    manifest = Manifest(upstream.commit, upstream.commits(), True, upstream.listing,
                        options.mirror, installed_by=f"rpiboot {__version__}")
    with Store(root) as store:
        return Installer(store, plan, source, manifest, on_event).run(switch=options.switch)

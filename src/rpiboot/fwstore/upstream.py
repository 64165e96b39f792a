"""Where the expected blob ids come from: the listing pinned in the package (no server is
trusted), or GitHub's tree listings for ``--ref`` (GitHub's API, or a mirror of it).

The pinned listing (``pinned.listing``, package data) holds the entries of
raspberrypi/usbboot at :data:`PINNED_USBBOOT` that the payload folders need (their files,
the links they go through) and those of its rpi-eeprom submodule at :data:`PINNED_EEPROM`:
paths, modes, blob ids, sizes and link targets, nothing else.  It is generated from
``git ls-tree -r -l`` listings by ``tools/gen_pinned_listing.py``.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from rpiboot.fwstore.httpget import DownloadError, Http
from rpiboot.fwstore.listing import (
    SHA_RE,
    ListingError,
    RepoListing,
    parse_github_tree,
    parse_listing_file,
)
from rpiboot.fwstore.resolve import EEPROM_MOUNT, ListingView, Node, plan_folders

PINNED_USBBOOT = "87d6e03272b0ae155d85a125bfdec03e3d4a1095"
PINNED_EEPROM = "387e8cc058aae0ea43214a296b64fd11f9e25678"
USBBOOT_REPO = "raspberrypi/usbboot"
EEPROM_REPO = "raspberrypi/rpi-eeprom"
DEFAULT_API = "https://api.github.com"
DEFAULT_RAW = "https://raw.githubusercontent.com"
API_ENV = "RPIBOOT_GITHUB_API"
MIRROR_ENV = "RPIBOOT_FIRMWARE_MIRROR"
REF_ENV = "RPIBOOT_FIRMWARE_REF"
LISTING_RESOURCE = "pinned.listing"
MAX_LISTING_BYTES = 64 << 20
MAX_SHA_ANSWER = 4096


@dataclass
class Upstream:
    """usbboot's listing at one commit (mount "") and its rpi-eeprom submodule's (mount
    ``rpi-eeprom``, when known); ``listing`` says where the blob ids came from."""

    mounts: dict[str, RepoListing]
    listing: str

    @property
    def commit(self) -> str:
        return self.mounts[""].commit

    def view(self) -> ListingView:
        return ListingView(self.mounts)

    def commits(self) -> dict[str, str]:
        """repository -> commit, usbboot first."""
        return {listing.repo: listing.commit for listing in self.mounts.values()}

    def repo_of(self, node: Node) -> tuple[str, str]:
        """(repository, commit) holding ``node``."""
        listing = self.mounts[node.mount]
        return listing.repo, listing.commit


def pinned_upstream() -> Upstream:
    """The listing shipped in the package (usbboot + rpi-eeprom at the pinned commits)."""
    where = f"rpiboot/fwstore/{LISTING_RESOURCE}"
    try:
        text = resources.files("rpiboot.fwstore").joinpath(LISTING_RESOURCE).read_text(
            encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ListingError(f"cannot read the pinned listing {where}: {exc}",
                           hint="Reinstall rpiboot (its package data is missing).") from None
    listings = parse_listing_file(text, where=where)
    found = {listing.repo: listing for listing in listings}
    usbboot, eeprom = found.get(USBBOOT_REPO), found.get(EEPROM_REPO)
    if (usbboot is None or eeprom is None or usbboot.commit != PINNED_USBBOOT
            or eeprom.commit != PINNED_EEPROM):
        raise ListingError(f"{where} is not the listing of the pinned commits",
                           hint="Reinstall rpiboot (its package data is damaged).")
    return Upstream({"": usbboot, EEPROM_MOUNT: eeprom}, "listing pinned in rpiboot")


def check_ref(ref: str) -> str:
    """A branch, tag or commit name that is safe to put in a URL path segment."""
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._/+@-]{0,254}$", ref) or ".." in ref:
        raise ListingError(f"--ref {ref[:80]!r} is not a branch, tag or commit name",
                           hint="Give e.g. master, a tag such as 20250101-123456, or a "
                           "40-digit commit id.")
    return ref


def resolve_ref(http: Http, api: str, repo: str, ref: str) -> str:
    """The commit ``ref`` names (a 40-digit id is taken as it is)."""
    if SHA_RE.match(ref.lower()):
        return ref.lower()
    url = f"{api}/repos/{repo}/commits/{urllib.parse.quote(check_ref(ref), safe='')}"
    body = http.get(url, limit=MAX_SHA_ANSWER, accept="application/vnd.github.sha")
    text = body.decode("ascii", "replace").strip()
    if text.startswith("{"):  # a server that ignores the Accept header answers JSON
        try:
            text = str(json.loads(body).get("sha", ""))
        except (ValueError, AttributeError):
            text = ""
    if not SHA_RE.match(text):
        raise DownloadError(url, "the answer is not a commit id",
                            hint="Check --ref (does it exist upstream?) and --api.")
    return text


def list_repo(http: Http, api: str, repo: str, commit: str) -> RepoListing:
    """``repo``'s entries at ``commit`` from the API's recursive tree listing."""
    url = f"{api}/repos/{repo}/git/trees/{commit}?recursive=1"
    body = http.get(url, limit=MAX_LISTING_BYTES, accept="application/vnd.github+json")
    entries, truncated = parse_github_tree(body, where=url)
    if truncated:
        raise ListingError(f"{url}: the listing is truncated, so not every file could be "
                           "checked", hint="Use a listing server that returns whole trees "
                           "(--api), or import a checkout.")
    return RepoListing.of(repo, commit, entries)


def github_upstream(http: Http, api: str, ref: str) -> Upstream:
    """usbboot at ``ref`` and the rpi-eeprom commit it pins, listed by the API at ``api``."""
    commit = resolve_ref(http, api, USBBOOT_REPO, ref)
    usbboot = list_repo(http, api, USBBOOT_REPO, commit)
    mounts = {"": usbboot}
    submodule = usbboot.entries.get(EEPROM_MOUNT)
    if submodule is not None and submodule.kind == "submodule":
        mounts[EEPROM_MOUNT] = list_repo(http, api, EEPROM_REPO, submodule.sha)
    return Upstream(mounts, f"tree listing of {api}")


def raw_url(mirror: str, repo: str, commit: str, path: str) -> str:
    """Where a file of ``repo`` at ``commit`` is on a raw server laid out like GitHub's."""
    return f"{mirror}/{repo}/{commit}/{urllib.parse.quote(path, safe='/')}"


def subset(upstream: Upstream, folders: Iterable[str]) -> Upstream:
    """Only the entries the payload of ``folders`` needs: every entry below each folder,
    the links resolution goes through, the files they lead to, the submodule's entry."""
    view = upstream.view()
    kept: dict[str, set[str]] = {mount: set() for mount in upstream.mounts}

    def read_link(node: Node) -> str:
        if node.target is None:
            raise ListingError(f"{node.path}: the link's target is not in the listing",
                               hint="Add the targets of the links (PATH -> TARGET).")
        kept[node.mount].add(node.repo_path)
        return node.target

    plan = plan_folders(view, list(folders), read_link)
    for folder in plan.folders:
        for path in view.below(folder):
            node = view.lookup(path)
            assert node is not None
            kept[node.mount].add(node.repo_path)
    for item in plan.files:
        kept[item.source.mount].add(item.source.repo_path)
    if EEPROM_MOUNT in upstream.mounts:
        kept[""].add(EEPROM_MOUNT)
    mounts = {mount: RepoListing.of(listing.repo, listing.commit,
                                    (listing.entries[p] for p in sorted(kept[mount])))
              for mount, listing in upstream.mounts.items()}
    return Upstream(mounts, upstream.listing)

"""Upstream listings: what a repository holds at one commit, and their parsers.

An :class:`Entry` is one path of a repository: its git mode, its git object id (the blob id
of a file or link, the commit of a submodule), its size and, for a symbolic link, its target
(when known).  Every parser here reads untrusted text: paths are checked (relative, no ``..``,
no control characters, no backslash), object ids are 40 hex digits, sizes are numbers, and a
malformed line is refused with an :class:`ListingError` naming where it came from.

Formats read:

* ``git ls-tree -r -l`` output (``MODE TYPE SHA SIZE<TAB>PATH``; ``-`` for no size);
* link lists (``PATH -> TARGET``, one per line);
* GitHub's ``git/trees/<sha>?recursive=1`` JSON;
* the package's own listing file (:func:`parse_listing_file`, written by
  :func:`format_listing_file`): tab-separated, ``repo`` lines opening each repository.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from rpiboot.errors import InputError

SHA_RE = re.compile(r"^[0-9a-f]{40}$")
MODES = {"100644": "file", "100755": "file", "120000": "link", "160000": "submodule"}
TREE_MODE = "040000"
MAX_PATH = 4096
MAX_LINK_TARGET = 1024
MAX_ENTRIES = 200_000
LISTING_MAGIC = "rpiboot-listing"
LISTING_VERSION = "1"
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


class ListingError(InputError):
    """A listing (or a path, or a link target in one) is malformed."""


def git_blob_id(data: bytes) -> str:
    """Git's object id of a blob: ``sha1(b"blob %d\\0" % len(data) + data)``."""
    return blob_hasher(len(data), data).hexdigest()


def blob_hasher(size: int, data: bytes = b"") -> hashlib._Hash:
    """A sha1 already fed git's blob header for ``size`` bytes (feed it the content)."""
    hasher = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)
    hasher.update(data)
    return hasher


def check_path(path: str, *, where: str = "listing") -> str:
    """``path`` if it is a safe relative path inside a tree; ListingError otherwise."""
    problem = path_problem(path)
    if problem is not None:
        raise ListingError(f"{where}: refused the path {path[:200]!r}: {problem}",
                           hint="The listing or archive is damaged or crafted; use an "
                           "unmodified upstream copy.")
    return path


def path_problem(path: str) -> str | None:
    """Why ``path`` is not a safe relative path (None: it is)."""
    if not path:
        return "it is empty"
    if len(path) > MAX_PATH:
        return f"it is longer than {MAX_PATH} characters"
    if _BAD_CHARS.search(path):
        return "it holds a control character or a backslash"
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return "it is absolute"
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "it has an empty, '.' or '..' component"
    return None


def check_link_target(target: str, *, where: str) -> str:
    """A symbolic link's target text, if it is plausible (relative, short, printable)."""
    if not target or len(target.encode("utf-8", "surrogatepass")) > MAX_LINK_TARGET:
        raise ListingError(f"{where}: a symbolic link target must be 1 to {MAX_LINK_TARGET} "
                           "bytes", hint="The listing or archive is damaged or crafted.")
    if _BAD_CHARS.search(target) or target.startswith("/") or re.match(r"^[A-Za-z]:", target):
        raise ListingError(f"{where}: the symbolic link target {target[:200]!r} is absolute "
                           "or holds a control character or a backslash",
                           hint="Links must point inside the tree; the listing or archive "
                           "is damaged or crafted.")
    return target


@dataclass(frozen=True)
class Entry:
    """One path of a repository at one commit."""

    path: str
    mode: str
    sha: str  # blob id (file, link) or commit (submodule)
    size: int | None = None
    target: str | None = None  # a link's target, when known

    @property
    def kind(self) -> str:
        """``file``, ``link`` or ``submodule``."""
        return MODES[self.mode]


@dataclass
class RepoListing:
    """A repository (``owner/name``) at ``commit``: its entries by path."""

    repo: str
    commit: str
    entries: dict[str, Entry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dirs: frozenset[str] = frozenset(_parents(self.entries))

    @classmethod
    def of(cls, repo: str, commit: str, entries: Iterable[Entry]) -> RepoListing:
        """A listing from entries; a path given twice is refused."""
        table: dict[str, Entry] = {}
        for entry in entries:
            if entry.path in table:
                raise ListingError(f"listing of {repo} at {commit[:12]}: {entry.path} is "
                                   "listed twice", hint="The listing is damaged or crafted.")
            table[entry.path] = entry
        listing = cls(repo, commit, table)
        clash = sorted(listing.dirs & set(table))
        if clash:
            raise ListingError(f"listing of {repo} at {commit[:12]}: {clash[0]} is both a file "
                               "and a folder", hint="The listing is damaged or crafted.")
        return listing


def _parents(paths: Iterable[str]) -> Iterator[str]:
    for path in paths:
        parts = path.split("/")
        for i in range(1, len(parts)):
            yield "/".join(parts[:i])


def _entry(mode: str, sha: str, size: str, path: str, target: str | None,
           where: str) -> Entry:
    if mode not in MODES:
        raise ListingError(f"{where}: unknown git mode {mode[:20]!r}",
                           hint="The listing is damaged or crafted.")
    if not SHA_RE.match(sha):
        raise ListingError(f"{where}: {sha[:50]!r} is not a 40-digit git object id",
                           hint="The listing is damaged or crafted.")
    if size != "-" and not (size.isdigit() and size.isascii() and len(size) <= 15):
        raise ListingError(f"{where}: size {size[:20]!r} is not a number",
                           hint="The listing is damaged or crafted.")
    check_path(path, where=where)
    if target is not None:
        if mode != "120000":
            raise ListingError(f"{where}: {path} has a link target but is not a link",
                               hint="The listing is damaged or crafted.")
        check_link_target(target, where=where)
    return Entry(path, mode, sha, None if size == "-" else int(size), target)


def _lines(text: str, where: str) -> Iterator[tuple[str, str]]:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            yield f"{where}:{number}", line
        if number > MAX_ENTRIES * 2:
            raise ListingError(f"{where}: more than {MAX_ENTRIES * 2} lines",
                               hint="The listing is damaged or crafted.")


def parse_ls_tree(text: str, *, where: str = "ls-tree") -> list[Entry]:
    """Entries of ``git ls-tree -r -l`` output (``MODE TYPE SHA SIZE<TAB>PATH``)."""
    found = []
    for at, line in _lines(text, where):
        meta, tab, path = line.partition("\t")
        fields = meta.split()
        expected = {"blob", "commit"}
        if not tab or len(fields) != 4 or fields[1] not in expected:
            raise ListingError(f"{at}: not a 'MODE TYPE SHA SIZE<TAB>PATH' line",
                               hint="The listing is damaged or crafted.")
        mode, kind, sha, size = fields
        if (kind == "commit") != (mode == "160000"):
            raise ListingError(f"{at}: type {kind} does not go with mode {mode}",
                               hint="The listing is damaged or crafted.")
        found.append(_entry(mode, sha, size, path, None, at))
    return found


def parse_links(text: str, *, where: str = "links") -> dict[str, str]:
    """``{path: target}`` from ``PATH -> TARGET`` lines."""
    links: dict[str, str] = {}
    for at, line in _lines(text, where):
        path, arrow, target = line.partition(" -> ")
        if not arrow:
            raise ListingError(f"{at}: not a 'PATH -> TARGET' line",
                               hint="The listing is damaged or crafted.")
        check_path(path, where=at)
        links[path] = check_link_target(target, where=at)
    return links


def with_links(entries: Iterable[Entry], links: dict[str, str], *, where: str) -> list[Entry]:
    """``entries`` with the link targets of ``links`` (every one must name a link entry whose
    blob id is the target text's)."""
    table = {entry.path: entry for entry in entries}
    for path, target in links.items():
        entry = table.get(path)
        if entry is None or entry.kind != "link":
            raise ListingError(f"{where}: {path} is not a symbolic link of the listing",
                               hint="The listing is damaged or crafted.")
        if git_blob_id(target.encode("utf-8", "surrogateescape")) != entry.sha:
            raise ListingError(f"{where}: the target {target!r} of {path} does not match its "
                               "blob id", hint="The listing is damaged or crafted.")
        table[path] = Entry(entry.path, entry.mode, entry.sha, entry.size, target)
    return list(table.values())


def parse_github_tree(body: bytes, *, where: str) -> tuple[list[Entry], bool]:
    """Entries of GitHub's ``git/trees`` JSON, and whether GitHub truncated the list.
    Folder (``tree``) entries are dropped: folders are implied by the paths."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ListingError(f"{where}: the tree listing is not JSON ({exc})",
                           hint="Check that the API URL serves GitHub's git/trees "
                           "listing.") from None
    if not isinstance(data, dict) or not isinstance(data.get("tree"), list):
        raise ListingError(f"{where}: the answer has no 'tree' list",
                           hint="Check that the API URL serves GitHub's git/trees listing.")
    items = data["tree"]
    if len(items) > MAX_ENTRIES:
        raise ListingError(f"{where}: more than {MAX_ENTRIES} entries",
                           hint="The listing is damaged or crafted.")
    found = [entry for n, item in enumerate(items)
             if (entry := _github_item(item, f"{where}: entry {n}")) is not None]
    return found, data.get("truncated") is True


def _github_item(item: object, at: str) -> Entry | None:
    if not isinstance(item, dict):
        raise ListingError(f"{at}: not an object", hint="The listing is damaged or crafted.")
    mode, kind, sha, path = (item.get(k) for k in ("mode", "type", "sha", "path"))
    if not all(isinstance(v, str) for v in (mode, kind, sha, path)):
        raise ListingError(f"{at}: mode, type, sha and path must be strings",
                           hint="The listing is damaged or crafted.")
    assert isinstance(mode, str) and isinstance(kind, str)
    assert isinstance(sha, str) and isinstance(path, str)
    wanted = {"blob": ("100644", "100755", "120000"), "commit": ("160000",),
              "tree": (TREE_MODE,)}
    if mode not in wanted.get(kind, ()):
        raise ListingError(f"{at}: type {kind[:20]!r} with mode {mode[:20]!r}",
                           hint="The listing is damaged or crafted.")
    if kind == "tree":
        check_path(path, where=at)
        return None
    size = item.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool)
                             or not 0 <= size < 1 << 50):
        raise ListingError(f"{at}: size must be a non-negative integer",
                           hint="The listing is damaged or crafted.")
    return _entry(mode, sha, "-" if size is None else str(size), path, None, at)


def parse_listing_file(text: str, *, where: str) -> list[RepoListing]:
    """The package's listing file: a header line, then per repository a
    ``repo<TAB>OWNER/NAME<TAB>COMMIT`` line and its ``MODE<TAB>SHA<TAB>SIZE<TAB>PATH[<TAB>
    TARGET]`` lines."""
    lines = list(_lines(text, where))
    if not lines or lines[0][1] != f"{LISTING_MAGIC}\t{LISTING_VERSION}":
        raise ListingError(f"{where}: not a {LISTING_MAGIC} {LISTING_VERSION} file",
                           hint="Reinstall rpiboot: its pinned listing is damaged.")
    repos: list[tuple[str, str, list[Entry]]] = []
    for at, line in lines[1:]:
        fields = line.split("\t")
        if fields[0] == "repo" and len(fields) == 3 and SHA_RE.match(fields[2]):
            repos.append((fields[1], fields[2], []))
        elif repos and len(fields) in (4, 5):
            target = fields[4] if len(fields) == 5 else None
            repos[-1][2].append(_entry(fields[0], fields[1], fields[2], fields[3], target, at))
        else:
            raise ListingError(f"{at}: not a listing line",
                               hint="Reinstall rpiboot: its pinned listing is damaged.")
    return [RepoListing.of(repo, commit, entries) for repo, commit, entries in repos]


def format_listing_file(listings: Iterable[RepoListing], comment: str = "") -> str:
    """The text :func:`parse_listing_file` reads back (entries sorted by path)."""
    out = [f"# {line}" for line in comment.splitlines()]
    out.append(f"{LISTING_MAGIC}\t{LISTING_VERSION}")
    for listing in listings:
        out.append(f"repo\t{listing.repo}\t{listing.commit}")
        for path in sorted(listing.entries):
            e = listing.entries[path]
            size = "-" if e.size is None else str(e.size)
            tail = f"\t{e.target}" if e.target is not None else ""
            out.append(f"{e.mode}\t{e.sha}\t{size}\t{e.path}{tail}")
    return "\n".join(out) + "\n"

"""Local usbboot trees for ``rpiboot firmware import``: a checkout (folder) or an archive.

Both are *views* (:mod:`rpiboot.fwstore.resolve`): links are read as text and resolved by
rpiboot inside the tree, never followed on the host's file system, so a link cannot reach
outside the tree.  An archive is indexed before anything is read, and refused whole when a
member is absolute, has a ``..`` component, a control character or a backslash in its name,
is a device or FIFO, appears twice, is a hard link to a member that is not an earlier file,
is a symbolic link leaving the tree, or when sizes or counts exceed the bounds below.  A
single top folder (``usbboot-<commit>/`` in GitHub's archives) is stripped.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

from rpiboot.errors import InputError
from rpiboot.fsutil import path_error
from rpiboot.fwstore.listing import SHA_RE, path_problem
from rpiboot.fwstore.resolve import Node

MAX_MEMBERS = 100_000
MAX_MEMBER_BYTES = 1 << 30
MAX_TOTAL_BYTES = 2 << 30
MAX_GIT_FILE = 1 << 16
_TAR_HINT = ("Use an unmodified archive of the usbboot repository (e.g. GitHub's "
             "usbboot-<commit>.tar.gz) or a checkout.")


class LocalTree(Protocol):
    label: str

    def lookup(self, path: str) -> Node | None: ...
    def below(self, folder: str) -> list[str]: ...
    def open(self, path: str) -> IO[bytes]: ...
    def sort_key(self, path: str) -> int: ...
    def commit_hint(self) -> str | None: ...


class DirTree:
    """A folder (a usbboot checkout); ``.git`` folders are not part of the view."""

    def __init__(self, root: Path) -> None:
        self.label = str(root)
        self.root = Path(os.path.realpath(root))

    def lookup(self, path: str) -> Node | None:
        if path_problem(path) is not None or ".git" in path.split("/"):
            return None
        try:
            info = os.lstat(self.root / path)
        except OSError:
            return None
        if stat.S_ISLNK(info.st_mode):
            try:
                target = os.readlink(self.root / path)
            except OSError:
                return Node("other", path)
            return Node("link", path, mode="120000", target=target)
        if stat.S_ISDIR(info.st_mode):
            return Node("dir", path)
        if stat.S_ISREG(info.st_mode):
            mode = "100755" if info.st_mode & stat.S_IXUSR else "100644"
            return Node("file", path, mode=mode, size=info.st_size)
        return Node("other", path)

    def below(self, folder: str) -> list[str]:
        found = []
        for dirpath, dirs, files in os.walk(self.root / folder):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            dirs[:] = [d for d in dirs if d != ".git"]
            links = [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]
            found += [f"{rel}/{name}" for name in (*files, *links)]
        return sorted(found)

    def open(self, path: str) -> IO[bytes]:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        try:
            return os.fdopen(os.open(self.root / path, flags), "rb")
        except OSError as exc:
            raise path_error(self.root / path, exc, doing="read") from None

    def sort_key(self, path: str) -> int:
        return 0

    def commit_hint(self) -> str | None:
        """The commit of the checkout's HEAD (``.git`` folder or ``gitdir:`` file)."""
        return git_head(self.root)


def _small(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_GIT_FILE).decode("utf-8", "replace")
    except OSError:
        return None


def git_head(root: Path) -> str | None:
    """The commit ``root``'s HEAD names, read from its git files (no git needed)."""
    gitdir = root / ".git"
    if gitdir.is_file():
        text = _small(gitdir) or ""
        if not text.startswith("gitdir:"):
            return None
        gitdir = (root / text[len("gitdir:"):].strip()).resolve()
    head = (_small(gitdir / "HEAD") or "").strip()
    if SHA_RE.match(head):
        return head
    if not head.startswith("ref: refs/") or ".." in head:
        return None
    ref = head[len("ref: "):]
    common = (_small(gitdir / "commondir") or "").strip()
    places = [gitdir] + ([(gitdir / common).resolve()] if common else [])
    for place in places:
        loose = (_small(place / ref) or "").strip()
        if SHA_RE.match(loose):
            return loose
        for line in (_small(place / "packed-refs") or "").splitlines():
            sha, _, name = line.partition(" ")
            if name.strip() == ref and SHA_RE.match(sha):
                return sha
    return None


class TarTree:
    """A tar archive (plain, gzip, bzip2 or xz), indexed and checked when opened."""

    def __init__(self, path: Path) -> None:
        self.label = str(path)
        self.path = path
        try:
            self.tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by close()
        except (tarfile.TarError, EOFError, ValueError) as exc:
            raise InputError(f"{path} is not a tar archive ({exc})", hint=_TAR_HINT) from None
        except OSError as exc:
            raise path_error(path, exc, doing="read") from None
        self.files: dict[str, tarfile.TarInfo] = {}
        self.links: dict[str, str] = {}
        self.dirs: set[str] = set()
        self.top = ""
        try:
            self._index()
        except BaseException:
            self.tar.close()
            raise

    def _refuse(self, name: str, why: str) -> InputError:
        return InputError(f"{self.label}: refused the archive: member {name[:200]!r} {why}",
                          hint=_TAR_HINT)

    def _index(self) -> None:
        members: list[tarfile.TarInfo] = []
        total = 0
        try:
            while (member := self.tar.next()) is not None:
                members.append(member)
                total += member.size if member.isreg() else 0
                if len(members) > MAX_MEMBERS:
                    raise self._refuse(member.name, f"is one more than {MAX_MEMBERS}")
                if member.isreg() and member.size > MAX_MEMBER_BYTES:
                    raise self._refuse(member.name, f"is larger than {MAX_MEMBER_BYTES} bytes")
                if total > MAX_TOTAL_BYTES:
                    raise self._refuse(member.name, f"takes the archive past {MAX_TOTAL_BYTES}"
                                       " bytes")
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            raise InputError(f"{self.label}: the archive is damaged ({exc})",
                             hint=_TAR_HINT) from None
        self.top = _common_top(members)
        for member in members:
            self._add(member, _strip(_clean(member.name), self.top))

    def _add(self, member: tarfile.TarInfo, name: str) -> None:
        problem = path_problem(name) if name else None
        if problem is not None or not _utf8(name):
            raise self._refuse(member.name, problem or "is not UTF-8")
        if not name:
            return
        if name in self.files or name in self.links or (name in self.dirs
                                                        and not member.isdir()):
            raise self._refuse(member.name, "appears twice")
        if member.isdir():
            self.dirs.add(name)
        elif member.isreg():
            self.files[name] = member
        elif member.issym():
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(name),
                                                       member.linkname))
            if member.linkname.startswith("/") or joined == ".." or joined.startswith("../"):
                raise self._refuse(member.name, f"links to {member.linkname!r}, outside the "
                                   "tree")
            self.links[name] = member.linkname
        elif member.islnk():
            target = self.files.get(_strip(_clean(member.linkname), self.top))
            if target is None:
                raise self._refuse(member.name, f"is a hard link to {member.linkname!r}, not "
                                   "an earlier file of the archive")
            self.files[name] = target
        else:
            raise self._refuse(member.name, "is a device, FIFO or other special file")
        self.dirs.update(_parents(name))

    def lookup(self, path: str) -> Node | None:
        if path in self.files:
            member = self.files[path]
            mode = "100755" if member.mode & stat.S_IXUSR else "100644"
            return Node("file", path, mode=mode, size=member.size)
        if path in self.links:
            return Node("link", path, mode="120000", target=self.links[path])
        return Node("dir", path) if path in self.dirs else None

    def below(self, folder: str) -> list[str]:
        prefix = f"{folder}/"
        return sorted(p for p in (*self.files, *self.links) if p.startswith(prefix))

    def open(self, path: str) -> IO[bytes]:
        handle = self.tar.extractfile(self.files[path])
        if handle is None:
            raise InputError(f"{self.label}: cannot read {path}", hint=_TAR_HINT)
        return handle

    def sort_key(self, path: str) -> int:
        member = self.files.get(path)
        return member.offset_data if member is not None else 0

    def commit_hint(self) -> str | None:
        """The commit in the pax header GitHub/git archive writes, or in the names."""
        comment = str(self.tar.pax_headers.get("comment", "")).strip()
        if SHA_RE.match(comment):
            return comment
        for text in (self.top, self.path.name):
            match = re.search(r"(?:^|-)([0-9a-f]{40})(?:\.tar(?:\.\w+)?|\.tgz)?$", text)
            if match:
                return match.group(1)
        return None

    def close(self) -> None:
        self.tar.close()


def _clean(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/") if name not in ("/",) else name


def _common_top(members: list[tarfile.TarInfo]) -> str:
    """The one top folder every member is in (or is), else ""."""
    firsts = {_clean(m.name).split("/", 1)[0] for m in members if _clean(m.name)}
    if len(firsts) != 1:
        return ""
    top = firsts.pop()
    alone = [m for m in members if _clean(m.name) == top]
    return top if all(m.isdir() for m in alone) and len(members) > len(alone) else ""


def _strip(name: str, top: str) -> str:
    if top and name == top:
        return ""
    return name[len(top) + 1:] if top and name.startswith(top + "/") else name


def _parents(path: str) -> Iterator[str]:
    parts = path.split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[:i])


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@contextlib.contextmanager
def open_tree(path: Path) -> Iterator[LocalTree]:
    """A checkout folder or an archive file as a :class:`LocalTree`."""
    if path.is_dir():
        yield DirTree(path)
        return
    if not path.exists():
        raise InputError(f"{path}: no such file or folder",
                         hint="Give a usbboot checkout (folder) or an archive of one.")
    tree = TarTree(path)
    try:
        yield tree
    finally:
        tree.close()

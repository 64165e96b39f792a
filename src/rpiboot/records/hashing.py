"""SHA-256 of the files a board was served, and which firmware set they came from.

A station serves the same files to hundreds of boards, so each file is hashed once per
(path, size, mtime) and the digest reused; a ``bootfiles.bin`` member (``source`` such as
``/fw/bootfiles.bin:2712/start4.elf``) is hashed from its bytes inside the archive.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rpiboot.errors import RpibootError

log = logging.getLogger(__name__)
CHUNK = 1 << 20


class FileHasher:
    """sha256 and git blob id of served files, cached by (path, member, size, mtime)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str | None, int, int], tuple[str, str]] = {}

    def digest(self, source: str) -> str | None:
        """The sha256 (hex) of what ``source`` names, or None when it cannot be read."""
        found = self._hashes(source)
        return found[0] if found else None

    def blob_id(self, path: Path) -> str | None:
        """The git blob id (sha1 of ``blob SIZE\\0`` + bytes) of a whole file, or None."""
        found = self._hashes(str(path))
        return found[1] if found else None

    def _hashes(self, source: str) -> tuple[str, str] | None:
        path, member = split_source(source)
        if path is None:
            return None
        try:
            stat = path.stat()
            key = (str(path.resolve()), member, stat.st_size, stat.st_mtime_ns)
            with self._lock:
                cached = self._cache.get(key)
            if cached is None:
                cached = _hash(path, member)
                with self._lock:
                    self._cache[key] = cached
            return cached
        except (OSError, ValueError, RpibootError) as exc:  # changed or damaged since
            log.warning("%s: not hashed for the record: %s", source, exc)
            return None


def split_source(source: str) -> tuple[Path | None, str | None]:
    """(file, archive member) of a FileServed ``source`` label."""
    if Path(source).is_file():
        return Path(source), None
    for at in (i for i, ch in enumerate(source) if ch == ":"):
        if Path(source[:at]).is_file():
            return Path(source[:at]), source[at + 1:]
    return None, None


def _hash(path: Path, member: str | None) -> tuple[str, str]:
    if member is not None:
        from rpiboot.sources import tar_index

        found = tar_index(path).find(member)
        if found is None:
            raise ValueError(f"no member {member}")
        offset, size = found.offset, found.size
    else:
        offset, size = 0, path.stat().st_size
    sha256 = hashlib.sha256()
    blob = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
    with open(path, "rb") as handle:
        handle.seek(offset)
        left = size
        while left > 0:
            data = handle.read(min(CHUNK, left))
            if not data:
                raise ValueError(f"{path}: ended {left} bytes early")
            sha256.update(data)
            blob.update(data)
            left -= len(data)
    return sha256.hexdigest(), blob.hexdigest()


def files_digest(files: Iterable[Mapping[str, Any]]) -> str:
    """sha256 over the sorted ``"name sha256"`` lines of the files served (the record's
    firmware digest: the same files give the same digest on every station)."""
    lines = sorted({f"{f['name']} {f.get('sha256') or '-'}" for f in files})
    return hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()


def firmware_set(files: list[dict[str, Any]], hasher: FileHasher,
                 sets_root: Path | None) -> dict[str, Any]:
    """``{"set", "verified", "digest"}``: the installed firmware set (rpiboot firmware) the
    files came from, verified when every file still has the blob its manifest names; else
    the folder they were served from (unverified)."""
    sources = [split_source(str(f.get("source") or ""))[0] for f in files]
    paths = [p for p in sources if p is not None]
    digest = files_digest(files)
    if not paths:
        return {"set": None, "verified": False, "digest": digest}
    set_name, verified = _from_store(paths, hasher, sets_root)
    if set_name is None:
        folders = sorted({str(p.parent) for p in paths})
        return {"set": folders[0] if len(folders) == 1 else ";".join(folders),
                "verified": False, "digest": digest}
    return {"set": set_name, "verified": verified, "digest": digest}


def _from_store(paths: list[Path], hasher: FileHasher,
                sets_root: Path | None) -> tuple[str | None, bool]:
    if sets_root is None:
        return None, False
    try:
        root = sets_root.resolve()
        rel = [p.resolve().relative_to(root) for p in paths]
    except (OSError, ValueError):
        return None, False
    names = {r.parts[0] for r in rel if r.parts}
    if len(names) != 1:
        return None, False
    name = names.pop()
    try:
        from rpiboot.fwstore.manifest import read_manifest

        manifest = read_manifest(root / name)
    except RpibootError:  # no or a damaged manifest: the set cannot vouch for the files
        return name, False
    ok = manifest.verified and all(
        (entry := manifest.files.get(Path(*r.parts[1:]).as_posix())) is not None
        and hasher.blob_id(root / r) == entry.blob for r in rel)
    return name, ok

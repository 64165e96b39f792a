"""The bytes of one file or member, read within limits.

A file is opened without blocking (a FIFO or a device is refused before anything is read),
its first :attr:`Limits.head` bytes are kept to identify and describe it, and the rest is only
hashed (in chunks, never held in memory) when the file is not larger than
:attr:`Limits.hash`.  Archive and image members are read whole only up to
:attr:`Limits.member` bytes.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from rpiboot.errors import InputError
from rpiboot.fwinfo.model import FirmwareInfo

MIB = 1024 * 1024
CHUNK = 1 * MIB


@dataclass(frozen=True)
class Limits:
    """How much is read, hashed and described (every walk is bounded by these)."""

    head: int = 8 * MIB  # bytes of a file kept to identify it (start4x.elf: ~3.7 MB)
    hash: int = 256 * MIB  # files up to this size get a sha256 (larger: sha256 is null)
    member: int = 8 * MIB  # archive / boot.img members larger than this are listed, not read
    members: int = 64  # members described per archive or boot.img
    entries: int = 512  # files described per directory
    text: int = 256 * 1024  # bytes of a config.txt / boot.conf / cmdline.txt read


DEFAULT_LIMITS = Limits()


@dataclass
class Blob:
    """One file's (or member's) name, size and first bytes."""

    name: str  # base name, as the board would ask for it ("bootcode4.bin")
    label: str  # for messages and ``path``: a path, or "ARCHIVE:MEMBER"
    size: int
    head: bytes  # the first min(size, limit) bytes
    sha256: str | None  # None when the file was too large to hash
    path: Path | None = None  # the real file, for readers that seek (FAT, tar)
    prefix: str | None = None  # "2711" for a bootfiles.bin member 2711/NAME
    member: str | None = None  # its name inside an archive or image ("2711/bootcode4.bin")

    @property
    def lower(self) -> str:
        return self.name.lower()


def blob_from_bytes(member: str, label: str, data: bytes, *, prefix: str | None = None) -> Blob:
    """A member (``member``: its name in the archive or image) already read into memory."""
    name = member.rstrip("/").rsplit("/", 1)[-1]
    return Blob(name, label, len(data), data, hashlib.sha256(data).hexdigest(), prefix=prefix,
                member=member)


def open_regular(path: Path) -> int:
    """A read-only descriptor of ``path``; InputError unless it is a regular file.  Opened
    non-blocking, so a FIFO never hangs the caller (it is refused like a device)."""
    from rpiboot.fspaths import path_error

    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise path_error(path, exc, doing="read") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a device, FIFO or socket)"
        raise InputError(f"{path}: {what}", hint="Name a firmware file or a boot folder.")
    return fd


def read_blob(path: Path, limits: Limits = DEFAULT_LIMITS, *, label: str | None = None) -> Blob:
    """Read ``path``: its first ``limits.head`` bytes, and its sha256 when it is small enough."""
    from rpiboot.fspaths import path_error

    fd = open_regular(path)
    try:
        with os.fdopen(fd, "rb", buffering=0) as handle:
            size = os.fstat(handle.fileno()).st_size
            head = _read_exactly(handle, min(size, limits.head))
            if len(head) < min(size, limits.head):  # it shrank while being read
                size = len(head)
            digest = hashlib.sha256(head) if size <= limits.hash else None
            if digest is not None:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
    except OSError as exc:
        raise path_error(path, exc, doing="read") from None
    return Blob(path.name, label or str(path), size, head,
                digest.hexdigest() if digest is not None else None, path=path)


def _read_exactly(handle: BinaryIO, count: int) -> bytes:
    """Up to ``count`` bytes (a file that shrinks while being read gives fewer)."""
    parts: list[bytes] = []
    left = count
    while left > 0:
        chunk = handle.read(min(left, CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


@dataclass(frozen=True)
class Context:
    """How deep a description is, its limits, and how to describe a member (injected by
    :mod:`rpiboot.fwinfo.describe`, so the archive and image readers need not import it)."""

    limits: Limits = DEFAULT_LIMITS
    depth: int = 0  # 0: a file named or in the folder; 1: a member of an archive or image
    describe: Callable[[Blob, Context], FirmwareInfo] | None = None

    def member(self) -> Context:
        return replace(self, depth=self.depth + 1)

    def describe_member(self, blob: Blob) -> FirmwareInfo:
        assert self.describe is not None
        return self.describe(blob, self.member())


def new_info(blob: Blob, kind: str, role: str) -> FirmwareInfo:
    """A description of ``blob`` with its identity filled in."""
    return FirmwareInfo(path=blob.label, name=blob.member or blob.name, kind=kind, role=role,
                        size=blob.size, sha256=blob.sha256)


def file_sha256(path: Path, limits: Limits) -> str | None:
    """SHA-256 of a regular file read in chunks; None when it is larger than ``limits.hash``."""
    from rpiboot.fspaths import path_error

    fd = open_regular(path)
    try:
        with os.fdopen(fd, "rb", buffering=0) as handle:
            if os.fstat(handle.fileno()).st_size > limits.hash:
                return None
            digest = hashlib.sha256()
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise path_error(path, exc, doing="read") from None
    return digest.hexdigest()

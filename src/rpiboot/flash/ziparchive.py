"""The one image inside a zip archive, streamed (stored or deflated members).

The central directory is read whole by :mod:`zipfile`, so its size is checked first from
the end-of-central-directory record (:data:`MAX_DIRECTORY`).  Members that are folders,
macOS resource forks, hidden files or well-known side files (checksums, signatures, bmaps,
text) are not candidates; exactly one candidate must remain.  The member's data is read
through :mod:`zipfile`, which bounds each decompression step by the size asked for and
checks the CRC-32 at the end; the size the archive announced is checked too.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

from rpiboot.errors import InputError
from rpiboot.fspaths import path_error

MAX_DIRECTORY = 16 << 20  # bytes of central directory: ~150,000 members
SIDE_FILES = (".bmap", ".sha256", ".sha1", ".md5", ".sha512", ".sig", ".asc", ".gpg",
              ".txt", ".md", ".json", ".xml", ".html", ".pdf", ".url", ".sums")
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
_METHOD_NAMES = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma", 9: "deflate64",
                 93: "zstd", 95: "xz", 98: "ppmd", 99: "AES encryption"}


class ZipImage:
    """The chosen member of an open archive: ``stream`` reads its (uncompressed) bytes."""

    def __init__(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> None:
        self._archive = archive
        self.member = info.filename
        self.size = info.file_size
        self.compressed_size = info.compress_size
        self._label = f"{label}:{info.filename}"
        self._member: Any = archive.open(info)  # a ZipExtFile: readinto() works
        self._done = 0
        self.stream = self

    def readinto(self, buffer: memoryview) -> int:
        try:
            got: int = self._member.readinto(buffer)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise InputError(f"{self._label}: damaged zip data at image offset {self._done}: "
                             f"{exc}", hint="The archive is damaged: fetch it again.") from None
        self._done += got
        if not got and self._done != self.size:
            raise InputError(f"{self._label}: the member ends at byte {self._done}, the archive "
                             f"announced {self.size}", hint="The archive is damaged.")
        return got

    def close(self) -> None:
        self._member.close()
        self._archive.close()


def open_zip_member(path: Path, label: str) -> ZipImage:
    """The one image in the zip archive at ``path``; InputError listing the candidates when
    there are none or several."""
    try:
        _check_directory_size(path, label)
        archive = zipfile.ZipFile(path)
    except OSError as exc:
        raise path_error(path, exc, doing="read the image") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise InputError(f"{label}: not a readable zip archive: {exc}",
                         hint="The archive is damaged or incomplete: fetch it again.") from None
    try:
        info = _choose(archive, label)
        _check_method(info, label)
        return ZipImage(archive, info, label)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        archive.close()
        raise InputError(f"{label}: cannot read the image in the archive: {exc}",
                         hint="The archive is damaged: fetch it again.") from None
    except BaseException:
        archive.close()
        raise


def image_candidates(names: list[str]) -> list[str]:
    """The member names that may be the image (see the module's docstring)."""
    found = []
    for name in names:
        base = name.rsplit("/", 1)[-1]
        if (name.endswith("/") or name.startswith("__MACOSX/") or not base
                or base.startswith(".") or base.lower().endswith(SIDE_FILES)):
            continue
        found.append(name)
    return found


def _choose(archive: zipfile.ZipFile, label: str) -> zipfile.ZipInfo:
    infos = {info.filename: info for info in archive.infolist()}
    candidates = image_candidates(list(infos))
    if len(candidates) == 1:
        return infos[candidates[0]]
    if not candidates:
        listed = ", ".join(infos) or "nothing"
        raise InputError(f"{label}: no image in the zip archive (it holds {listed})",
                         hint="Name the image file itself, or an archive holding one image.")
    listed = ", ".join(f"{name} ({infos[name].file_size} bytes)" for name in candidates)
    raise InputError(f"{label}: the zip archive holds several files that may be the image: "
                     f"{listed}", hint="Extract the one to flash (unzip FILE.zip NAME) and "
                     "name it, or stream it: unzip -p FILE.zip NAME | rpiboot flash -")


def _check_method(info: zipfile.ZipInfo, label: str) -> None:
    if info.flag_bits & 1:
        raise InputError(f"{label}: {info.filename} is encrypted in the archive",
                         hint="Extract it with its password first, then flash the image.")
    if info.compress_type not in _METHODS:
        method = _METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
        raise InputError(f"{label}: {info.filename} is compressed with {method} in the "
                         "archive; rpiboot reads stored and deflated zip members",
                         hint="Extract it first (unzip, or 7z x), or stream it: "
                         "7z e -so FILE.zip | rpiboot flash -")


def _check_directory_size(path: Path, label: str) -> None:
    """Refuse an archive whose central directory (read whole by zipfile) is too large."""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        tail_start = max(0, size - (22 + 0xFFFF))
        handle.seek(tail_start)
        tail = handle.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            return  # zipfile says what is wrong
        directory = struct.unpack_from("<I", tail, at + 12)[0]
        locator = at - 20
        if directory == 0xFFFFFFFF and locator >= 0 and tail[locator:locator + 4] == \
                b"PK\x06\x07":
            record = struct.unpack_from("<Q", tail, locator + 8)[0]
            handle.seek(record)
            zip64 = handle.read(56)
            if len(zip64) == 56 and zip64.startswith(b"PK\x06\x06"):
                directory = struct.unpack_from("<Q", zip64, 40)[0]
    if directory > MAX_DIRECTORY:
        raise InputError(f"{label}: the zip archive's directory is {directory} bytes, more than "
                         f"rpiboot reads ({MAX_DIRECTORY})",
                         hint="Extract the image first (unzip), then flash it.")

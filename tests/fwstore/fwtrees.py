"""usbboot-like trees for the import tests, made of the real files of ../shared/firmware
(copied into the test's temporary folder only): a checkout with symbolic links and a
``.git`` HEAD, and archives of it laid out like GitHub's."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from fwsite import EEPROM, PINNED, PINNED_EEPROM, USBBOOT, Site


def make_checkout(site: Site, dest: Path, *, commit: str = PINNED, eeprom: bool = True,
                  git: bool = True, symlinks: bool = True) -> Path:
    """usbboot at ``commit`` (files ../shared has), its rpi-eeprom submodule (``eeprom``),
    ``.git/HEAD`` (``git``); ``symlinks=False``: links as text files (git without symlink
    support, e.g. on Windows)."""
    entries = site.trees[(USBBOOT, commit)]
    for e in entries:
        body = site.body(USBBOOT, commit, e.path)
        if body is None or e.mode == "160000":
            continue
        path = dest / e.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if e.mode == "120000" and symlinks:
            os.symlink(body.decode(), path)
        else:
            path.write_bytes(body)
            if e.mode == "100755":
                path.chmod(0o755)
    if eeprom:
        for e in site.trees[(EEPROM, PINNED_EEPROM)]:
            body = site.body(EEPROM, PINNED_EEPROM, e.path)
            if body is not None:
                path = dest / "rpi-eeprom" / e.path
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(body)
    else:
        (dest / "rpi-eeprom").mkdir(parents=True, exist_ok=True)
    if git:
        (dest / ".git" / "refs" / "heads").mkdir(parents=True)
        (dest / ".git" / "HEAD").write_text("ref: refs/heads/master\n")
        (dest / ".git" / "refs" / "heads" / "master").write_text(commit + "\n")
    return dest


def make_tarball(tree: Path, dest: Path, top: str, *, comment: str | None = None) -> Path:
    """``tree`` (without ``.git``) as a gzip'd tar under ``top/``, like GitHub's archives
    (``comment``: the commit in the pax global header, as ``git archive`` writes it)."""
    headers = {"comment": comment} if comment else {}
    with tarfile.open(dest, "w:gz", format=tarfile.PAX_FORMAT, pax_headers=headers) as tar:
        tar.add(tree, arcname=top, filter=lambda info: None if "/.git" in info.name
                or info.name.endswith(".git") else info)
    return dest


def hostile_tarball(dest: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    """A tar of hand-made members (names and types as given, nothing checked)."""
    with tarfile.open(dest, "w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return dest


def member(name: str, kind: bytes = tarfile.REGTYPE, *, link: str = "",
           mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = mode
    return info

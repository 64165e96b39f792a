"""``rpiboot flash``: boot boards, follow each to its mass-storage gadget, write an image.

Public names are imported on first use (``from rpiboot.flash import LinuxDiskFinder``):

* disks: :class:`Disk`, :class:`DiskFinder`, :class:`LinuxDiskFinder`,
  :func:`select_target` (:mod:`rpiboot.flash.disks`), :func:`default_finder`;
  :class:`MacDiskFinder`, :class:`WindowsDiskFinder` (recorded outputs only, see
  docs/flash-disks.md);
* safety: :func:`open_for_writing`, :class:`OpenedDisk`, :class:`WriteRefused`
  (:mod:`rpiboot.flash.safety`);
* images: :func:`open_image`, :class:`ImageSource` (:mod:`rpiboot.flash.image`),
  :func:`load_bmap`, :func:`find_bmap`, :class:`BlockMap` (:mod:`rpiboot.flash.bmap`),
  :func:`write_image`, :func:`verify_image`, :class:`WriteResult`, :class:`VerifyResult`,
  :class:`VerifyMismatch` (:mod:`rpiboot.flash.writer`);
* per-board files: :func:`customize_disk`, :class:`CustomizedFile`, :func:`board_fields`
  (:mod:`rpiboot.flash.customize`), :class:`FatEditor` (:mod:`rpiboot.flash.fat_edit`).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:  # the names below, for type checkers and IDEs (re-exported)
    from typing import Any

    from rpiboot.flash.bmap import BlockMap as BlockMap
    from rpiboot.flash.bmap import find_bmap as find_bmap
    from rpiboot.flash.bmap import load_bmap as load_bmap
    from rpiboot.flash.customize import CustomizedFile as CustomizedFile
    from rpiboot.flash.customize import board_fields as board_fields
    from rpiboot.flash.customize import customize_disk as customize_disk
    from rpiboot.flash.disks import Disk as Disk
    from rpiboot.flash.disks import DiskFinder as DiskFinder
    from rpiboot.flash.disks import LinuxDiskFinder as LinuxDiskFinder
    from rpiboot.flash.disks import select_target as select_target
    from rpiboot.flash.fat_edit import FatEditor as FatEditor
    from rpiboot.flash.finder import default_finder as default_finder
    from rpiboot.flash.image import ImageSource as ImageSource
    from rpiboot.flash.image import open_image as open_image
    from rpiboot.flash.platform_macos import MacDiskFinder as MacDiskFinder
    from rpiboot.flash.platform_windows import WindowsDiskFinder as WindowsDiskFinder
    from rpiboot.flash.safety import OpenedDisk as OpenedDisk
    from rpiboot.flash.safety import WriteRefused as WriteRefused
    from rpiboot.flash.safety import open_for_writing as open_for_writing
    from rpiboot.flash.writer import VerifyMismatch as VerifyMismatch
    from rpiboot.flash.writer import VerifyResult as VerifyResult
    from rpiboot.flash.writer import WriteResult as WriteResult
    from rpiboot.flash.writer import verify_image as verify_image
    from rpiboot.flash.writer import write_image as write_image

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "Disk": "rpiboot.flash.disks",
    "DiskFinder": "rpiboot.flash.disks",
    "LinuxDiskFinder": "rpiboot.flash.disks",
    "select_target": "rpiboot.flash.disks",
    "default_finder": "rpiboot.flash.finder",
    "MacDiskFinder": "rpiboot.flash.platform_macos",
    "WindowsDiskFinder": "rpiboot.flash.platform_windows",
    "open_for_writing": "rpiboot.flash.safety",
    "OpenedDisk": "rpiboot.flash.safety",
    "WriteRefused": "rpiboot.flash.safety",
    "ImageSource": "rpiboot.flash.image",
    "open_image": "rpiboot.flash.image",
    "BlockMap": "rpiboot.flash.bmap",
    "find_bmap": "rpiboot.flash.bmap",
    "load_bmap": "rpiboot.flash.bmap",
    "VerifyMismatch": "rpiboot.flash.writer",
    "VerifyResult": "rpiboot.flash.writer",
    "WriteResult": "rpiboot.flash.writer",
    "verify_image": "rpiboot.flash.writer",
    "write_image": "rpiboot.flash.writer",
    "customize_disk": "rpiboot.flash.customize",
    "CustomizedFile": "rpiboot.flash.customize",
    "board_fields": "rpiboot.flash.customize",
    "FatEditor": "rpiboot.flash.fat_edit",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rpiboot.flash' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

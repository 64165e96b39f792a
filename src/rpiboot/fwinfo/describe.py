"""``describe_firmware(path)``: one file, or a folder with every file in it and a verdict."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from rpiboot.errors import RpibootError
from rpiboot.fwinfo import model
from rpiboot.fwinfo.blob import DEFAULT_LIMITS, Blob, Context, Limits, new_info, read_blob
from rpiboot.fwinfo.identify import identify
from rpiboot.fwinfo.model import ERROR, FirmwareInfo


def _describers() -> dict[str, Callable[[Blob, Context], FirmwareInfo]]:
    from rpiboot.fwinfo import archive, bootimage, configs, eeprom, signed, stages, videocore

    return {
        model.SECOND_STAGE: lambda b, c: stages.describe_second_stage(b),
        model.BOOTLOADER_STAGE: lambda b, c: stages.describe_bootmain(b),
        model.BOOTLOADER_BLOB: lambda b, c: stages.describe_bootloader_blob(b),
        model.VIDEOCORE_FIRMWARE: lambda b, c: videocore.describe_start_elf(b),
        model.FIXUP: lambda b, c: videocore.describe_fixup(b),
        model.EEPROM_IMAGE: lambda b, c: eeprom.describe_eeprom(b),
        model.BOOT_IMAGE: bootimage.describe_boot_image,
        model.BOOTFILES_ARCHIVE: archive.describe_bootfiles,
        model.CONFIG_TXT: lambda b, c: configs.describe_config_txt(b, c.limits.text),
        model.BOOTLOADER_CONFIG: lambda b, c: configs.describe_boot_conf(b, c.limits.text),
        model.CMDLINE: lambda b, c: configs.describe_cmdline(b, c.limits.text),
        model.SIGNATURE_FILE: lambda b, c: signed.describe_sig(b, c.limits),
        model.KEY: lambda b, c: signed.describe_key(b),
        model.DEVICE_TREE: lambda b, c: videocore.describe_device_tree(b),
        model.ELF: lambda b, c: videocore.describe_elf(b),
        model.UNKNOWN: lambda b, c: videocore.describe_unknown(b),
    }


def describe_blob(blob: Blob, ctx: Context) -> FirmwareInfo:
    """Identify ``blob`` and describe it; raises InputError when it is damaged."""
    return _describers()[identify(blob)](blob, ctx)


def describe_captured(blob: Blob, ctx: Context) -> FirmwareInfo:
    """Like :func:`describe_blob`, but a damaged file becomes a description with its ``error``
    (and an error problem) instead of an exception: one bad file in a folder or archive does
    not hide the others."""
    kind = identify(blob)
    try:
        return _describers()[kind](blob, ctx)
    except RpibootError as err:  # InputError; PermissionDenied for a file beside it
        return damaged(blob, kind, err)


def damaged(blob: Blob, kind: str, err: RpibootError) -> FirmwareInfo:
    info = new_info(blob, kind, f"damaged or unreadable ({kind})")
    info.error = err.message
    info.problem(ERROR, err.message, err.hint or "Replace the file with a good copy.")
    return info


def describe_firmware(path: str | os.PathLike[str], *,
                      limits: Limits = DEFAULT_LIMITS) -> FirmwareInfo:
    """Describe a firmware file, or a boot folder and every file in it.

    Any bytes give a description or an :class:`~rpiboot.errors.InputError` naming the file
    (and, for a damaged structure, the offset); in a folder, a damaged file is described with
    its ``error`` instead.  Reading is bounded by ``limits``.
    """
    target = Path(path)
    ctx = Context(limits=limits, describe=describe_captured)
    if target.is_dir():
        from rpiboot.fwinfo.folder import describe_folder

        return describe_folder(target, ctx)
    return describe_blob(read_blob(target, limits), ctx)

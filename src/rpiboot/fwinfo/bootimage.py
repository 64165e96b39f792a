"""boot.img (the FAT ramdisk a ``boot_ramdisk=1`` bootloader loads): its file system, what it
boots (kernel, cmdline.txt, config.txt, start*.elf), the firmware files in it described one by
one (bounded), and its boot.sig.

A boot.img is read with :class:`rpiboot.bootimg.reader.FatImage` (bounded walks; a damaged or
crafted image is an InputError naming the image).  Its signature is the ``.sig`` beside it:
the sha256 line must be the image's, and the rsa2048 line is checked with the key files
(*.pem) of the same folder.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import TYPE_CHECKING

from rpiboot.fwinfo.blob import Blob, Context, blob_from_bytes, new_info
from rpiboot.fwinfo.model import BOOT_IMAGE, ERROR, FirmwareInfo, SignatureInfo

if TYPE_CHECKING:
    from rpiboot.bootimg.reader import FatEntry, FatImage

MAX_ENTRIES = 4096  # entries walked (a boot partition holds a few hundred)
MAX_LISTED = 256  # file paths listed in details
KERNEL = re.compile(r"(kernel\w*\.img|image(\.gz)?|zimage|vmlinuz[\w.-]*)", re.I)
FIRMWARE = re.compile(r"start\w*\.elf", re.I)
DESCRIBED = re.compile(r"(start\w*\.elf|fixup\w*\.dat|bootcode\d?\.bin|config\.txt|"
                       r"cmdline\.txt|bootmain)", re.I)


def _open(blob: Blob) -> FatImage:
    from rpiboot.bootimg.reader import FatImage, find_partition
    from rpiboot.errors import InputError

    if blob.path is not None:
        return FatImage.open(blob.path)
    try:  # a member: always read whole (limits.member)
        offset = find_partition(blob.head[:512], None)
    except InputError as err:
        raise InputError(f"{blob.label}: {err.message}", hint=err.hint) from None
    return FatImage(io.BytesIO(blob.head), offset=offset, name=blob.label)


def describe_boot_image(blob: Blob, ctx: Context) -> FirmwareInfo:
    """A FAT boot image (raises InputError for a damaged one)."""
    info = new_info(blob, BOOT_IMAGE, "boot image (FAT ramdisk loaded with boot_ramdisk=1)")
    with _open(blob) as image:
        entries = _entries(image)
        files = [e for e in entries if not e.is_dir]
        g = image.geometry
        info.details = {
            "fat_type": g.fat_type, "image_bytes": g.image_bytes,
            "label": image.volume_label(), "volume_id": f"{image.volume_id:08X}",
            "file_count": len(files), "files": [e.path for e in files[:MAX_LISTED]],
            "kernel": next((e.path for e in files if KERNEL.fullmatch(e.name)), None),
            "firmware": [e.path for e in files if FIRMWARE.fullmatch(e.name)][:MAX_LISTED],
            "cmdline": any(e.path.lower() == "cmdline.txt" for e in files),
            "config": any(e.path.lower() == "config.txt" for e in files),
        }
        if len(entries) >= MAX_ENTRIES:
            info.notes.append(f"only the first {MAX_ENTRIES} entries were read")
        if ctx.depth == 0:
            info.members = _members(image, files, blob, ctx)
    if blob.path is not None:
        info.signature = image_signature(info, blob.path, blob.sha256)
    return info


def _entries(image: FatImage) -> list[FatEntry]:
    entries: list[FatEntry] = []
    for entry in image.walk():
        entries.append(entry)
        if len(entries) >= MAX_ENTRIES:
            break
    return entries


def _members(image: FatImage, files: list[FatEntry], blob: Blob,
             ctx: Context) -> list[FirmwareInfo]:
    """The firmware files in the image, each described (at most ``limits.members``)."""
    from rpiboot.fwinfo.model import UNKNOWN

    members: list[FirmwareInfo] = []
    for entry in [e for e in files if DESCRIBED.fullmatch(e.name)][:ctx.limits.members]:
        label = f"{blob.label}:{entry.path}"
        if entry.size > ctx.limits.member:
            members.append(FirmwareInfo(path=label, name=entry.path, kind=UNKNOWN,
                                        role="not read: larger than the member limit",
                                        size=entry.size))
            continue
        members.append(ctx.describe_member(blob_from_bytes(entry.path, label,
                                                           image.read_file(entry))))
    return members


def image_signature(info: FirmwareInfo, image: Path, sha256: str | None) -> SignatureInfo:
    """The boot.sig beside ``image``: present, matching, verified by a key of the folder."""
    from rpiboot.errors import InputError
    from rpiboot.fwinfo.signed import verifying_keys
    from rpiboot.signing.sigfile import read_sig

    sig_path = image.with_suffix(".sig")
    if not sig_path.is_file():
        return SignatureInfo(format="none", signed=False, rpi_signature="not-applicable",
                             detail=f"no {sig_path.name} beside it: a secure-boot board "
                             "refuses it")
    try:
        sig = read_sig(sig_path)
    except InputError as err:
        info.problem(ERROR, err.message, f"Sign the image again (rpiboot sign file {image.name} "
                     "-k KEY).")
        return SignatureInfo(format="sig-file", signed=False, rpi_signature="not-applicable",
                             detail=f"{sig_path.name} is malformed")
    result = SignatureInfo(format="sig-file", signed=sig.rsa2048 is not None,
                           rpi_signature="not-applicable")
    if sha256 is None:
        result.detail = f"{sig_path.name}: not checked (the image is larger than the hash limit)"
    elif sha256 != sig.sha256:
        result.detail = f"{sig_path.name} does not match: its sha256 line is another file's"
        info.problem(ERROR, f"{sig_path.name} does not match {image.name} (sha256 differs): a "
                     "secure-boot board refuses the image", f"Sign it again (rpiboot sign file "
                     f"{image.name} -k KEY).")
    else:
        keys = verifying_keys(image.parent, sha256, sig.rsa2048) if sig.rsa2048 else []
        verified = f"; rsa2048 verifies with {', '.join(keys)}" if keys else ""
        result.detail = f"{sig_path.name}: sha256 matches{verified}"
    return result

"""VideoCore firmware (start*.elf) and its fixup*.dat; other ELF files; device trees.

A start*.elf is an ELF for the VideoCore (``e_machine`` 137) that carries
``VC_BUILD_ID_VERSION``; its version, date, branch and variant come from those strings
(:mod:`rpiboot.fwinfo.builds`).  Which chip it is for is not in the file: the name tells
(``start4*.elf`` for BCM2711, ``start*.elf`` for BCM2835/BCM2837; BCM2712 has none).  A
fixup*.dat carries no version at all: its name is all there is.
"""

from __future__ import annotations

import struct

from rpiboot.chips import CHIPS
from rpiboot.fwinfo import chipsets
from rpiboot.fwinfo.blob import Blob, new_info
from rpiboot.fwinfo.builds import start_variant, videocore_build
from rpiboot.fwinfo.model import (
    BASIS_FILE_NAME,
    DEVICE_TREE,
    ELF,
    FIXUP,
    UNKNOWN,
    VIDEOCORE_FIRMWARE,
    FirmwareInfo,
)

EM_VIDEOCORE3 = 137
MACHINES = {EM_VIDEOCORE3: "VideoCore", 40: "ARM", 183: "AArch64", 62: "x86-64", 3: "x86"}
DTB_MAGIC = b"\xd0\x0d\xfe\xed"
VARIANTS = {  # what each start*.elf variant is (Raspberry Pi config.txt documentation)
    "": "standard firmware",
    "x": "with camera support and extra codecs (start_x=1)",
    "cd": "cut-down: no GPU features (gpu_mem=16)",
    "db": "debug build",
}


def elf_machine(head: bytes) -> int | None:
    """The ``e_machine`` of an ELF header (None if ``head`` is not one)."""
    if len(head) < 20 or head[:4] != b"\x7fELF" or head[5] not in (1, 2):
        return None
    return int(struct.unpack_from("<H" if head[5] == 1 else ">H", head, 18)[0])


def variant_text(variant: str) -> str:
    flavour = variant.removeprefix("start").lstrip("4_")
    return VARIANTS.get(flavour, "variant")


def _chips_by_name(info: FirmwareInfo, name: str) -> None:
    """The chips whose msd/ VideoCore firmware (chip table ``msd_files``) has the longest stem
    that starts the variant: ``start4x`` → the chips of ``start4.elf``."""
    variant = start_variant(name)
    if variant is None:
        return
    stems = {chip.family: firmware.rsplit(".", 1)[0] for chip in CHIPS.values()
             for firmware in chip.msd_files[1:]}
    fitting = {family: stem for family, stem in stems.items() if variant.startswith(stem)}
    longest = max((len(stem) for stem in fitting.values()), default=0)
    info.chips = chipsets.families(chipsets.by_families(
        family for family, stem in fitting.items() if len(stem) == longest))
    info.chip_basis = BASIS_FILE_NAME if info.chips else None


def describe_start_elf(blob: Blob) -> FirmwareInfo:
    """start*.elf: the VideoCore firmware the second stage loads."""
    build = videocore_build(blob.head, blob.name)
    variant = build.variant if build is not None else None
    role = "VideoCore firmware (start*.elf)"
    if variant:
        role = f"VideoCore firmware {variant}.elf: {variant_text(variant)}"
    info = new_info(blob, VIDEOCORE_FIRMWARE, role)
    info.build = build
    _chips_by_name(info, blob.name)
    info.details = {"fixup": None}
    if variant:
        fixup = variant.replace("start", "fixup", 1) + ".dat"
        info.details["fixup"] = fixup
        info.notes.append(f"the board asks for {fixup} with it (the memory-split relocation data)")
    if not info.chips:
        info.notes.append("its chip is not recorded in the file, and the name is not a "
                          "start*.elf name")
    return info


def describe_fixup(blob: Blob) -> FirmwareInfo:
    """fixup*.dat: carries no version; the start*.elf it goes with comes from its name."""
    variant = start_variant(blob.name) or "start"
    info = new_info(blob, FIXUP, f"relocation data for {variant}.elf (memory split)")
    info.details = {"start_elf": f"{variant}.elf"}
    _chips_by_name(info, blob.name)
    info.notes.append("identified by its name only (a fixup file carries no version)")
    return info


def describe_elf(blob: Blob) -> FirmwareInfo:
    machine = elf_machine(blob.head)
    name = MACHINES.get(machine or -1, f"machine {machine}")
    info = new_info(blob, ELF, f"ELF executable for {name}")
    info.details = {"machine": name}
    return info


def describe_device_tree(blob: Blob) -> FirmwareInfo:
    info = new_info(blob, DEVICE_TREE, "device tree blob")
    total = struct.unpack_from(">I", blob.head, 4)[0] if len(blob.head) >= 8 else None
    info.details = {"total_size": total}
    return info


def describe_unknown(blob: Blob) -> FirmwareInfo:
    role = "empty file" if blob.size == 0 else "not a file rpiboot knows"
    info = new_info(blob, UNKNOWN, role)
    if blob.sha256 is None:
        info.notes.append("not hashed: larger than the hashing limit")
    return info

"""Writing a planned image: boot sector, FSInfo, FATs, directories, then file data streamed.

The output is written in one forward pass (plus a final truncate that leaves the free space as
zeros), so memory stays at one FAT plus one directory plus a 1 MiB copy buffer.
"""

from __future__ import annotations

import os
import struct
import sys
import time
from array import array
from typing import BinaryIO

from rpiboot.bootimg.geometry import FatGeometry
from rpiboot.bootimg.layout import ImageOptions, ImagePlan, PlannedNode, clamp_fat_time, plan_image
from rpiboot.bootimg.names import lfn_entries, pack_short
from rpiboot.bootimg.tree import EntryFilter, SourceFile, scan_tree
from rpiboot.errors import InputError
from rpiboot.fsutil import atomic_output

ATTR_VOLUME = 0x08
ATTR_DIR = 0x10
ATTR_ARCHIVE = 0x20
# Our own x86 stub: `int 18h` (no bootable disk: BIOS tries the next device), `jmp $`.
BOOT_STUB = b"\xcd\x18\xeb\xfe"
OEM_NAME = b"mkfs.fat"
COPY_CHUNK = 1 << 20
EOC = {12: 0xFFF, 16: 0xFFFF, 32: 0x0FFFFFFF}


def fat_datetime(timestamp: float) -> tuple[int, int]:
    """(time, date) words of a UTC timestamp, 2-second resolution, clamped to 1980–2107."""
    tm = time.gmtime(clamp_fat_time(timestamp))
    fat_time = (tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec // 2)
    fat_date = ((tm.tm_year - 1980) << 9) | (tm.tm_mon << 5) | tm.tm_mday
    return fat_time, fat_date


def pack_dir_entry(short: bytes, attr: int, nt_flags: int, cluster: int, size: int,
                   timestamp: float) -> bytes:
    fat_time, fat_date = fat_datetime(timestamp)
    return struct.pack("<11sBBBHHHHHHHI", short, attr, nt_flags, 0, fat_time, fat_date,
                       fat_date, cluster >> 16, fat_time, fat_date, cluster & 0xFFFF, size)


def boot_sector(g: FatGeometry, label: str, volume_id: int) -> bytes:
    sector = bytearray(g.sector_size)
    total16 = g.total_sectors if g.total_sectors < 65536 else 0
    total32 = 0 if total16 else g.total_sectors
    struct.pack_into("<3s8sHBHBHHBHHHII", sector, 0,
                     b"\xeb\x58\x90" if g.fat_type == 32 else b"\xeb\x3c\x90", OEM_NAME,
                     g.sector_size, g.sectors_per_cluster, g.reserved_sectors, g.num_fats,
                     g.root_entries, total16, g.media,
                     0 if g.fat_type == 32 else g.fat_sectors,
                     g.sectors_per_track, g.heads, g.hidden_sectors, total32)
    label_field = (label or "NO NAME").ljust(11).encode("ascii")
    fs_type = f"FAT{g.fat_type}".ljust(8).encode("ascii")
    if g.fat_type == 32:
        struct.pack_into("<IHHIHH12x", sector, 36, g.fat_sectors, 0, 0, 2, 1, 6)
        ext_at = 64
    else:
        ext_at = 36
    struct.pack_into("<BBBI11s8s", sector, ext_at, g.drive_number, 0, 0x29, volume_id,
                     label_field, fs_type)
    code_at = ext_at + 26
    sector[code_at:code_at + len(BOOT_STUB)] = BOOT_STUB
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def fsinfo_sector(g: FatGeometry, free: int, next_free: int) -> bytes:
    sector = bytearray(g.sector_size)
    struct.pack_into("<I", sector, 0, 0x41615252)
    struct.pack_into("<IIII", sector, 484, 0x61417272, free, next_free, 0)
    struct.pack_into("<I", sector, 508, 0xAA550000)
    return bytes(sector)


def _little_endian_bytes(values: array[int]) -> bytes:
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def build_fat(plan: ImagePlan) -> bytes:
    """One FAT, as bytes of exactly ``fat_sectors`` sectors."""
    g = plan.geometry
    entries = array("I", bytes(4 * (g.clusters + 2)))
    eoc = EOC[g.fat_type]
    entries[0] = (eoc & ~0xFF) | g.media
    entries[1] = eoc
    for node in plan.walk():
        if node.is_dir and node.chain:
            for here, after in zip(node.chain, node.chain[1:], strict=False):
                entries[here] = after
            entries[node.chain[-1]] = eoc
        elif not node.is_dir and node.cluster_count:
            start, count = node.first_cluster, node.cluster_count
            entries[start:start + count - 1] = array("I", range(start + 1, start + count))
            entries[start + count - 1] = eoc
    if g.fat_type == 32 and len(plan.root.chain) == 1:
        entries[2] = 0x0FFFFFF8  # mkfs.fat's mark for the root cluster
    size = g.fat_sectors * g.sector_size
    if g.fat_type == 32:
        return _little_endian_bytes(entries).ljust(size, b"\x00")
    if g.fat_type == 16:
        return _little_endian_bytes(array("H", entries)).ljust(size, b"\x00")
    if len(entries) % 2:
        entries.append(0)
    out = bytearray(len(entries) * 3 // 2)
    for index in range(0, len(entries), 2):
        pair = entries[index] | (entries[index + 1] << 12)
        out[index * 3 // 2: index * 3 // 2 + 3] = pair.to_bytes(3, "little")
    return bytes(out[:size]).ljust(size, b"\x00")


def _entry_time(plan: ImagePlan, node: PlannedNode) -> float:
    return plan.timestamp if plan.timestamp is not None else node.source.mtime


def directory_bytes(plan: ImagePlan, node: PlannedNode, parent: PlannedNode | None) -> bytes:
    """All entries of directory ``node`` (label / dot entries, then children), unpadded."""
    out = bytearray()
    stamp = _entry_time(plan, node)
    if parent is None:
        if plan.label:
            out += pack_dir_entry(plan.label.ljust(11).encode("ascii"), ATTR_VOLUME, 0, 0, 0,
                                  stamp)
    else:
        parent_cluster = parent.first_cluster if parent is not plan.root else 0
        out += pack_dir_entry(pack_short(".", ""), ATTR_DIR, 0, node.first_cluster, 0, stamp)
        out += pack_dir_entry(pack_short("..", ""), ATTR_DIR, 0, parent_cluster, 0, stamp)
    for child in node.children:
        name = child.dir_name
        if name.long_name is not None:
            out += lfn_entries(name.long_name, name.short)
        if child.is_dir:
            out += pack_dir_entry(name.short, ATTR_DIR, name.nt_flags, child.first_cluster, 0,
                                  _entry_time(plan, child))
        else:
            assert isinstance(child.source, SourceFile)
            out += pack_dir_entry(name.short, ATTR_ARCHIVE, name.nt_flags, child.first_cluster,
                                  child.source.size, _entry_time(plan, child))
    return bytes(out)


def _copy_file(handle: BinaryIO, source: SourceFile, buffer: bytearray) -> None:
    view = memoryview(buffer)
    written = 0
    try:
        with open(source.path, "rb", buffering=0) as src:
            while True:
                count = src.readinto(buffer)
                if not count:
                    break
                written += count
                if written > source.size:
                    break
                handle.write(view[:count])
    except OSError as err:
        raise InputError(f"{source.path}: cannot read: {err.strerror}") from None
    if written != source.size:
        raise InputError(f"{source.path}: changed size while the image was built"
                         f" ({source.size} → {written} bytes)",
                         hint="do not modify the source folder during the build; run again")


def write_image(plan: ImagePlan, handle: BinaryIO) -> None:
    """Write the whole planned image to ``handle`` (a new, empty, seekable file)."""
    g = plan.geometry
    boot = boot_sector(g, plan.label, plan.volume_id)
    handle.write(boot)
    if g.fat_type == 32:
        last_used = plan.clusters_used + 1
        handle.write(fsinfo_sector(g, g.clusters - plan.clusters_used, last_used))
        handle.seek(6 * g.sector_size)
        handle.write(boot)
        handle.write(fsinfo_sector(g, g.clusters - 1, 2))  # backup keeps mkfs.fat's values
    handle.seek(g.fat_start * g.sector_size)
    fat = build_fat(plan)
    for _ in range(g.num_fats):
        handle.write(fat)
    del fat
    if g.fat_type != 32:
        handle.seek(g.root_start * g.sector_size)
        handle.write(directory_bytes(plan, plan.root, None))
    _write_data(plan, handle)
    handle.truncate(g.image_bytes)


def _write_data(plan: ImagePlan, handle: BinaryIO) -> None:
    """Directory clusters and file data, in cluster order."""
    g = plan.geometry
    cluster_size = g.cluster_size
    pieces: list[tuple[int, PlannedNode, PlannedNode | None]] = []
    stack: list[tuple[PlannedNode, PlannedNode | None]] = [(plan.root, None)]
    while stack:
        node, parent = stack.pop()
        if node.is_dir:
            if node.chain:
                pieces.append((node.chain[0], node, parent))
            stack.extend((child, node) for child in node.children)
        elif node.cluster_count:
            pieces.append((node.first_cluster, node, parent))
    pieces.sort(key=lambda piece: piece[0])
    buffer = bytearray(COPY_CHUNK)
    for first, node, parent in pieces:
        handle.seek(g.cluster_offset(first))
        if not node.is_dir:
            assert isinstance(node.source, SourceFile)
            _copy_file(handle, node.source, buffer)
            continue
        data = directory_bytes(plan, node, None if node is plan.root else parent)
        chain = node.chain
        for index, cluster in enumerate(chain):
            chunk = data[index * cluster_size:(index + 1) * cluster_size]
            if chunk:
                handle.seek(g.cluster_offset(cluster))
                handle.write(chunk)


def build_image(source_dir: str | os.PathLike[str], output: str | os.PathLike[str],
                options: ImageOptions, keep: EntryFilter | None = None) -> ImagePlan:
    """Scan, plan (failing before any output exists) and write ``output`` atomically."""
    tree = scan_tree(source_dir, keep)
    plan = plan_image(tree, options)
    with atomic_output(output) as handle:
        write_image(plan, handle)
    return plan
